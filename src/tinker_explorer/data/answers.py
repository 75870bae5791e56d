"""The one implementation of answer scoring, used by rewards and evaluation alike.

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
