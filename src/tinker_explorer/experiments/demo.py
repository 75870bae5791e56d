"""`tinker-explorer demo`: the offline main job (no network, no API key, no GPU).

1. build synthetic tasks into OUT/data (or use a built task directory given with --data),
2. evaluate the random and heuristic baselines,
3. train the compact policy (warm start + a fixed number of GRPO steps, so the result does not depend
   on the machine's speed; --train-minutes is only a safety stop, reported when it fires) and evaluate it,
4. print the comparison table with paired CIs against the heuristic and where the records are.

A finished compact run in OUT/compact_run is reused only when its config hash (config, training
tasks' sha256, package source hash) equals this call's and it ended with a final checkpoint that no
safety stop cut short; any other run there is moved aside, never overwritten.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tinker_explorer.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("demo", help="the offline main job: build tasks, evaluate baselines, train + evaluate compact",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description=__doc__)
    p.add_argument("--data", default=None,
                   help="a built task directory (train.jsonl + val.jsonl); default: build synthetic tasks "
                        "into OUT/data")
    p.add_argument("--out", default="runs/demo", help="where eval JSONs, trajectories and the compact run go")
    p.add_argument("--n-train", type=int, default=500, help="synthetic train tasks")
    p.add_argument("--n-val", type=int, default=200, help="synthetic/val tasks evaluated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grpo-steps", type=int, default=80, help="GRPO steps of compact training (after its warm start)")
    p.add_argument("--train-minutes", type=float, default=30.0,
                   help="safety stop: end compact training (warm start included) after this many minutes; "
                        "the demo says so when it fires")
    p.add_argument("--skip-compact", action="store_true", help="baselines only")
    p.set_defaults(func=cmd_demo)


def _eval(name: str, policy, tasks, out: Path, seed: int) -> dict:
    from tinker_explorer.eval.runner import run_episodes, summarize
    t0 = time.perf_counter()
    trajs = run_episodes(policy, tasks, seed=seed, progress=True)
    res = summarize(trajs, policy=name, extra={"seconds": time.perf_counter() - t0})
    (out / f"eval_{name}.json").write_text(json.dumps(res, indent=1) + "\n")
    with open(out / f"trajectories_{name}.jsonl", "w") as f:
        for t in trajs:
            f.write(json.dumps(t.to_json(), ensure_ascii=False) + "\n")
    return res


def _reusable(run_dir: Path, want_hash: str) -> tuple[bool, str]:
    """(whether the compact run in ``run_dir`` is this call's finished run, why not)."""
    from tinker_explorer.records import final_checkpoint
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        return False, "no config.json"
    if json.loads(cfg_path.read_text()).get("config_hash") != want_hash:
        return False, "another config, other training tasks or other code"
    try:
        row = final_checkpoint(run_dir).row
    except UserError:
        return False, "unfinished"
    if row.get("stopped"):
        return False, f"cut short ({row['stopped']})"
    return True, ""


def cmd_demo(args) -> int:
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.eval.cli import compare, format_table
    from tinker_explorer.policies import get_policy

    t_start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.data:
        data = Path(args.data)
    else:  # the demo's own folder: a user's data_out/synthetic (train sft/grpo's default) is never touched
        from tinker_explorer.data.build import BuildConfig, build
        data = out / "data"
        print(f"[1/4] building synthetic tasks into {data}")
        build(BuildConfig(source="synthetic", out=str(data), n_train=args.n_train, n_val=args.n_val, seed=args.seed))
    train = load_tasks(data / "train.jsonl")
    val = load_tasks(data / "val.jsonl", limit=args.n_val)
    if not val:
        raise UserError(f"{data / 'val.jsonl'} holds no tasks")
    out.mkdir(parents=True, exist_ok=True)
    print(f"[2/4] evaluating baselines on {len(val)} tasks")
    results = [_eval("random", get_policy("random"), val, out, args.seed),
               _eval("heuristic", get_policy("heuristic"), val, out, args.seed)]
    if not args.skip_compact:
        if not train:
            raise UserError(f"{data / 'train.jsonl'} holds no tasks to train the compact policy on")
        from tinker_explorer.train.compact import CompactTrainConfig, config_hash, train_compact
        if args.grpo_steps < 0 or args.train_minutes <= 0:
            raise UserError("--grpo-steps must be >= 0 and --train-minutes positive")
        run_dir = out / "compact_run"
        cfg = CompactTrainConfig(seed=args.seed, steps=args.grpo_steps, grpo=args.grpo_steps > 0,
                                 time_limit_s=args.train_minutes * 60)
        reuse, why = _reusable(run_dir, config_hash(cfg, train))
        if reuse:
            print(f"[3/4] reused the finished compact run {run_dir} (same config, training tasks and code)")
        else:
            if run_dir.exists():  # kept, never overwritten
                aside = stem = run_dir.with_name(f"{run_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
                k = 1
                while aside.exists():  # two stale runs within one second
                    aside, k = stem.with_name(f"{stem.name}-{k}"), k + 1
                run_dir.rename(aside)
                print(f"      {run_dir} cannot be reused ({why}); moved to {aside}")
            print(f"[3/4] training the compact policy on {len(train)} tasks ({args.grpo_steps} GRPO steps after "
                  f"the warm start; safety stop at {args.train_minutes:g} min) into {run_dir}")
            train_compact(cfg, train, val[: min(50, len(val))], run_dir, resume=False, progress=True)
        policy = get_policy("compact", checkpoint=str(run_dir))
        print("[4/4] evaluating the compact policy")
        results.append(_eval("compact", policy, val, out, args.seed))
    print()
    print(format_table(results))
    heur = results[1]
    for r in results:
        if r is heur:
            continue
        c = compare(r, heur)
        print(f"{r['policy']} - heuristic, F1: {c['diff']:+.3f} (paired 95% CI [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}])")
    print(f"\nrecords: {out}/ (eval_*.json, trajectories_*.jsonl"
          + (", compact_run/)" if not args.skip_compact else ")")
          + f"; done in {time.perf_counter() - t_start:.0f} s")
    return 0
