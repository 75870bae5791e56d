"""Budget sweep: F1 against average tokens read for random, heuristic and compact.

    python benchmarks/compact_budget_sweep.py --tasks data_out/2wiki/val.jsonl \
        --checkpoint runs/compact_2wiki --out docs/figures/budget_sweep

writes ``<out>.png`` (the plot), ``<out>.md`` (the table) and ``<out>.json`` (all numbers, with
F1 95% bootstrap CIs and the paired compact - heuristic difference per budget).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tinker_explorer.data.schema import load_tasks
from tinker_explorer.env.explorer import EnvConfig
from tinker_explorer.eval.metrics import bootstrap_ci, paired_bootstrap
from tinker_explorer.eval.runner import run_episodes
from tinker_explorer.policies import get_policy

BUDGETS = (100, 200, 400, 800, 2000)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="data_out/2wiki/val.jsonl")
    ap.add_argument("--n-tasks", type=int, default=200)
    ap.add_argument("--checkpoint", default="runs/compact_2wiki", help="compact checkpoint file or run dir")
    ap.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    ap.add_argument("--policies", nargs="+", default=["random", "heuristic", "compact"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/figures/budget_sweep", help="output path without extension")
    args = ap.parse_args(argv)
    tasks = load_tasks(args.tasks, limit=args.n_tasks)
    rows, per_task = [], {}
    for name in args.policies:
        policy = get_policy(name, **({"checkpoint": args.checkpoint} if name == "compact" else {}))
        for b in args.budgets:
            t0 = time.perf_counter()
            trajs = run_episodes(policy, tasks, EnvConfig(budget=b), seed=args.seed, record_observations=False)
            f1 = [t.f1 for t in trajs]
            per_task[(name, b)] = f1
            rows.append({"policy": name, "budget": b, "f1": float(np.mean(f1)), "f1_ci": list(bootstrap_ci(f1)),
                         "em": float(np.mean([t.em for t in trajs])),
                         "answer_rate": float(np.mean([t.answer is not None for t in trajs])),
                         "avg_tokens_read": float(np.mean([t.tokens_read for t in trajs])),
                         "seconds": time.perf_counter() - t0})
            print(f"{name:10s} budget {b:5d}: F1 {rows[-1]['f1']:.3f}  tokens read {rows[-1]['avg_tokens_read']:.1f}",
                  file=sys.stderr)
    diffs = {}
    if {"compact", "heuristic"} <= set(args.policies):
        for b in args.budgets:
            diffs[b] = paired_bootstrap(per_task[("compact", b)], per_task[("heuristic", b)])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"tasks": args.tasks, "n_tasks": len(tasks), "rows": rows,
                                                    "compact_minus_heuristic": diffs,
                                                    "checkpoint": args.checkpoint}, indent=1) + "\n")
    md = [f"Budget sweep on {len(tasks)} tasks of `{args.tasks}` (compact: `{args.checkpoint}`).", "",
          "| policy | budget | F1 | F1 95% CI | EM | answered | avg tokens read |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['policy']} | {r['budget']} | {r['f1']:.3f} | [{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}] | "
                  f"{r['em']:.3f} | {100 * r['answer_rate']:.1f}% | {r['avg_tokens_read']:.1f} |")
    if diffs:
        md += ["", "| budget | compact - heuristic F1 | paired 95% CI | wins / losses / ties |", "|---|---|---|---|"]
        for b, d in diffs.items():
            md.append(f"| {b} | {d['diff']:+.3f} | [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] | "
                      f"{d['wins']} / {d['losses']} / {d['ties']} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in args.policies:
        rs = [r for r in rows if r["policy"] == name]
        x = [r["avg_tokens_read"] for r in rs]
        y = [r["f1"] for r in rs]
        err = np.array([[r["f1"] - r["f1_ci"][0] for r in rs], [r["f1_ci"][1] - r["f1"] for r in rs]])
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
        for r in rs:
            ax.annotate(str(r["budget"]), (r["avg_tokens_read"], r["f1"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7)
    ax.set_xlabel("average tokens read per task")
    ax.set_ylabel("token F1")
    ax.set_title(f"F1 vs reading cost (budgets {', '.join(map(str, args.budgets))})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print("\n".join(md))
    print(f"wrote {out.with_suffix('.png')}, {out.with_suffix('.md')}, {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
