"""Vocabularies learned from training tasks: nationality words, answer-context words, question
template words."""

from __future__ import annotations

from typing import Sequence

from tinker_explorer.policies.compact.features.text import (
    STOPWORDS, WORD_RE, contains, norm_str, norm_words, strip_title)

def build_lexicon(tasks: Sequence) -> frozenset[str]:
    """Nationality/country words, learned from training tasks' evidence triples and answers."""
    words: dict[str, int] = {}
    for t in tasks:
        for ev in t.meta.get("evidences", ()) or ():
            if len(ev) == 3 and ("country" in ev[1] or "nationality" in ev[1]):
                for w in WORD_RE.findall(ev[2]):
                    if w[:1].isupper():
                        words[w] = words.get(w, 0) + 1
    return frozenset(w for w, c in words.items() if c >= 1 and w.lower() not in STOPWORDS)


def build_ctxvocab(tasks: Sequence, min_count: int = 5) -> frozenset[str]:
    """Words that occur near the gold answer in training gold chunks (5 left, 3 right)."""
    counts: dict[str, int] = {}
    for t in tasks:
        a = norm_str(t.answer)
        if not a or a in ("yes", "no"):
            continue
        for c in t.chunks:
            if not c.is_gold:
                continue
            words = norm_words(c.text)
            aw = a.split()
            for i in range(len(words) - len(aw) + 1):
                if words[i:i + len(aw)] == aw:
                    for w in set(words[max(0, i - 5):i] + words[i + len(aw):i + len(aw) + 3]):
                        counts[w] = counts.get(w, 0) + 1
    return frozenset(w for w, n in counts.items() if n >= min_count)


def build_qvocab(tasks: Sequence, min_count: int = 8) -> frozenset[str]:
    """Question template words: frequent question words outside the entity names."""
    counts: dict[str, int] = {}
    for t in tasks:
        q = norm_str(t.question)
        for c in t.chunks:
            tn = norm_str(strip_title(c.title))
            if tn and contains(q, tn) >= 0:
                q = f" {q} ".replace(f" {tn} ", " ").strip()
        for w in set(q.split()):
            counts[w] = counts.get(w, 0) + 1
    return frozenset(w for w, c in counts.items() if c >= min_count)
