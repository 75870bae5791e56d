"""The reading-cost unit.

A *token* is a maximal run of word characters (``\\w+``, Unicode-aware) or a single
non-space, non-word character. "Missoula, Montana (1946)" is 6 tokens:
``Missoula , Montana ( 1946 )``. The unit is deterministic, tokenizer-independent
and close to a subword count for English prose (a 2Wiki paragraph averages ~70).
Every budget, cost and "tokens read" number in this project is in this unit.
"""

from __future__ import annotations

import re

TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` in order."""
    return TOKEN_RE.findall(text)


def count_tokens(text: str) -> int:
    """Number of reading-cost tokens in ``text``."""
    return sum(1 for _ in TOKEN_RE.finditer(text))


def first_tokens(text: str, n: int) -> str:
    """The prefix of ``text`` holding its first ``n`` tokens (original spacing kept)."""
    if n <= 0:
        return ""
    for i, m in enumerate(TOKEN_RE.finditer(text)):
        if i == n - 1:
            return text[: m.end()]
    return text
