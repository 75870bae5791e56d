"""Cross-dataset table: several policies on several task files (2Wiki, HotpotQA, MuSiQue, ...).

    tinker-explorer bench cross-dataset \\
        --data 2wiki=data_out/2wiki/val.jsonl --data hotpotqa=data_out/hotpotqa/val.jsonl \\
        --data musique=data_out/musique/val.jsonl --policy random --policy heuristic \\
        --policy "compact (2wiki)=compact:runs/compact_2wiki" --policy "compact (own)=compact:runs/compact_{data}"
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinker_explorer.bench import common
from tinker_explorer.eval.cli import compare
from tinker_explorer.errors import UserError

HELP = "several policies on several task files, paired against the heuristic"
DESCRIPTION = """\
For every (dataset, policy) pair it runs the episodes (budget 2000, max 10 steps, F1 reward, seed 0:
the defaults of `tinker-explorer eval`) and reports token F1 with its 95% bootstrap CI, EM, answer
rate and average tokens read, plus, per dataset, the paired bootstrap CI of each policy's F1 minus
the heuristic's, task by task. A policy spec is LABEL=NAME[:CHECKPOINT] or NAME[:CHECKPOINT];
{data} in a checkpoint becomes the dataset name ("trained on that dataset" in one spec).
A data spec is NAME=PATH (or a PATH, named after its folder).

Writes <out>.md (the command and the table) and <out>.json (aggregates only: never task ids,
questions or answers, so both files can be committed)."""

NEEDS_CHECKPOINT = {"compact"}
TAKES_CHECKPOINT = {"compact", "llm"}


@dataclass(frozen=True)
class PolicySpec:
    label: str
    name: str
    checkpoint: str | None = None

    def checkpoint_for(self, dataset: str) -> str | None:
        return None if self.checkpoint is None else self.checkpoint.replace("{data}", dataset)


def parse_policy_spec(spec: str) -> PolicySpec:
    """``LABEL=NAME[:CHECKPOINT]`` or ``NAME[:CHECKPOINT]`` -> PolicySpec (UserError if malformed)."""
    from tinker_explorer.policies.registry import POLICY_NAMES
    label, sep, rest = spec.partition("=")
    if not sep:
        label, rest = "", spec
    name, sep, checkpoint = rest.strip().partition(":")
    name, checkpoint, label = name.strip(), checkpoint.strip() or None, label.strip()
    if sep and checkpoint is None:
        raise UserError(f"policy spec {spec!r}: empty checkpoint after ':'")
    if name not in POLICY_NAMES:
        raise UserError(f"policy spec {spec!r}: unknown policy {name!r} (expected LABEL=NAME[:CHECKPOINT] "
                        f"with NAME one of {', '.join(POLICY_NAMES)})")
    if name in NEEDS_CHECKPOINT and checkpoint is None:
        raise UserError(f"policy spec {spec!r}: {name} needs a checkpoint, e.g. '{name}:runs/compact_2wiki'")
    if checkpoint is not None and name not in TAKES_CHECKPOINT:
        raise UserError(f"policy spec {spec!r}: {name} takes no checkpoint")
    return PolicySpec(label or (f"{name} ({checkpoint})" if checkpoint else name), name, checkpoint)


def parse_data_spec(spec: str) -> tuple[str, str]:
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = Path(spec).parent.name or Path(spec).stem, spec
    if not name.strip() or not path.strip():
        raise UserError(f"data spec {spec!r}: expected NAME=PATH")
    return name.strip(), path.strip()


def evaluate(datasets: dict[str, list], specs: list[PolicySpec], budget: int = 2000, seed: int = 0,
             progress: bool = True) -> list[dict]:
    """One aggregate row per (dataset, policy), in dataset order; F1 paired against the heuristic."""
    from tinker_explorer.console import tqdm
    for d in datasets:  # fail on a missing checkpoint before any (slow) episode runs
        for s in specs:
            cp = s.checkpoint_for(d)
            if cp is not None and not Path(cp).exists():
                raise UserError(f"policy {s.label!r} on {d}: no such checkpoint {cp}")
    cache: dict = {}
    rows, bar = [], tqdm(total=len(datasets) * len(specs), desc="dataset x policy", disable=not progress)
    base = next((s.label for s in specs if s.name == "heuristic"), None)
    for d, tasks in datasets.items():
        results = {}
        for s in specs:
            bar.set_postfix_str(f"{d} / {s.label}")
            key = (s.name, s.checkpoint_for(d))
            if key not in cache:
                cache[key] = common.load_policy(*key)
            _, res = common.evaluate(cache[key], tasks, budget, seed, s.label)
            results[s.label] = res
            rows.append({"dataset": d, "policy": s.label, "name": s.name, "checkpoint": key[1],
                         "avg_chunks": float(np.mean([len(t.chunks) for t in tasks])),
                         **{k: v for k, v in res.items() if k not in ("per_task", "seconds")}})
            bar.update(1)
        for r in rows:
            if r["dataset"] == d and base is not None and r["policy"] != base:
                r["f1_vs_heuristic"] = compare(results[r["policy"]], results[base])
    bar.close()
    return rows


def markdown(rows: list[dict], command: str) -> str:
    labels = list(dict.fromkeys(r["policy"] for r in rows))
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    at = {(r["dataset"], r["policy"]): r for r in rows}
    out = [f"Command: `{command}`", "", "Token F1 at a glance (budget 2000; full table below):", "",
           "| policy | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    out += [f"| {p} | " + " | ".join(f"{at[(d, p)]['f1']:.3f}" for d in names) + " |" for p in labels]
    out += ["", "| dataset | policy | tasks | F1 [95% CI] | EM | answered | avg tokens read | "
                "F1 - heuristic [paired 95% CI] |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r.get("f1_vs_heuristic")
        out.append(f"| {r['dataset']} | {r['policy']} | {r['n_tasks']} | {r['f1']:.3f} [{r['f1_ci'][0]:.3f}, "
                   f"{r['f1_ci'][1]:.3f}] | {r['em']:.3f} | {100 * r['answer_rate']:.1f}% | "
                   f"{r['avg_tokens_read']:.1f} | {common.fmt_ci(c) if c else '-'} |")
    return "\n".join(out) + "\n"


def add_arguments(ap) -> None:
    ap.add_argument("--data", action="append", required=True, metavar="NAME=PATH", help="task file (repeat)")
    ap.add_argument("--policy", action="append", required=True, metavar="[LABEL=]NAME[:CHECKPOINT]",
                    help="policy to evaluate (repeat); {data} in CHECKPOINT becomes the dataset name")
    common.add_run_options(ap, "cross_dataset")


def run(args) -> int:
    from tinker_explorer.data.schema import load_tasks
    if args.limit is not None and args.limit <= 0:
        raise UserError("--limit must be positive")
    specs = [parse_policy_spec(s) for s in args.policy]
    if len({s.label for s in specs}) < len(specs):
        raise UserError("two --policy specs share a label; give each one LABEL=")
    datasets, files = {}, {}
    for name, path in map(parse_data_spec, args.data):
        if name in datasets:
            raise UserError(f"dataset name {name!r} given twice")
        datasets[name], files[name] = load_tasks(path, limit=args.limit), path
        if not datasets[name]:
            raise UserError(f"{path}: no tasks")
    common.set_threads(args.threads)
    rows = evaluate(datasets, specs, budget=args.budget, seed=args.seed, progress=not args.quiet)
    md = markdown(rows, args.command_line)
    paths = common.write(args.out, md, {
        "command": args.command_line, "budget": args.budget, "seed": args.seed, "limit": args.limit,
        "datasets": {d: {"file": files[d], "n_tasks": len(ts)} for d, ts in datasets.items()}, "rows": rows})
    print(md, end="")
    print("wrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(sys.modules[__name__]))
