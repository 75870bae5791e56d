"""Numbers behind the report's tables and figures, all recomputed from per-task rows with the one
aggregation in :mod:`tinker_explorer.eval.aggregate` (every mean with its bootstrap CI)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinker_explorer.errors import UserError
from tinker_explorer.eval.aggregate import TaskResult, aggregate
from tinker_explorer.report.inputs import EvalData

HEURISTIC = "heuristic"
PAIRED_METRICS = ("f1", "em", "tokens_read")


@dataclass
class Stat:
    mean: float
    lo: float
    hi: float

    def fmt(self, digits: int = 3, pct: bool = False) -> str:
        if not np.isfinite(self.mean):
            return "n/a"
        s = 100.0 if pct else 1.0
        d = 1 if pct else digits
        ci = "" if not np.isfinite(self.lo) else f" [{s * self.lo:.{d}f}, {s * self.hi:.{d}f}]"
        return f"{s * self.mean:.{d}f}{'%' if pct else ''}{ci}"


@dataclass
class ResultRow:
    label: str
    n: int
    f1: Stat
    em: Stat
    answer_rate: Stat
    opens: Stat
    tokens: Stat
    tasks: str = ""  # the task file evaluated (results on different files are not comparable)


def result_row(label: str, rows: list[dict], fallback: dict | None = None) -> ResultRow:
    """Means and CIs from per-task rows; top-level numbers of ``fallback`` when rows are missing."""
    fb = fallback or {}
    if not rows:
        def fixed(k, ci=None):
            v = fb.get(k)
            lo, hi = (ci or [float("nan")] * 2)
            return Stat(float("nan") if v is None else float(v), lo, hi)
        return ResultRow(label, int(fb.get("n_tasks", 0)), fixed("f1", fb.get("f1_ci")), fixed("em", fb.get("em_ci")),
                         fixed("answer_rate"), fixed("avg_opens"), fixed("avg_tokens_read"))
    keys = ("f1", "em", "answer_rate", "avg_opens", "avg_tokens_read")
    agg = aggregate([TaskResult.from_row(r) for r in rows], ci=keys)
    return ResultRow(label, len(rows), *(Stat(agg[k], *agg[f"{k}_ci"]) for k in keys))


def overall_rows(evals: list[EvalData]) -> list[ResultRow]:
    rows = []
    for e in evals:
        r = result_row(e.label, e.per_task, e.data)
        tf = str(e.data.get("tasks_file") or "")
        r.tasks = "/".join(tf.replace("\\", "/").split("/")[-2:])
        rows.append(r)
    return rows


def per_type_rows(evals: list[EvalData]) -> dict[str, list[ResultRow]]:
    """{question type: one row per result}, types in sorted order."""
    types = sorted({str(r.get("type", "?")) for e in evals for r in e.per_task})
    return {ty: [result_row(e.label, [r for r in e.per_task if str(r.get("type", "?")) == ty]) for e in evals]
            for ty in types}


@dataclass
class Paired:
    label: str  # the policy compared against the heuristic
    metric: str
    diff: float
    lo: float
    hi: float
    n: int
    wins: int
    losses: int
    ties: int
    p_not_better: float


def find_heuristic(evals: list[EvalData]) -> EvalData | None:
    return next((e for e in evals if e.policy == HEURISTIC), None)


def paired_vs(base: EvalData, evals: list[EvalData]) -> tuple[list[Paired], list[str]]:
    """Paired bootstrap of each other result minus ``base`` on their shared task ids.

    Returns the comparisons and one note per result that could not be compared."""
    from tinker_explorer.eval.cli import compare  # the same pairing `eval --compare` prints
    out, notes = [], []
    for e in evals:
        if e is base:
            continue
        for m in PAIRED_METRICS:
            if not all(m in r for r in e.per_task + base.per_task):
                notes.append(f"{e.label}: no per-task {m!r}; skipped")
                continue
            try:
                c = compare(e.data, base.data, m)
            except UserError:
                notes.append(f"{e.label}: shares no task ids with {base.label}; not compared")
                break
            out.append(Paired(e.label, m, c["diff"], c["ci"][0], c["ci"][1], c["n"], c["wins"], c["losses"],
                              c["ties"], c["p_not_better"]))
    return out, notes
