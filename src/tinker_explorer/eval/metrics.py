"""The one implementation of answer scoring and confidence intervals. Used everywhere.

Normalisation is the standard SQuAD / HotpotQA / 2WikiMultiHopQA one: lower-case,
drop punctuation, drop the articles a/an/the, collapse whitespace. Token F1 follows
the 2Wiki/HotpotQA official script, including its rule that yes/no/noanswer only
match themselves (a "yes" never gets partial credit against "no").
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Sequence

import numpy as np

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = {"yes", "no", "noanswer"}


def normalize_answer(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str | None, gold: str) -> float:
    if prediction is None:
        return 0.0
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str | None, gold: str) -> float:
    """Token-level F1 between normalised prediction and gold (0 for no answer)."""
    if prediction is None:
        return 0.0
    p, g = normalize_answer(prediction), normalize_answer(gold)
    if (p in _SPECIAL or g in _SPECIAL) and p != g:
        return 0.0
    pt, gt = p.split(), g.split()
    common = Counter(pt) & Counter(gt)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pt), same / len(gt)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str | None, golds: Sequence[str]) -> float:
    """F1 against the best-matching of several gold aliases (MuSiQue has aliases)."""
    return max((token_f1(prediction, g) for g in golds), default=0.0)


def best_em(prediction: str | None, golds: Sequence[str]) -> float:
    return max((exact_match(prediction, g) for g in golds), default=0.0)


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
