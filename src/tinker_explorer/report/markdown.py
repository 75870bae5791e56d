"""`tinker-explorer report`: inputs -> PNGs + ``report.md`` (figures linked relatively, so the
folder can be moved or committed as is)."""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinker_explorer.report.inputs import EvalData, Inputs, RunData
from tinker_explorer.report.stats import (Paired, ResultRow, find_heuristic, overall_rows, paired_vs,
                                          per_type_rows)


@dataclass
class ReportOutput:
    report: Path
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "run"


def _md(s: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(s).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def results_table(rows: list[ResultRow]) -> str:
    return _table(["policy", "n", "F1 [95% CI]", "EM [95% CI]", "answer rate", "avg opens",
                   "avg tokens read [95% CI]", "tasks"],
                  [[r.label, str(r.n), r.f1.fmt(), r.em.fmt(), r.answer_rate.fmt(pct=True),
                    r.opens.fmt(2).split(" [")[0], r.tokens.fmt(1), r.tasks or "-"] for r in rows])


def per_type_table(per_type: dict[str, list[ResultRow]]) -> str:
    labels = [r.label for r in next(iter(per_type.values()))] if per_type else []
    body = []
    for ty, rows in per_type.items():
        n = max((r.n for r in rows), default=0)
        body.append([ty, str(n)] + [r.f1.fmt() if r.n else "–" for r in rows])
    return _table(["question type", "n"] + [f"{lab} F1 [95% CI]" for lab in labels], body)


def paired_table(paired: list[Paired]) -> str:
    def f(m, v):
        return f"{v:+.1f}" if m == "tokens_read" else f"{v:+.3f}"
    return _table(["policy", "metric", "difference", "95% CI", "n", "tasks higher / lower / tied", "P(diff <= 0)"],
                  [[p.label, p.metric, f(p.metric, p.diff), f"[{f(p.metric, p.lo)}, {f(p.metric, p.hi)}]", str(p.n),
                    f"{p.wins} / {p.losses} / {p.ties}", f"{p.p_not_better:.3f}"] for p in paired])


def _last(metrics: list[dict], key: str) -> float | None:
    for m in reversed(metrics):
        v = m.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def run_section(run: RunData, fig: Path | None, out_dir: Path) -> str:
    lines = [f"### Run `{run.name}`", "", f"Directory: `{run.path}`. {len(run.metrics)} logged steps, "
             f"{len(run.checkpoints)} checkpoints."]
    secs = [m.get("seconds") for m in run.metrics if isinstance(m.get("seconds"), (int, float))]
    if secs:
        lines[-1] += f" Wall time of the logged steps: {sum(secs) / 60:.1f} min."
    if fig is not None:
        lines += ["", f"![training curves of {run.name}]({fig.relative_to(out_dir).as_posix()})"]
    last = {k: _last(run.metrics, k) for k in ("reward_mean", "reward", "f1", "em", "answer_rate", "opens",
                                               "avg_opens", "tokens_read", "avg_tokens_read", "skipped_groups")}
    last = {k: v for k, v in last.items() if v is not None}
    if last:
        step = run.metrics[-1].get("step", len(run.metrics) - 1)
        lines += ["", f"Last logged step ({step}): " + ", ".join(f"{k} {v:.3g}" for k, v in last.items()) + "."]
    scalars = {k: v for k, v in run.config.items() if isinstance(v, (str, int, float, bool)) or v is None}
    if scalars:
        lines += ["", "<details><summary>config (scalar fields)</summary>", "", "```json",
                  json.dumps(scalars, indent=1, default=str)[:4000], "```", "", "</details>"]
    if not run.metrics:
        lines += ["", "_No metrics.jsonl rows yet: nothing to plot._"]
    return "\n".join(lines)


def leaves_section(leaves_dir: Path, fig_dir: Path, res: ReportOutput, rel) -> list[str]:
    """The ablation ledger (``leaves/results.tsv``) as a table with paired CIs and a per-seed plot."""
    import dataclasses

    from tinker_explorer.experiments.leaves import HARNESS, current_rows, read_ledger, summary
    from tinker_explorer.report import plots
    h = dataclasses.replace(HARNESS, leaves_dir=str(leaves_dir))
    ledger = read_ledger(h)
    if not ledger:
        return []
    table, rows = summary(h)
    seed_f1: dict[str, list[float]] = {}
    for leaf in dict.fromkeys(r["leaf"] for r in ledger):
        seed_f1[leaf] = [float(r["f1"]) for r in current_rows(ledger, leaf) if r["status"] != "crash"]
    md = ["## Ablation leaves", "",
          f"Ledger `{leaves_dir}/results.tsv` ({len(ledger)} rows). Each leaf's newest code version counts "
          "(its source hash, `code`, or its commit for rows without one). Metric: token F1 on the fixed held-out "
          f"part of 2Wiki train, budget {h.budget}; the difference column is paired over held-out tasks (per-task "
          "F1 averaged over seeds), between runs of the same package code only.", "", table, ""] + leaves_finding(rows, h.baseline_leaf)
    p = plots.plot_leaves(rows, seed_f1, h.baseline_leaf, fig_dir / "leaves.png")
    if p:
        res.figures.append(p)
        md += [f"![leaves: F1 per seed and paired difference]({rel(p)})", ""]
    return md


def leaves_finding(rows: list[dict], baseline: str) -> list[str]:
    """The original's claim, checked on the ledger: is the leaf with the lowest training reward the one
    with the best held-out F1? Stated with the paired CI, whichever way it comes out."""
    ok = [r for r in rows if r["seeds"] and math.isfinite(r.get("train_reward", float("nan")))]
    if len(ok) < 2:
        return []
    low = min(ok, key=lambda r: r["train_reward"])
    best = max(ok, key=lambda r: r["f1_mean"])

    def vs_base(r: dict) -> str:
        if r["leaf"] == baseline:
            return "the baseline"
        if "diff_vs_baseline" not in r:
            return "no paired comparison"
        lo, hi = r["diff_ci"]
        return f"{r['diff_vs_baseline']:+.3f} [{lo:+.3f}, {hi:+.3f}] F1 against `{baseline}`"

    same = low["leaf"] == best["leaf"] or abs(low["f1_mean"] - best["f1_mean"]) < 1e-9
    return [f"**Finding.** The lowest training reward is `{low['leaf']}`'s ({low['train_reward']:.3f}); its held-out "
            f"F1 is {low['f1_mean']:.3f} ({vs_base(low)}). The best held-out F1 is `{best['leaf']}`'s "
            f"({best['f1_mean']:.3f}, training reward {best['train_reward']:.3f}; {vs_base(best)}). "
            + ("The original's claim that the run with the lowest training reward gives the best model holds here."
               if same else "The original's claim that the run with the lowest training reward gives the best model "
               "does not hold here."), ""]


def build_report(inp: Inputs, out_dir: Path, command: str = "tinker-explorer report",
                 leaves_dir: Path | None = None) -> ReportOutput:
    from tinker_explorer.report import plots
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    res = ReportOutput(report=out_dir / "report.md")
    rel = lambda p: p.relative_to(out_dir).as_posix()  # noqa: E731
    md = ["# Tinker-Explorer report", "",
          f"Generated {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by `{command}`.",
          "All intervals are 95% percentile bootstrap CIs over tasks (2,000 resamples, "
          "`tinker_explorer.eval.metrics`); paired comparisons resample the per-task differences.", ""]
    if inp.evals:
        md += ["## Inputs", ""] + [f"- `{e.label}`: `{e.path}`" + (f" (n={len(e.per_task)} tasks"
               + (f", tasks `{e.data['tasks_file']}`" if e.data.get("tasks_file") else "")
               + (f", budget {e.data['budget']}" if e.data.get("budget") is not None else "") + ")")
               for e in inp.evals] + [""]
        rows = overall_rows(inp.evals)
        md += ["## Results", "", results_table(rows), ""]
        # the Pareto plot compares results on one task file: the heuristic's, else the most common
        files = [r.tasks for r in rows]
        heur = next((r.tasks for r in rows if r.label.startswith("heuristic")), None)
        main_tasks = heur if heur is not None else max(set(files), key=files.count)
        same = [r for r in rows if r.tasks == main_tasks]
        p = plots.plot_pareto(same, fig_dir / "pareto.png", tasks=main_tasks)
        if p:
            res.figures.append(p)
            md += [f"![accuracy vs reading cost]({rel(p)})", ""]
            if len(same) < len(rows):
                md += [f"(Plotted: the {len(same)} results on `{main_tasks or '?'}`; the others were evaluated on "
                       "other task files.)", ""]
        md += _paired_section(inp.evals, fig_dir, res, rel)
        pt = per_type_rows(inp.evals)
        if pt:
            md += ["## By question type", "", per_type_table(pt), ""]
            p = plots.plot_per_type(pt, fig_dir / "per_type.png")
            if p:
                res.figures.append(p)
                md += [f"![F1 by question type]({rel(p)})", ""]
    if inp.runs:
        md += ["## Training runs", ""]
        p = plots.plot_reward_overlay(inp.runs, fig_dir / "reward_runs.png")
        if p:
            res.figures.append(p)
            md += [f"![training reward across runs]({rel(p)})", ""]
        used: set[str] = set()
        for run in inp.runs:
            slug = _slug(run.name)
            while slug in used:
                slug += "_"
            used.add(slug)
            fig = plots.plot_run(run, fig_dir / f"run_{slug}.png")
            if fig:
                res.figures.append(fig)
            md += [run_section(run, fig, out_dir), ""]
    if leaves_dir is not None:
        md += leaves_section(leaves_dir, fig_dir, res, rel)
    if not inp.evals and not inp.runs:
        md += ["_No inputs._", ""]
    res.report.write_text("\n".join(md).rstrip() + "\n", encoding="utf-8")
    res.seconds = time.perf_counter() - t0
    return res


def _paired_section(evals: list[EvalData], fig_dir: Path, res: ReportOutput, rel) -> list[str]:
    from tinker_explorer.report import plots
    base = find_heuristic(evals)
    if base is None:
        return ["## Paired comparison against the heuristic", "",
                "_No heuristic result among the inputs (an eval JSON with policy `heuristic`); skipped._", ""]
    others = [e for e in evals if e is not base]
    if not others:
        return []
    paired, notes = paired_vs(base, evals)
    md = [f"## Paired comparison against `{base.label}`", "",
          "Difference = policy minus heuristic on the tasks both were evaluated on (a negative tokens_read "
          "difference means the policy reads less). P(diff <= 0) is the share of bootstrap resamples whose mean "
          "difference is <= 0.", ""]
    if paired:
        md += [paired_table(paired), ""]
        p = plots.plot_paired(paired, base.label, fig_dir / "paired_vs_heuristic.png")
        if p:
            res.figures.append(p)
            md += [f"![paired differences against the heuristic]({rel(p)})", ""]
    md += [f"- {n}" for n in notes] + ([""] if notes else [])
    return md
