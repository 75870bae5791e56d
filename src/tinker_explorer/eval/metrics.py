"""Confidence intervals and retrieval metrics of evaluation results (answer scoring itself is
:mod:`tinker_explorer.data.answers`, shared with the rewards)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (vectorised: one index matrix)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 2000,
                     alpha: float = 0.05, seed: int = 0) -> dict:
    """Paired comparison of two policies on the same tasks: mean(a - b), its CI, and
    the fraction of bootstrap resamples in which a is not better (a one-sided p-value)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs equal lengths, got {a.size} and {b.size}")
    d = a - b
    lo, hi = bootstrap_ci(d, n_boot=n_boot, alpha=alpha, seed=seed)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1) if d.size else np.array([np.nan])
    return {
        "n": int(d.size),
        "mean_a": float(a.mean()) if a.size else float("nan"),
        "mean_b": float(b.mean()) if b.size else float("nan"),
        "diff": float(d.mean()) if d.size else float("nan"),
        "ci": [lo, hi],
        "p_not_better": float((means <= 0).mean()),
        "wins": int((d > 0).sum()),
        "losses": int((d < 0).sum()),
        "ties": int((d == 0).sum()),
    }


def chunk_precision_recall(opened: Sequence[int], gold: Sequence[int]) -> tuple[float, float]:
    """Precision/recall of opened chunk ids against gold ids (precision 0 when nothing opened
    is undefined: we report 0.0 and let avg_opens tell the story)."""
    o, g = set(opened), set(gold)
    hit = len(o & g)
    return (hit / len(o) if o else 0.0, hit / len(g) if g else 0.0)
