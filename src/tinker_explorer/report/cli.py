"""CLI: `report` (plots + Markdown from runs and eval JSONs) and `view` (static trajectory page)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from tinker_explorer.console import HelpFormatter
from tinker_explorer.errors import UserError

DEFAULT_OUT = "report_out"  # untracked: a report never overwrites files in the repository unasked


def register(sub) -> None:
    r = sub.add_parser("report", help="PNG plots + report.md from run dirs and eval JSONs",
                       formatter_class=HelpFormatter,
                       description="Write training curves per run, a results table with bootstrap CIs, a "
                                   "per-question-type breakdown, paired comparisons against the heuristic and an "
                                   "accuracy-vs-reading-cost plot, all linked from OUT/report.md.")
    r.add_argument("inputs", nargs="*", metavar="RUN_DIR_OR_EVAL_JSON",
                   help="run directories and eval result JSONs (default: every run directory under runs/)")
    r.add_argument("--out", default=DEFAULT_OUT, help="output directory (git-ignored by default)")
    r.add_argument("--leaves", default="leaves", metavar="DIR",
                   help="ablation folder whose results.tsv ledger gets a section (skipped when absent; '' = off)")
    r.set_defaults(func=cmd_report)

    v = sub.add_parser("view", help="one static HTML page to browse trajectories",
                       formatter_class=HelpFormatter,
                       description="Build a self-contained HTML page (no network needed to view it) from JSONL "
                                   "files written by `tinker-explorer eval --trajectories`: filters, chunk pools "
                                   "with gold marks, opening order and cost, notes, answers, side-by-side policies.")
    v.add_argument("trajectories", nargs="+", metavar="TRAJECTORIES.jsonl")
    v.add_argument("--out", default="view.html", help="HTML file to write")
    v.set_defaults(func=cmd_view)


def cmd_report(args) -> int:
    from tinker_explorer.eval.cli import format_table
    from tinker_explorer.report.inputs import default_inputs, load_inputs
    from tinker_explorer.report.markdown import build_report
    paths = list(args.inputs) or default_inputs()
    if not paths:
        raise UserError("no inputs: give run directories or eval JSONs (runs/ holds no run directories)")
    inp = load_inputs(paths)
    command = "tinker-explorer report " + " ".join(shlex.quote(str(p)) for p in args.inputs) + f" --out {args.out}"
    leaves = Path(args.leaves) if args.leaves and (Path(args.leaves) / "results.tsv").is_file() else None
    res = build_report(inp, Path(args.out), command=command, leaves_dir=leaves)
    if inp.evals:
        from tinker_explorer.report.stats import overall_rows
        print(format_table([{"policy": r.label, "f1": r.f1.mean, "em": r.em.mean, "answer_rate": r.answer_rate.mean,
                             "avg_opens": r.opens.mean, "avg_tokens_read": r.tokens.mean, "f1_ci": [r.f1.lo, r.f1.hi]}
                            for r in overall_rows(inp.evals)]))
    print(f"{len(inp.runs)} runs, {len(inp.evals)} eval results -> {res.report} and {len(res.figures)} figures "
          f"in {res.seconds:.1f} s")
    return 0


def cmd_view(args) -> int:
    from tinker_explorer.report.viewer import write_page
    out, data = write_page(args.trajectories, args.out)
    size = out.stat().st_size
    print(f"{len(data.episodes)} episodes of {len(data.tasks)} tasks, policies: {', '.join(data.policies)} -> "
          f"{out} ({size / 1e6:.1f} MB)", file=sys.stdout)
    return 0
