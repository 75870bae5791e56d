"""Pool-size scaling: F1, tokens read and decision time per task as the evidence pool grows.

    tinker-explorer bench pool-scaling --pool 10=data_out/2wiki/val.jsonl \\
        --pool 20=data_out/2wiki_pool20/val.jsonl --pool 50=data_out/2wiki_pool50/val.jsonl \\
        --pool 100=data_out/2wiki_pool100/val.jsonl --checkpoint runs/compact_2wiki --repeats 3
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from tinker_explorer.bench import common
from tinker_explorer.errors import UserError

HELP = "F1 and policy decision time per task at pool sizes 10-100"
DESCRIPTION = """\
Each (pool size, policy) runs the same tasks with the same seed (budget 2000, as `tinker-explorer
eval`). "Decision time" is only the time spent inside the policy's act_batch calls
(time.perf_counter around each call, through a timing proxy): model loading and the environment's
own step time are excluded. With --repeats N the median over N runs is reported (the compact
policy's candidate cache is cleared before each run). For each policy the growth of time per task
with pool size is fitted as the least-squares slope of log(time) against log(pool size): 1 is
linear growth, <= 1 is no worse than linear. Build the larger pools with `tinker-explorer data
build --pool-size N`.

Writes <out>.md (command, table, slopes, machine), <out>.json (aggregates only, no task ids or
answers) and <out>.png (F1 and decision time against pool size)."""


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
    n = int(size) if size.strip().isdigit() else 0
    if not sep or n <= 0 or not path.strip():
        raise UserError(f"pool spec {spec!r}: expected SIZE=PATH with SIZE a positive integer")
    return n, path.strip()


def measure(pools: dict[int, list], policies: dict, budget: int = 2000, seed: int = 0, repeats: int = 1,
            progress: bool = True) -> list[dict]:
    from tinker_explorer.console import tqdm
    rows, bar = [], tqdm(total=len(pools) * len(policies) * repeats, desc="pool x policy x repeat",
                         disable=not progress)
    for size, tasks in pools.items():
        for name, policy in policies.items():
            secs, wall = [], []
            for _ in range(repeats):
                getattr(policy, "clear_cache", lambda: None)()  # compact caches candidates per state
                timed = TimedPolicy(policy)
                _, res = common.evaluate(timed, tasks, budget, seed, name)
                wall.append(res["seconds"])
                secs.append(timed.seconds)
                bar.update(1)
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
        ax.legend(fontsize=8)
    a.set_ylabel("token F1 (95% CI)")
    a.set_title("Answer quality vs pool size")
    b.set_yscale("log")
    b.set_ylabel("decision time per task (ms, log scale)")
    b.set_title("Policy decision time vs pool size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(rows: list[dict], slopes: dict, args, m: dict) -> str:
    md = [f"Command: `{args.command_line}`", "",
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
               f"torch threads {m['torch_threads']}, {m['platform']}, Python {m['python']}."]
    return "\n".join(md) + "\n"


def add_arguments(ap) -> None:
    ap.add_argument("--pool", action="append", required=True, metavar="SIZE=PATH",
                    help="task file per pool size (repeat)")
    ap.add_argument("--policies", nargs="+", default=["random", "heuristic", "compact"])
    ap.add_argument("--checkpoint", default="runs/compact_2wiki", help="compact checkpoint file or run directory")
    ap.add_argument("--repeats", type=int, default=1, help="timing runs per (pool, policy); the median is reported")
    common.add_run_options(ap, "pool_scaling")


def run(args) -> int:
    from tinker_explorer.data.schema import load_tasks
    if (args.limit is not None and args.limit <= 0) or args.repeats <= 0:
        raise UserError("--limit and --repeats must be positive")
    specs = dict(sorted(map(parse_pool_spec, args.pool)))
    if len(specs) < len(args.pool):
        raise UserError("a pool size is given twice")
    pools = {n: load_tasks(p, limit=args.limit) for n, p in specs.items()}
    if any(not ts for ts in pools.values()):
        raise UserError("a pool task file has no tasks")
    common.set_threads(args.threads)
    policies = {n: common.load_policy(n, args.checkpoint if n == "compact" else None)
                for n in dict.fromkeys(args.policies)}
    rows = measure(pools, policies, budget=args.budget, seed=args.seed, repeats=args.repeats, progress=not args.quiet)
    slopes = {n: loglog_slope(*zip(*[(r["pool_size"], r["decision_ms_per_task"]) for r in rows if r["policy"] == n]))
              for n in policies}
    m = common.machine()
    md = markdown(rows, slopes, args, m)
    paths = common.write(args.out, md, {
        "command": args.command_line, "budget": args.budget, "seed": args.seed, "limit": args.limit,
        "repeats": args.repeats, "checkpoint": args.checkpoint if "compact" in policies else None, "pools": specs,
        "machine": m, "loglog_slope": {n: (s if np.isfinite(s) else None) for n, s in slopes.items()}, "rows": rows})
    paths.append(paths[0].with_suffix(".png"))
    plot(rows, slopes, paths[-1])
    print(md, end="")
    print("wrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(sys.modules[__name__]))
