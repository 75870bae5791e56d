"""Code changes to the compact policy, measured on the dev-like holdout of the training file.

    tinker-explorer bench devlike-holdout --name v2                      # train + evaluate this tree
    tinker-explorer bench devlike-holdout --name v2 --against runs/devlike/v1.json   # paired vs another
    tinker-explorer bench devlike-holdout --name v2 --oracle-state        # the answer scorer alone
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from pathlib import Path

from tinker_explorer.bench import common
from tinker_explorer.eval.cli import compare
from tinker_explorer.errors import UserError
from tinker_explorer.experiments.harness import HARNESS, slim_result, split_train, task_key

HELP = "a code variant of the compact policy on 2Wiki train records 1000+ (dev untouched)"
DESCRIPTION = """\
Trains the compact policy (default config, both stages, one seed) on 2Wiki train records 0-999 and
evaluates its warm start and its final checkpoint on records 1000-1348: the leaves harness's split
(official-dev questions like our dev split, never used to write the heuristic's rules; see
leaves/README.md), but for *code* variants, which the leaves (config variants) cannot express: check
out the code to compare, run this, compare the JSONs paired. Dev is never touched. About five minutes.

Writes runs/devlike/<name>/ (the run) and runs/devlike/<name>.json (per checkpoint, the eval summary
with hashed task ids); prints F1 with its CI, tokens and per-type numbers, and the paired differences
(`eval --compare`'s) against the heuristic and, with --against, against the same checkpoint of
another variant.

--oracle-state measures the answer scorer alone (a minute or two): it is fit as the warm start fits
it, on the oracle states of records 0-999, and answers at the final oracle state of each held-out
task (every gold paragraph opened); F1 there, no reading decisions. Its JSON
(runs/devlike/<name>.oracle.json) pairs with another --oracle-state JSON through --against. With
--measure-on TASKS it is fit on every record of --tasks and measured on TASKS instead: for recording,
after a variant was chosen here, how its reader does on dev (never to choose one).

--train-n N fits on a random N of the training records (drawn with --seed) instead of all of them,
held-out part unchanged: one point of a learning curve (how F1 grows with training tasks)."""


def add_arguments(ap) -> None:
    ap.add_argument("--name", required=True, help="name of this variant (run dir and JSON under --out)")
    ap.add_argument("--tasks", default=HARNESS.train_tasks, help="the built 2Wiki training tasks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/devlike")
    ap.add_argument("--against", help="a JSON this benchmark wrote for another variant: paired differences")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=JSON",
                    help="override a CompactTrainConfig field, e.g. --set steps=240 --set 'budget_mix=[]'")
    ap.add_argument("--holdout-from", type=int, default=HARNESS.holdout_from,
                    help="records before this index train, the rest are held out (default: the harness's)")
    ap.add_argument("--oracle-state", action="store_true",
                    help="fit and measure the answer scorer alone, at the oracle's final states (see above)")
    ap.add_argument("--train-n", type=int, metavar="N",
                    help="fit on a random N of the training records (drawn with --seed): a learning-curve point")
    ap.add_argument("--measure-on", metavar="TASKS",
                    help="with --oracle-state: fit on all of --tasks, measure on these tasks (e.g. dev; see above)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")


def override(cfg, sets: list[str]):
    """``cfg`` with ``FIELD=JSON`` overrides (seed and reward are not overridable)."""
    fields = {f.name for f in dataclasses.fields(cfg)} - {"reward", "seed"}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise UserError(f"--set {item!r}: expected FIELD=JSON with FIELD one of {', '.join(sorted(fields))}")
        try:
            v = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"--set {item!r}: {value!r} is not JSON (strings need quotes)") from None
        cfg = dataclasses.replace(cfg, **{key: tuple(v) if isinstance(v, list) else v})
    return cfg


def is_oracle_result(d: dict) -> bool:
    """Whether a JSON this benchmark wrote is an ``--oracle-state`` result (what such results pair with)."""
    return bool(d.get("oracle_state")) and isinstance(d.get("per_task"), list)


def inputs(args) -> tuple[list, list, dict | None]:
    """(training tasks, held-out tasks, the --against result), checked."""
    from tinker_explorer.data.schema import load_tasks
    if args.measure_on and not args.oracle_state:
        raise UserError("--measure-on goes with --oracle-state (the whole policy's dev numbers come from "
                        "`tinker-explorer train grpo` and `eval`)")
    if args.measure_on:
        train, held = load_tasks(args.tasks), load_tasks(args.measure_on)
    else:
        train, held = split_train(load_tasks(args.tasks), dataclasses.replace(
            HARNESS, train_tasks=args.tasks, holdout_from=args.holdout_from))
    if args.train_n is not None:
        if not 0 < args.train_n <= len(train):
            raise UserError(f"--train-n {args.train_n}: the training part has {len(train)} records")
        keep = sorted(random.Random(args.seed).sample(range(len(train)), args.train_n))
        train = [train[i] for i in keep]  # source order kept
    try:
        other = json.loads(Path(args.against).read_text()) if args.against else None
    except (OSError, ValueError) as e:
        raise UserError(f"--against {args.against}: {e}") from None
    if other is not None and args.oracle_state and not is_oracle_result(other):
        raise UserError(f"--against {args.against}: not an --oracle-state result of this benchmark")
    if other is not None and not args.oracle_state and not all(
            isinstance(c, dict) and isinstance(c.get("per_task"), list)
            for c in other.get("checkpoints", {None: None}).values()):
        raise UserError(f"--against {args.against}: not this benchmark's current format (per-checkpoint "
                        "slim results); run that variant again to regenerate it")
    return train, held, other


def run(args) -> int:
    from tinker_explorer.policies.compact.config import CompactTrainConfig
    train, held, other = inputs(args)
    cfg = dataclasses.replace(override(CompactTrainConfig(), args.set), seed=args.seed)
    if args.oracle_state:
        return oracle_state(args, cfg, train, held, other)
    return train_and_evaluate(args, cfg, train, held, other)


def train_and_evaluate(args, cfg, train: list, held: list, other: dict | None) -> int:
    from tinker_explorer.train.compact import train_compact
    run_dir = Path(args.out) / args.name
    t0 = time.perf_counter()
    train_compact(cfg, train, None, run_dir, progress=not args.quiet)
    out = {"name": args.name, "set": args.set, "seed": args.seed, "train_seconds": round(time.perf_counter() - t0, 1),
           "n_train": len(train), "n_holdout": len(held), "checkpoints": {}}
    policies = {"heuristic": common.load_policy("heuristic")}
    policies.update({ck: common.load_policy("compact", str(run_dir / ck)) for ck in ("warm.pt", "final.pt")})
    for label, pol in policies.items():
        s = out["checkpoints"][label] = slim_result(common.evaluate(pol, held, HARNESS.budget, 0, label)[1])
        s.pop("seconds")
        s["per_task"].sort(key=lambda r: r["task_id"])  # pairs resample in hashed-id order (as program.md's runs)
        per_type = {k: [round(v["f1"], 3), round(v["avg_tokens_read"])] for k, v in s["per_type"].items()}
        print(f"{args.name} {label}: F1 {s['f1']:.3f} [{s['f1_ci'][0]:.3f}, {s['f1_ci'][1]:.3f}] "
              f"tokens {s['avg_tokens_read']:.0f}  per type (F1, tokens): {per_type}")
    print(f"trained in {out['train_seconds']:.0f} s")
    path = Path(args.out) / f"{args.name}.json"  # written before the comparisons: nothing is lost if they fail
    path.write_text(json.dumps(out) + "\n")
    print(f"wrote {path}")
    for label in ("warm.pt", "final.pt"):
        refs = [("heuristic", out["checkpoints"]["heuristic"])]
        if other:
            refs.append((f"{other['name']} {label}", other["checkpoints"][label]))
        for ref_name, ref in refs:
            for metric, name in (("f1", "f1"), ("tokens_read", "tokens")):
                r = compare(out["checkpoints"][label], ref, metric)
                print(f"  {args.name} {label} - {ref_name}: {name} {common.fmt_ci(r)}")
    return 0


def oracle_rows(policy, held: list, cfg) -> list[dict]:
    """Per held-out task: the answer scorer's F1 and EM at the oracle's final state (hashed ids)."""
    from tinker_explorer.data.answers import best_em
    from tinker_explorer.env.explorer import gold_answers
    from tinker_explorer.policies.compact.model import best_answer
    from tinker_explorer.train.oracle import oracle_states
    final = {s.task_idx: s for s in oracle_states(policy, held, cfg.budget, cfg.max_steps)}  # each task's last state
    rows = []
    for ti, s in sorted(final.items()):
        cands = policy.candidates(s.obs)
        k = best_answer(cands.texts, policy.answer_scores([cands])[0])
        rows.append({"task_id": task_key(held[ti].id), "type": held[ti].type, "f1": float(s.cand_f1[k]),
                     "em": best_em(cands.texts[k], gold_answers(held[ti])), "tokens_read": 0})
        ev = held[ti].meta.get("evidences") or []
        if held[ti].type in ("compositional", "inference") and ev:
            rows[-1]["relation"] = ev[-1][1]  # the asked (last-hop) relation, for the breakdown
    return sorted(rows, key=lambda r: r["task_id"])


def oracle_state(args, cfg, train: list, held: list, other: dict | None) -> int:
    """The answer scorer alone: fit on the training part's oracle states, answer at the held-out
    tasks' final oracle states."""
    from tinker_explorer.eval.aggregate import TaskResult, aggregate
    from tinker_explorer.policies.compact.features import build_ctxvocab, build_lexicon, build_qvocab
    from tinker_explorer.policies.compact.model import new_policy
    from tinker_explorer.policies.compact.warm import fit_answer_scorers
    from tinker_explorer.train.oracle import oracle_states
    t0, progress = time.perf_counter(), not args.quiet
    policy = new_policy(build_lexicon(train), build_qvocab(train), build_ctxvocab(train), cfg.hidden, cfg.seed,
                        use_heuristic=cfg.heuristic_features, parser=cfg.parser)
    fit_answer_scorers(policy, train, oracle_states(policy, train, cfg.budget, cfg.max_steps, progress), cfg,
                       progress)
    rows = oracle_rows(policy, held, cfg)
    results = [TaskResult.from_row(r) for r in rows]
    overall = aggregate(results, ci=("f1",))
    per_type = {t: round(aggregate([r for r in results if r.type == t], ci=False)["f1"], 3)
                for t in sorted({r.type for r in results})}
    lost: dict[str, list[float]] = {}
    for r in rows:
        if "relation" in r:
            lost.setdefault(r["relation"], []).append(1 - r["f1"])
    # where the F1 is lost, by asked relation (compositional and inference questions): n, F1, F1 lost
    per_relation = {rel: [len(v), round(1 - sum(v) / len(v), 3), round(sum(v), 1)]
                    for rel, v in sorted(lost.items(), key=lambda kv: (-sum(kv[1]), kv[0]))}
    out = {"name": args.name, "set": args.set, "seed": args.seed, "n_train": len(train), "oracle_state": True,
           "f1": overall["f1"], "f1_ci": overall["f1_ci"], "per_type": per_type,
           "per_relation": per_relation, "per_task": rows, "seconds": round(time.perf_counter() - t0, 1)}
    print(f"{args.name} answer scorer at the oracle's final state: F1 {out['f1']:.3f} "
          f"[{out['f1_ci'][0]:.3f}, {out['f1_ci'][1]:.3f}] on {len(rows)} tasks (fit on {len(train)}); "
          f"per type {per_type} ({out['seconds']:.0f} s)")
    print("  by asked relation (compositional + inference): [tasks, F1, F1 lost] " + json.dumps(per_relation))
    path = Path(args.out) / f"{args.name}.oracle.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out) + "\n")
    print(f"wrote {path}")
    if other is not None:
        r = compare(out, other)
        print(f"  {args.name} - {other['name']}: f1 {common.fmt_ci(r)} (wins {r['wins']}, losses {r['losses']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(sys.modules[__name__]))
