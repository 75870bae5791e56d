"""Compact acceptance: heuristic vs compact (GRPO) vs compact (warm start only), paired.

    tinker-explorer bench compact-acceptance --tasks data_out/2wiki/val.jsonl --run runs/compact_2wiki
"""

from __future__ import annotations

import sys
from pathlib import Path

from tinker_explorer.bench import common
from tinker_explorer.eval.cli import compare

HELP = "heuristic vs compact (GRPO, warm start only) on dev: paired CIs of F1, EM, tokens"
DESCRIPTION = """\
Evaluates the heuristic, the run's final compact checkpoint and its warm start (warm.pt) on the same
tasks at one budget (seed 0, as `tinker-explorer eval`), then pairs them task by task: F1, EM and
tokens read with 95% bootstrap CIs, and per question type. About a minute on 200 dev tasks.

Writes <out>.md: aggregate numbers only (no per-task answers)."""


def add_arguments(ap) -> None:
    ap.add_argument("--tasks", default="data_out/2wiki/val.jsonl", help="task file (default: 2Wiki dev)")
    ap.add_argument("--n-tasks", type=int, default=200, help="first N tasks (default 200)")
    ap.add_argument("--run", default="runs/compact_2wiki", help="compact run directory (warm.pt + final checkpoint)")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(common.OUT_DIR / "compact_acceptance"), help="output path without extension")


def markdown(res: dict, tasks_file: str, n: int, budget: int, run: str) -> str:
    md = [f"Compact acceptance on {n} tasks of `{tasks_file}`, budget {budget}, run `{run}`.", "",
          "| policy | F1 | F1 95% CI | EM | answered | opens | avg tokens read | seconds |", "|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        md.append(f"| {name} | {r['f1']:.3f} | [{r['f1_ci'][0]:.3f}, {r['f1_ci'][1]:.3f}] | {r['em']:.3f} | "
                  f"{100 * r['answer_rate']:.1f}% | {r['avg_opens']:.2f} | {r['avg_tokens_read']:.1f} | "
                  f"{r['seconds']:.1f} |")
    md += ["", "| comparison (A - B) | metric | diff | paired 95% CI | wins / losses / ties |", "|---|---|---|---|---|"]
    names = list(res)
    for a, b in ((names[1], names[0]), (names[1], names[2]), (names[2], names[0])):
        for metric in ("f1", "em", "tokens_read"):
            d = compare(res[a], res[b], metric)
            md.append(f"| {a} - {b} | {metric} | {d['diff']:+.3f} | [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}] | "
                      f"{d['wins']} / {d['losses']} / {d['ties']} |")
    md += ["", "Per type (F1 / avg tokens read):", "", "| type | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    for ty in sorted(res[names[0]]["per_type"]):
        cells = [f"{res[n]['per_type'][ty]['f1']:.3f} / {res[n]['per_type'][ty]['avg_tokens_read']:.0f}" for n in names]
        md.append(f"| {ty} (n={res[names[0]]['per_type'][ty]['n_tasks']}) | " + " | ".join(cells) + " |")
    return "\n".join(md) + "\n"


def run(args) -> int:
    from tinker_explorer.data.schema import load_tasks
    tasks = load_tasks(args.tasks, limit=args.n_tasks)
    run_dir = Path(args.run)
    entries = {"heuristic": common.load_policy("heuristic"),
               "compact (GRPO, final)": common.load_policy("compact", str(run_dir)),
               "compact (warm start only)": common.load_policy("compact", str(run_dir / "warm.pt"))}
    res = {name: common.evaluate(pol, tasks, args.budget, args.seed, name)[1] for name, pol in entries.items()}
    md = markdown(res, args.tasks, len(tasks), args.budget, args.run)
    print(md, end="")
    print("wrote " + ", ".join(map(str, common.write(args.out, md))))
    return 0


if __name__ == "__main__":
    raise SystemExit(common.main(sys.modules[__name__]))
