"""Acceptance numbers for the compact policy: heuristic vs compact (GRPO) vs compact (warm start
only), paired 95% bootstrap CIs of F1 and tokens read, at one budget.

    python benchmarks/compact_acceptance.py --tasks data_out/2wiki/val.jsonl --run runs/compact_2wiki \
        --out docs/figures/compact_acceptance.md

Writes a markdown table with aggregate numbers only (no per-task answers).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tinker_explorer.data.schema import load_tasks
from tinker_explorer.env.explorer import EnvConfig
from tinker_explorer.eval.metrics import paired_bootstrap
from tinker_explorer.eval.runner import run_episodes, summarize
from tinker_explorer.policies import get_policy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="data_out/2wiki/val.jsonl")
    ap.add_argument("--n-tasks", type=int, default=200)
    ap.add_argument("--run", default="runs/compact_2wiki", help="compact run directory (warm.pt + final checkpoint)")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/figures/compact_acceptance.md")
    args = ap.parse_args(argv)
    tasks = load_tasks(args.tasks, limit=args.n_tasks)
    run = Path(args.run)
    entries = [("heuristic", get_policy("heuristic")),
               ("compact (GRPO, final)", get_policy("compact", checkpoint=str(run))),
               ("compact (warm start only)", get_policy("compact", checkpoint=str(run / "warm.pt")))]
    res = {}
    for name, pol in entries:
        t0 = time.perf_counter()
        trajs = run_episodes(pol, tasks, EnvConfig(budget=args.budget), seed=args.seed, record_observations=False)
        res[name] = summarize(trajs, policy=name, extra={"seconds": time.perf_counter() - t0})
    md = [f"Compact acceptance on {len(tasks)} tasks of `{args.tasks}`, budget {args.budget}, run `{args.run}`.", "",
          "| policy | F1 | F1 95% CI | EM | answered | opens | avg tokens read | seconds |", "|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        md.append(f"| {name} | {r['f1']:.3f} | [{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}] | {r['em']:.3f} | "
                  f"{100 * r['answer_rate']:.1f}% | {r['avg_opens']:.2f} | {r['avg_tokens_read']:.1f} | "
                  f"{r['seconds']:.1f} |")
    md += ["", "| comparison (A - B) | metric | diff | paired 95% CI | wins / losses / ties |", "|---|---|---|---|---|"]
    names = list(res)
    for a, b in ((names[1], names[0]), (names[1], names[2]), (names[2], names[0])):
        for metric in ("f1", "em", "tokens_read"):
            d = paired_bootstrap([r[metric] for r in res[a]["per_task"]], [r[metric] for r in res[b]["per_task"]])
            md.append(f"| {a} - {b} | {metric} | {d['diff']:+.3f} | [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] | "
                      f"{d['wins']} / {d['losses']} / {d['ties']} |")
    md += ["", "Per type (F1 / avg tokens read):", "", "| type | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    for ty in sorted(res[names[0]]["per_type"]):
        cells = [f"{res[n]['per_type'][ty]['f1']:.3f} / {res[n]['per_type'][ty]['avg_tokens_read']:.0f}" for n in names]
        md.append(f"| {ty} (n={res[names[0]]['per_type'][ty]['n_tasks']}) | " + " | ".join(cells) + " |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
