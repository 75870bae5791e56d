"""Answer candidates: every plausible answer string the observation offers (spans of opened text
and of previews, yes/no, the heuristic's answer, the entities the question names) with hashed
sparse features, scored by a linear model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinker_explorer.policies.compact.features.observation import ObsInfo
from tinker_explorer.policies.compact.features.rerank import rerank_features
from tinker_explorer.policies.compact.features.spans import span_features
from tinker_explorer.policies.compact.features.text import (
    STOPWORDS, WORD_RE, contains, norm_str, parse_dates, rel_stem, stable_hash)

@dataclass
class Candidates:
    texts: list[str]
    idx: np.ndarray  # hashed feature ids of all candidates, concatenated (int32)
    lens: np.ndarray  # number of features of each candidate
    where: list[int] = field(default_factory=list)  # source chunk id (-1: yes/no/question entity)
    dense: np.ndarray | None = None  # [candidates, N_RERANK] second-stage features (rerank_features)

    @property
    def feats(self) -> list[np.ndarray]:
        ends = np.cumsum(self.lens)
        return [self.idx[e - n:e] for e, n in zip(ends, self.lens)]


def _attr(text: str, lexicon: frozenset[str]) -> str | None:
    """First nationality/country word of a text (the lexicon is learned from training answers)."""
    for w in WORD_RE.findall(text[:400]):
        if w in lexicon:
            return w
    return None


_EARLY = frozenset("first earlier earliest older oldest before".split())
_LATE = frozenset("later latest recently recent younger youngest last after".split())
_AGREE = {"early": str.maketrans("<>", "AD"), "late": str.maketrans("<>", "DA")}  # A: agrees with the asked order


def question_direction(qwords: set[str]) -> str | None:
    """'early' / 'late' when the question asks for the earlier / later of its entities."""
    e, l = bool(qwords & _EARLY), bool(qwords & _LATE)
    return "early" if e and not l else "late" if l and not e else None


def _cmp(a, b) -> str:
    if a is None or b is None:
        return "?"
    return "<" if a < b else ">" if a > b else "="



class _Builder:
    """The candidate list being built, and the hashing every kind of candidate shares: the
    question template (``qt``), its words, and the candidate's relation to the heuristic's answer."""

    def __init__(self, info: ObsInfo, qvocab: frozenset[str]):
        qkeys = sorted({w for w in info.qwords if w in qvocab})
        w0 = info.qnorm.split(" ", 1)[0] if info.qnorm else ""
        self.qt = "qt=" + "_".join(qkeys)
        self.qword_conj = [f"w0={w0}"] + [f"q={w}" for w in qkeys if w not in STOPWORDS]
        self.hnorm = norm_str(info.heur_answer) if info.heur_answer else ""
        self.hset = set(self.hnorm.split())
        self.how = f"how={info.heur_how}"
        self.dyn: dict[tuple[str, str], list[int]] = {}
        self.texts: list[str] = []
        self.feats: list[list[int]] = []
        self.where: list[int] = []
        self.props: list[np.ndarray | None] = []

    def heur_rel(self, text: str) -> str:
        if not self.hnorm:
            return "h=none"
        n = norm_str(text)
        if n == self.hnorm:
            return "h=eq"
        if contains(n, self.hnorm) >= 0:
            return "h=sup"
        if contains(self.hnorm, n) >= 0:
            return "h=sub"
        return "h=ovl" if set(n.split()) & self.hset else "h=no"

    def static_hashes(self, base: list[str], conj: list[str], wconj: list[str] | None) -> list[int]:
        # base features alone; every conj feature with the question template; the few wconj
        # features with each template word (shares strength across templates)
        fs = ["bias"] + base + [f"{self.qt}|{c}" for c in conj]
        for q in self.qword_conj:
            fs += [f"{q}|{c}" for c in (wconj if wconj is not None else conj)]
        return [stable_hash(f) for f in fs]

    def heur_hashes(self, hr: str, kind: str) -> list[int]:
        # the features of the candidate's relation to the heuristic's answer (hr), as if appended to
        # base, conj and wconj above; and with the rule that gave that answer (its extractor's value
        # deserves more trust than its last-resort guesses)
        if (hr, kind) not in self.dyn:
            qt, how = self.qt, self.how
            self.dyn[hr, kind] = [stable_hash(f) for f in [hr, f"{hr}|{kind}", f"{qt}|{hr}", f"{hr}|{how}",
                                                           f"{qt}|{hr}|{how}"]
                                  + [f"{q}|{hr}" for q in self.qword_conj]]
        return self.dyn[hr, kind]

    def add_hashed(self, text: str, static: list[int], kind: str, src: int, pr: np.ndarray | None = None) -> None:
        self.texts.append(text)
        self.where.append(src)
        self.props.append(pr)
        self.feats.append(static + self.heur_hashes(self.heur_rel(text), kind))

    def add(self, text: str, base: list[str], conj: list[str], wconj: list[str] | None = None, src: int = -1) -> None:
        self.add_hashed(text, self.static_hashes(base, conj, wconj), base[0], src)


def answer_candidates(info: ObsInfo, lexicon: frozenset[str], qvocab: frozenset[str],
                      ctxvocab: frozenset[str] = frozenset(), span_cache: dict | None = None,
                      parser=None) -> Candidates:
    """All answer candidates of an observation with their hashed features. Context words outside
    ``ctxvocab`` (words seen near training answers) become '_': keeps the hashed space small and
    the model from memorising contexts. ``span_cache`` (owned by the caller, one per policy) keeps
    the hashed features of a chunk's spans that do not change while an episode goes on, so each
    step only hashes the few features that depend on the heuristic's current answer. ``parser``
    (a :class:`~tinker_explorer.policies.compact.syntax.Parser`, optional) adds each opened span's
    syntax features: the word that governs it and its entity type."""
    b = _Builder(info, qvocab)
    ent_facts = _entity_facts(info, lexicon)
    _add_yes_no(b, info, ent_facts)
    _add_question_entities(b, info, ent_facts)
    _add_spans(b, info, ent_facts, lexicon, ctxvocab, span_cache, parser)
    lens = np.array([len(f) for f in b.feats], dtype=np.int32)
    flat = np.fromiter((x for f in b.feats for x in f), dtype=np.int32, count=int(lens.sum()))
    return Candidates(b.texts, flat, lens, b.where, rerank_features(info, b.texts, b.where, b.props))


def _src_text(info: ObsInfo, i: int) -> tuple[str, str]:
    """A chunk's source text: its visible text, else its preview head."""
    return (info.texts[i], "open") if info.texts[i] is not None else (info.heads[i], "prev")


def _own_link(info: ObsInfo, own: int) -> tuple[int, int]:
    """A question entity's own chunk and the first other chunk its text names (its bridge)."""
    if own < 0:
        return -1, -1
    best, pos = -1, 10 ** 9
    other_q = {c for _, c in info.qents}
    tx = info.text_norm[own]
    if tx:
        for j, t in enumerate(info.tnorm):
            if j == own or j in other_q:
                continue
            p = contains(tx, t)
            if 0 <= p < pos:
                best, pos = j, p
    return own, best


def _entity_facts(info: ObsInfo, lexicon: frozenset[str]) -> list[dict]:
    """Comparison facts of each question entity: the first dates and nationality word of its own
    chunk and of its bridge chunk, and where each was read (opened text or preview)."""
    ent_facts = []
    for surf, own in info.qents:
        o, l = _own_link(info, own)
        od = parse_dates(_src_text(info, o)[0]) if o >= 0 else []
        ld = parse_dates(_src_text(info, l)[0]) if l >= 0 else []
        ent_facts.append({
            "own": o, "link": l,
            "od1": od[0] if od else None, "od2": od[1] if len(od) > 1 else None,
            "ld1": ld[0] if ld else None, "ld2": ld[1] if len(ld) > 1 else None,
            "oa": _attr(_src_text(info, o)[0], lexicon) if o >= 0 else None,
            "la": _attr(_src_text(info, l)[0], lexicon) if l >= 0 else None,
            "osrc": _src_text(info, o)[1] if o >= 0 else "none",
            "lsrc": _src_text(info, l)[1] if l >= 0 else "none",
        })
    return ent_facts


def _add_yes_no(b: _Builder, info: ObsInfo, ent_facts: list[dict]) -> None:
    """"yes" (with whether the two entities' nationality words agree), "no", and the heuristic's
    own answer as a candidate of its own."""
    nq = len(info.qents)
    yn = []
    if nq >= 2:
        a, c = ent_facts[0], ent_facts[1]
        for key in ("oa", "la"):
            yn.append(f"{key}:{'?' if a[key] is None or c[key] is None else '=' if a[key] == c[key] else '!'}")
        yn.append(f"src:{a['osrc']}{c['osrc']}{a['lsrc']}{c['lsrc']}")
    yn.append(f"nq={min(nq, 3)}")
    b.add("yes", ["k=yes"] + yn, ["k=yes"] + [f"yes:{f}" for f in yn])
    b.add("no", ["k=no"], ["k=no"])
    if b.hnorm and b.hnorm not in ("yes", "no"):
        b.add(info.heur_answer, ["k=heur"], ["k=heur"])


def _add_question_entities(b: _Builder, info: ObsInfo, ent_facts: list[dict]) -> None:
    """Entities named in the question (comparison answers). The date order is also given relative to
    the direction the question asks for ('first'/'earlier' vs 'later'/'more recently'), so one
    weight serves both directions instead of each template learning its own sign."""
    nq = len(info.qents)
    qdir = question_direction(info.qwords)
    for k, (surf, own) in enumerate(info.qents):
        f = ent_facts[k]
        others = [ent_facts[m] for m in range(nq) if m != k]
        fl = [f"nq={min(nq, 3)}", f"hasown={f['own'] >= 0}", f"haslink={f['link'] >= 0}", f"idx={min(k, 2)}"]
        for key in ("od1", "od2", "ld1", "ld2"):
            rel = "".join(sorted({_cmp(f[key], o[key]) for o in others})) or "-"
            fl.append(f"{key}{rel}")
            if qdir:
                fl.append(f"{key}dir{rel.translate(_AGREE[qdir])}")
        b.add(surf, ["k=qent"] + fl, ["k=qent"] + fl)


def _add_spans(b: _Builder, info: ObsInfo, ent_facts: list[dict], lexicon: frozenset[str],
               ctxvocab: frozenset[str], span_cache: dict | None, parser) -> None:
    """Spans of every chunk's visible text (or preview), their static features cached per chunk."""
    cv = lambda w: w if w in ctxvocab or not w[:1].isalnum() else "_"
    qset = {w for w in info.qwords if w not in STOPWORDS}
    # relation words of the question (outside entity names), as 4-letter stems: matched against
    # a span's context they say "this span sits where the asked relation is stated"
    ent_words = set(" ".join(norm_str(s) for s, _ in info.qents).split())
    qrel = {rel_stem(w) for w in qset if w not in ent_words and w not in ("film", "song")}
    qc = set(info.qchunks)
    ent_link = {f["link"] for f in ent_facts if f["link"] >= 0}
    title_set = set(info.tnorm)
    lexicon_lower = {w.lower() for w in lexicon}
    for i in range(len(info.titles)):
        text, src = _src_text(info, i)
        if not text:
            continue
        role = "q" if i in qc else ("link" if i in ent_link else ("ment" if info.mentions[i] else "other"))
        key = (info.question, "\x1f".join(info.tnorm), i, src, role, text)
        cached = span_cache.get(key) if span_cache is not None else None
        if cached is None:
            syn = parser.parse(text) if parser is not None and src == "open" else None
            cached = span_features(text, src, role, info.tnorm[i], title_set, qset, qrel, lexicon,
                                   lexicon_lower, ctxvocab, cv, b.static_hashes, syn)
            if span_cache is not None:
                if len(span_cache) > 100_000:
                    span_cache.clear()
                span_cache[key] = cached
        for surf, static, pr in cached:
            b.add_hashed(surf, static, "k=span", i, pr)
