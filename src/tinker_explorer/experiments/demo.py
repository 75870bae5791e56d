"""`tinker-explorer demo`: the offline main job (no network, no API key, no GPU).

1. build synthetic tasks (or use a built task directory given with --data),
2. evaluate the random and heuristic baselines,
3. train the compact policy briefly (warm start + GRPO) and evaluate it,
4. print the comparison table with paired CIs against the heuristic and where the records are.
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
                   help="a built task directory (train.jsonl + val.jsonl); default: build synthetic tasks")
    p.add_argument("--out", default="runs/demo", help="where eval JSONs, trajectories and the compact run go")
    p.add_argument("--n-train", type=int, default=500, help="synthetic train tasks")
    p.add_argument("--n-val", type=int, default=200, help="synthetic/val tasks evaluated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-minutes", type=float, default=2.0, help="time limit for the GRPO stage of compact training")
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


def _reusable(run_dir: Path, cfg):
    """The policy of a finished compact run that this code can load and that has the features ``cfg``
    asks for (re-running the demo then skips training), or None."""
    from tinker_explorer.policies import get_policy
    if not (run_dir / "checkpoints.jsonl").exists():
        return None
    try:
        policy = get_policy("compact", checkpoint=str(run_dir))
    except UserError:
        return None
    same = (policy.parser == cfg.parser and policy.use_heuristic == cfg.heuristic_features
            and (policy.rerank is not None) == cfg.second_stage)
    return policy if same else None


def cmd_demo(args) -> int:
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.eval.cli import compare, format_table
    from tinker_explorer.policies import get_policy

    t_start = time.perf_counter()
    out = Path(args.out)
    if args.data:
        data = Path(args.data)
    else:
        from tinker_explorer.data.build import BuildConfig, build
        data = Path("data_out/synthetic")
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
        from tinker_explorer.policies.compact.train import CompactTrainConfig, train_compact
        run_dir = out / "compact_run"
        print(f"[3/4] training the compact policy on {len(train)} tasks (<= {args.train_minutes:g} min) into {run_dir}")
        cfg = CompactTrainConfig(seed=args.seed, time_limit_s=args.train_minutes * 60)
        policy = _reusable(run_dir, cfg)
        if policy is None:
            if run_dir.exists():  # another code version's or an interrupted run: kept, not overwritten
                aside = stem = run_dir.with_name(f"{run_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
                k = 1
                while aside.exists():  # two stale runs within one second
                    aside, k = stem.with_name(f"{stem.name}-{k}"), k + 1
                run_dir.rename(aside)
                print(f"      {run_dir} cannot be reused (other features or unfinished); moved to {aside}")
            ckpt = train_compact(cfg, train, val[: min(50, len(val))], run_dir, resume=False, progress=True)
            policy = get_policy("compact", checkpoint=str(ckpt))
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
