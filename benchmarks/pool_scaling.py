"""Pool-size scaling: F1, tokens read and decision time per task as the evidence pool grows.

    python benchmarks/pool_scaling.py --pool 10=data_out/2wiki/val.jsonl \
        --pool 20=data_out/2wiki_pool20/val.jsonl --pool 50=data_out/2wiki_pool50/val.jsonl \
        --pool 100=data_out/2wiki_pool100/val.jsonl --checkpoint runs/compact_2wiki \
        --repeats 3 --out docs/figures/pool_scaling

Each (pool size, policy) runs the same tasks with the same seed (budget 2000, as `tinker-explorer
eval`). "Decision time" is only the time spent inside the policy's ``act_batch`` calls
(time.perf_counter around each call, through a timing proxy): model loading and the
environment's own step time are excluded. With --repeats N the median over N runs is reported
(the compact policy's candidate cache is cleared before each run). For each policy the growth
of time per task with pool size is fitted as the least-squares slope of log(time) against
log(pool size): 1 is linear growth, <= 1 is no worse than linear.

Writes ``<out>.md`` (command, table, slopes, machine), ``<out>.json`` (aggregates only, no task
ids or answers) and ``<out>.png`` (F1 and decision time against pool size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from tinker_explorer.errors import UserError


class TimedPolicy:
    """Forwards ``act_batch`` to a policy and accumulates the seconds spent inside it."""

    def __init__(self, policy):
        self.policy, self.seconds, self.calls = policy, 0.0, 0
        self.name = getattr(policy, "name", "policy")

    def act_batch(self, observations, rngs):
        t0 = time.perf_counter()
        try:
            return self.policy.act_batch(observations, rngs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def loglog_slope(sizes, times) -> float:
    """Least-squares slope of log(time) vs log(size); nan with fewer than 2 usable points."""
    pts = [(s, t) for s, t in zip(sizes, times) if s > 0 and t > 0]
    if len({s for s, _ in pts}) < 2:
        return float("nan")
    x, y = np.log([s for s, _ in pts]), np.log([t for _, t in pts])
    return float(np.polyfit(x, y, 1)[0])


def parse_pool_spec(spec: str) -> tuple[int, str]:
    size, sep, path = spec.partition("=")
    try:
        n = int(size)
    except ValueError:
        n = 0
    if not sep or n <= 0 or not path.strip():
        raise UserError(f"pool spec {spec!r}: expected SIZE=PATH with SIZE a positive integer")
    return n, path.strip()


def machine() -> dict:
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    model = ""
    if Path("/proc/cpuinfo").is_file():
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), "")
    return {"processor": platform.processor() or platform.machine(), "cpu_model": model,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "python": platform.python_version()}


def run(pools: dict[int, list], policies: dict, budget: int = 2000, seed: int = 0, repeats: int = 1,
        progress: bool = True) -> list[dict]:
    from tinker_explorer.console import tqdm

    from tinker_explorer.env.explorer import EnvConfig
    from tinker_explorer.eval.runner import run_episodes, summarize
    rows, bar = [], tqdm(total=len(pools) * len(policies) * repeats, desc="pool x policy x repeat",
                         disable=not progress)
    for size, tasks in pools.items():
        for name, policy in policies.items():
            secs, wall = [], []
            for _ in range(repeats):
                getattr(policy, "clear_cache", lambda: None)()  # compact caches candidates per state
                timed, t0 = TimedPolicy(policy), time.perf_counter()
                trajs = run_episodes(timed, tasks, EnvConfig(budget=budget), seed=seed, record_observations=False)
                wall.append(time.perf_counter() - t0)
                secs.append(timed.seconds)
                bar.update(1)
            res = summarize(trajs, policy=name)
            ms = 1000 * statistics.median(secs) / len(tasks)
            rows.append({"pool_size": size, "policy": name, "n_tasks": len(tasks),
                         "avg_chunks": float(np.mean([len(t.chunks) for t in tasks])),
                         **{k: res[k] for k in ("f1", "f1_ci", "em", "answer_rate", "avg_opens", "avg_tokens_read")},
                         "decision_ms_per_task": ms, "decision_ms_per_task_per_chunk": ms / size,
                         "decision_ms_per_task_runs": [1000 * s / len(tasks) for s in secs],
                         "episode_wall_ms_per_task": 1000 * statistics.median(wall) / len(tasks)})
    bar.close()
    return rows


def plot(rows: list[dict], slopes: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = sorted({r["pool_size"] for r in rows})
    for k, name in enumerate(slopes):
        rs = sorted((r for r in rows if r["policy"] == name), key=lambda r: r["pool_size"])
        x = [r["pool_size"] for r in rs]
        dodge = 1 + 0.04 * (k - (len(slopes) - 1) / 2)  # keep overlapping error bars apart
        err = np.array([[r["f1"] - r["f1_ci"][0] for r in rs], [r["f1_ci"][1] - r["f1"] for r in rs]])
        a.errorbar([v * dodge for v in x], [r["f1"] for r in rs], yerr=err, marker="o", capsize=3, label=name)
        b.plot(x, [r["decision_ms_per_task"] for r in rs], marker="o", label=f"{name} (slope {slopes[name]:.2f})")
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("pool size (chunks per question)")
        ax.grid(alpha=0.3)
    a.set_ylabel("token F1 (95% CI)")
    a.set_title("Answer quality vs pool size")
    b.set_yscale("log")
    b.set_ylabel("decision time per task (ms, log scale)")
    b.set_title("Policy decision time vs pool size")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", action="append", required=True, metavar="SIZE=PATH",
                    help="task file per pool size (repeat)")
    ap.add_argument("--policies", nargs="+", default=["random", "heuristic", "compact"])
    ap.add_argument("--checkpoint", default="runs/compact_2wiki", help="compact checkpoint file or run directory")
    ap.add_argument("--limit", type=int, default=None, help="first N tasks of each file (default: all)")
    ap.add_argument("--repeats", type=int, default=1, help="timing runs per (pool, policy); the median is reported")
    ap.add_argument("--budget", type=int, default=2000, help="reading budget in tokens (default 2000)")
    ap.add_argument("--seed", type=int, default=0, help="episode seed, the same everywhere (default 0)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", default="docs/figures/pool_scaling", help="output path without extension")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        from tinker_explorer.data.schema import load_tasks
        from tinker_explorer.policies import get_policy
        if (args.limit is not None and args.limit <= 0) or args.repeats <= 0:
            raise UserError("--limit and --repeats must be positive")
        specs = dict(sorted(map(parse_pool_spec, args.pool)))
        if len(specs) < len(args.pool):
            raise UserError("a pool size is given twice")
        pools = {n: load_tasks(p, limit=args.limit) for n, p in specs.items()}
        if any(not ts for ts in pools.values()):
            raise UserError("a pool task file has no tasks")
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            pass
        policies = {n: get_policy(n, **({"checkpoint": args.checkpoint} if n == "compact" else {}))
                    for n in dict.fromkeys(args.policies)}
        rows = run(pools, policies, budget=args.budget, seed=args.seed, repeats=args.repeats, progress=not args.quiet)
    except UserError as e:
        print(f"pool_scaling.py: error: {e}", file=sys.stderr)
        return 2
    slopes = {n: loglog_slope(*zip(*[(r["pool_size"], r["decision_ms_per_task"]) for r in rows if r["policy"] == n]))
              for n in policies}
    command = "python benchmarks/pool_scaling.py " + shlex.join(argv)
    m = machine()
    md = [f"Command: `{command}`", "",
          f"Budget {args.budget}, seed {args.seed}, median of {args.repeats} timing run(s); decision time = "
          "time inside the policy's act_batch calls only.", "",
          "| pool size | avg chunks | policy | tasks | F1 [95% CI] | avg tokens read | decision ms / task | "
          "ms / task / pool size |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['pool_size']} | {r['avg_chunks']:.1f} | {r['policy']} | {r['n_tasks']} | {r['f1']:.3f} "
                  f"[{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}] | {r['avg_tokens_read']:.1f} | "
                  f"{r['decision_ms_per_task']:.3f} | {r['decision_ms_per_task_per_chunk']:.4f} |")
    md += ["", "Growth of decision time per task, slope of log(time) vs log(pool size) (least squares):", ""]
    md += [f"- {n}: {s:.2f} ({'<= 1: no worse than linear' if s <= 1 else '> 1: worse than linear'})"
           if np.isfinite(s) else f"- {n}: n/a (needs two pool sizes)" for n, s in slopes.items()]
    md += ["", f"Machine: processor `{m['processor']}` ({m['cpu_model'] or 'model unknown'}), {m['cpu_count']} CPUs, "
               f"torch threads {m['torch_threads']}, "
               f"{m['platform']}, Python {m['python']}."]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    out.with_suffix(".json").write_text(json.dumps(
        {"command": command, "budget": args.budget, "seed": args.seed, "limit": args.limit, "repeats": args.repeats,
         "checkpoint": args.checkpoint if "compact" in policies else None, "pools": specs, "machine": m,
         "loglog_slope": {n: (s if np.isfinite(s) else None) for n, s in slopes.items()}, "rows": rows},
        indent=1) + "\n")
    plot(rows, slopes, out.with_suffix(".png"))
    print("\n".join(md))
    print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.json')}, {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
