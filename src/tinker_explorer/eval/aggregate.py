"""Per-task results -> the metrics JSON: the one place where episodes become means and CIs.

Evaluation (``eval`` JSON), the GRPO metrics lines of both trainers and validation during training
all reduce a list of :class:`TaskResult` with :func:`aggregate`; ``metrics_json`` adds the
per-type breakdown and the per-task rows that paired comparisons read back
(:meth:`TaskResult.from_row`). Pure functions: no I/O, no randomness beyond the fixed bootstrap seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tinker_explorer.eval.metrics import bootstrap_ci, chunk_precision_recall


@dataclass(frozen=True)
class TaskResult:
    """How one episode scored; the fields of a ``per_task`` row plus what the means need."""

    task_id: str
    type: str
    f1: float
    em: float
    answer: str | None
    gold: str
    opens: int
    tokens_read: int
    reward: float
    n_steps: int = 0
    n_parse_errors: int = 0
    chunk_precision: float = 0.0
    chunk_recall: float = 0.0

    @property
    def answered(self) -> bool:
        return self.answer is not None

    @classmethod
    def from_trajectory(cls, t) -> "TaskResult":
        """From an :class:`~tinker_explorer.env.types.Trajectory` (or anything with its fields)."""
        p, r = chunk_precision_recall(t.opened, t.gold_ids)
        return cls(t.task_id, t.task_type, t.f1, t.em, t.answer, t.gold_answer, len(t.opened), t.tokens_read,
                   t.reward, len(t.steps), t.n_parse_errors, p, r)

    @classmethod
    def from_row(cls, row: dict) -> "TaskResult":
        """From a ``per_task`` row of a metrics JSON (steps, parse errors and chunk scores are not kept there)."""
        answer = row.get("answer")
        if answer is None and row.get("answered"):
            answer = ""  # answered, text not kept
        return cls(str(row["task_id"]), str(row.get("type", "?")), float(row.get("f1", 0.0)),
                   float(row.get("em", 0.0)), answer, str(row.get("gold", "")), int(row.get("opens", 0)),
                   int(row.get("tokens_read", 0)), float(row.get("reward", 0.0)))

    def row(self) -> dict:
        return {"task_id": self.task_id, "type": self.type, "f1": self.f1, "em": self.em,
                "answered": self.answered, "answer": self.answer, "gold": self.gold, "opens": self.opens,
                "tokens_read": self.tokens_read, "reward": self.reward}


# the per-task values whose means the metrics are, in the order the metrics JSON lists them
MEANS = {
    "f1": lambda r: r.f1, "em": lambda r: r.em, "answer_rate": lambda r: r.answered,
    "avg_opens": lambda r: r.opens, "avg_tokens_read": lambda r: r.tokens_read, "avg_steps": lambda r: r.n_steps,
    "chunk_precision": lambda r: r.chunk_precision, "chunk_recall": lambda r: r.chunk_recall,
    "reward": lambda r: r.reward,
}


def aggregate(results: Sequence[TaskResult], ci: bool | Sequence[str] = True) -> dict:
    """Means over tasks (``parse_error_rate``: parse errors per step), ``reward_std``, and a bootstrap
    CI (``<name>_ci``) of each mean named in ``ci`` (``True``: F1 and EM)."""
    n = len(results)
    if n == 0:
        return {"n_tasks": 0}
    values = {k: [f(r) for r in results] for k, f in MEANS.items()}
    out: dict = {"n_tasks": n}
    for k, v in values.items():
        out[k] = float(np.mean(v))
        if k == "avg_steps":
            out["parse_error_rate"] = float(np.sum([r.n_parse_errors for r in results]) / max(1, sum(values[k])))
    out["reward_std"] = float(np.std(values["reward"]))
    for k in (("f1", "em") if ci is True else ci or ()):
        out[f"{k}_ci"] = list(bootstrap_ci(values[k]))
    return out


EVAL_KEYS = ("n_tasks", "f1", "em", "answer_rate", "avg_opens", "avg_tokens_read", "avg_steps", "parse_error_rate",
             "chunk_precision", "chunk_recall", "reward", "f1_ci", "em_ci")


def metrics_json(results: Sequence[TaskResult], policy: str = "", extra: dict | None = None) -> dict:
    """The eval JSON: top-level metrics, per-type breakdown, and per-task rows (for paired tests)."""
    def summary(rs):
        agg = aggregate(rs)
        return {k: agg[k] for k in EVAL_KEYS if k in agg}

    res = {"policy": policy, **summary(results)}
    types = sorted({r.type for r in results})
    res["per_type"] = {ty: summary([r for r in results if r.type == ty]) for ty in types}
    res["per_task"] = [r.row() for r in results]
    if extra:
        res.update(extra)
    return res
