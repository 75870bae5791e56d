"""Budget sweep: F1 against average tokens read for random, heuristic and compact.

    tinker-explorer bench budget-sweep --tasks data_out/2wiki/val.jsonl --checkpoint runs/compact_2wiki
"""

from __future__ import annotations

import sys

import numpy as np

from tinker_explorer.bench import common

BUDGETS = (100, 200, 400, 800, 2000)
HELP = "F1 vs tokens read at budgets 100-2000 for random, heuristic, compact"
DESCRIPTION = """\
Each policy runs the same tasks at each budget (seed 0). Writes <out>.png (the plot), <out>.md (the
table) and <out>.json (all numbers, with F1 95% bootstrap CIs and the paired compact - heuristic
difference per budget). A few minutes on 200 dev tasks."""


def add_arguments(ap) -> None:
    ap.add_argument("--tasks", default="data_out/2wiki/val.jsonl")
    ap.add_argument("--n-tasks", type=int, default=200)
    ap.add_argument("--checkpoint", default="runs/compact_2wiki", help="compact checkpoint file or run dir")
    ap.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    ap.add_argument("--policies", nargs="+", default=["random", "heuristic", "compact"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(common.OUT_DIR / "budget_sweep"), help="output path without extension")


def markdown(rows: list[dict], diffs: dict, tasks_file: str, n: int, checkpoint: str) -> str:
    md = [f"Budget sweep on {n} tasks of `{tasks_file}` (compact: `{checkpoint}`).", "",
          "| policy | budget | F1 | F1 95% CI | EM | answered | avg tokens read |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['policy']} | {r['budget']} | {r['f1']:.3f} | [{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}] | "
                  f"{r['em']:.3f} | {100 * r['answer_rate']:.1f}% | {r['avg_tokens_read']:.1f} |")
    if diffs:
        md += ["", "| budget | compact - heuristic F1 | paired 95% CI | wins / losses / ties |", "|---|---|---|---|"]
        for b, d in diffs.items():
            md.append(f"| {b} | {d['diff']:+.3f} | [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] | "
                      f"{d['wins']} / {d['losses']} / {d['ties']} |")
    return "\n".join(md) + "\n"


def plot(rows: list[dict], policies: list[str], budgets: list[int], path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in policies:
        rs = [r for r in rows if r["policy"] == name]
        err = np.array([[r["f1"] - r["f1_ci"][0] for r in rs], [r["f1_ci"][1] - r["f1"] for r in rs]])
        ax.errorbar([r["avg_tokens_read"] for r in rs], [r["f1"] for r in rs], yerr=err, marker="o", capsize=3,
                    label=name)
        for r in rs:
            ax.annotate(str(r["budget"]), (r["avg_tokens_read"], r["f1"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7)
    ax.set_xlabel("average tokens read per task")
    ax.set_ylabel("token F1")
    ax.set_title(f"F1 vs reading cost (budgets {', '.join(map(str, budgets))})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args) -> int:
    from tinker_explorer.data.schema import load_tasks
    tasks = load_tasks(args.tasks, limit=args.n_tasks)
    rows, res = [], {}
    for name in args.policies:
        policy = common.load_policy(name, args.checkpoint if name == "compact" else None)
        for b in args.budgets:
            _, r = res[(name, b)] = common.evaluate(policy, tasks, b, args.seed, name)
            rows.append({"policy": name, "budget": b, **{k: r[k] for k in ("f1", "f1_ci", "em", "answer_rate",
                                                                           "avg_tokens_read", "seconds")}})
            print(f"{name:10s} budget {b:5d}: F1 {r['f1']:.3f}  tokens read {r['avg_tokens_read']:.1f}", file=sys.stderr)
    diffs = {}
    if {"compact", "heuristic"} <= set(args.policies):
        diffs = {b: common.paired(res[("compact", b)][1], res[("heuristic", b)][1]) for b in args.budgets}
    md = markdown(rows, diffs, args.tasks, len(tasks), args.checkpoint)
    paths = common.write(args.out, md, {"tasks": args.tasks, "n_tasks": len(tasks), "rows": rows,
                                        "compact_minus_heuristic": diffs, "checkpoint": args.checkpoint})
    paths.append(paths[0].with_suffix(".png"))
    plot(rows, args.policies, args.budgets, paths[-1])
    print(md, end="")
    print("wrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(sys.modules[__name__]))
