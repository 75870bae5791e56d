"""Features for the compact policy, computed from an :class:`Observation` only (never gold).

Two kinds:
- *chunk features*: a small dense vector per chunk (is its title named in the question? is it
  named in text already opened, i.e. a bridge entity? how long is it? ...) plus a global vector
  for the STOP decision. Dense and tiny, so the open/stop scorer is a small MLP.
- *answer candidates*: every plausible answer string the observation offers (spans of opened text
  and of previews, yes/no, the entities the question names) with hashed sparse features (span
  words, shape, context words, where it comes from, comparison facts), scored by a linear model.

Why hand features rather than an encoder: the decisions in ExplorerEnv hinge on string facts
(title mentions, dates, nationality words) that are cheap to compute exactly and hard for a tiny
encoder to learn from 1,349 tasks; the *weights* on them are learned, never set by hand.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tinker_explorer.data.tokens import TOKEN_RE
from tinker_explorer.env.types import Observation

N_BUCKETS = 1 << 19  # hashed answer-feature space (fp16 in the checkpoint: 1 MiB)
MAX_SPAN_TOKENS = 9

STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or as is was are were be been being who whom whose "
    "which what when where why how that this these those it its his her their he she they him them "
    "do does did has have had s".split())
CONNECTORS = frozenset("of de la le les von van der den du da del della di the and y bin ibn al el & , - ' . s "
                       "st mc d".split())
MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
_WORD = re.compile(r"\w+")
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
_DATE = re.compile(
    r"(?:(\d{1,2})\s+(" + "|".join(m.capitalize() for m in MONTHS) + r")\s+(\d{3,4}))"
    r"|(?:(" + "|".join(m.capitalize() for m in MONTHS) + r")\s+(\d{1,2}),?\s+(\d{3,4}))"
    r"|(?:(" + "|".join(m.capitalize() for m in MONTHS) + r")\s+(\d{3,4}))"
    r"|(?:\b(\d{3,4})\b)")
_OR_PAIR = re.compile(r",\s*(.+?)\s+or\s+(.+?)\s*\?*\s*$")
_AUX = frozenset("are is was were did do does has have had can could will".split())
_ABBREV = frozenset("mr mrs ms dr st jr sr prof gen col lt sgt no vs etc co inc ltd mt ft".split())


def stable_hash(s: str) -> int:
    """Process-independent hash (Python's ``hash`` is salted per process)."""
    return zlib.crc32(s.encode("utf-8")) & (N_BUCKETS - 1)


def norm_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def norm_str(text: str) -> str:
    return " ".join(norm_words(text))


def strip_title(title: str) -> str:
    """'Move (1970 film)' -> 'Move': the name as prose mentions it."""
    t = _PAREN.sub("", title).strip()
    return t or title


def preview_head(preview: str, title: str) -> str:
    head = preview[len(title) + 2:] if preview.startswith(title + ":") else preview
    return head[:-4] if head.endswith(" ...") else head


def parse_dates(text: str, limit: int = 2) -> list[tuple[int, int, int]]:
    """The first dates in ``text`` as sortable (year, month, day) tuples."""
    out = []
    for m in _DATE.finditer(text):
        g = m.groups()
        if g[0]:
            d = (int(g[2]), MONTHS[g[1].lower()], int(g[0]))
        elif g[3]:
            d = (int(g[5]), MONTHS[g[3].lower()], int(g[4]))
        elif g[6]:
            d = (int(g[7]), MONTHS[g[6].lower()], 0)
        else:
            y = int(g[8])
            if not 100 <= y <= 2030:
                continue
            d = (y, 0, 0)
        out.append(d)
        if len(out) >= limit:
            break
    return out


def _contains(hay: str, needle: str) -> int:
    """Position of whole-word ``needle`` in ``hay`` (both normalised, space-joined), or -1."""
    if not needle:
        return -1
    i = f" {hay} ".find(f" {needle} ")
    return i


# --------------------------------------------------------------------------- observation analysis
@dataclass
class ObsInfo:
    """Parsed facts of one observation, shared by the chunk and the answer features."""

    question: str
    qnorm: str
    qwords: set[str]
    titles: list[str]  # stripped titles
    tnorm: list[str]
    texts: list[str | None]  # visible text
    heads: list[str]  # preview text after the title
    opened: list[bool]
    n_tokens: list[int]
    qchunks: list[int]  # chunks whose (stripped) title the question names
    mentions: list[list[int]]  # mentions[i]: visible chunks whose text names chunk i's title
    first_mention: list[int]  # position in the mentioning text (for ordering bridges)
    qents: list[tuple[str, int]]  # (surface in question, own chunk id or -1)
    budget: int
    budget_left: int
    steps_left: int
    text_norm: list[str] = field(default_factory=list)
    heur_open: int = -1  # chunk the heuristic reader would open now (-1: it would answer)
    heur_answer: str | None = None  # what the heuristic reader would answer now
    heur_how: str = "none"  # which of its rules gave that answer ("value": its plan's last paragraph; else a guess)


def heuristic_proposals(obs: Observation, heuristic) -> tuple[int, str | None, str]:
    """The rule-based reader's proposals on this observation, used as *input features*: the chunk
    it would open next and the answer it would give now (one reading of the observation). The
    learned scorers decide how far to trust them (imitation of the heuristic, as a warm start
    the issue allows, with learned corrections of span boundaries, answer forms and stopping)."""
    op, ans, how = heuristic.propose(obs)
    return (-1 if op is None else op), ans, how


def analyse(obs: Observation, heuristic=None) -> ObsInfo:
    """Parse ``obs`` once for both scorers; ``heuristic`` (a rule-based policy, or None) adds its proposals."""
    q = obs.question
    qnorm = norm_str(q)
    titles = [strip_title(c.title) for c in obs.chunks]
    tnorm = [norm_str(t) for t in titles]
    texts = [c.text for c in obs.chunks]
    text_norm = [norm_str(t) if t else "" for t in texts]
    qchunks = [i for i, t in enumerate(tnorm) if _contains(qnorm, t) >= 0]
    mentions: list[list[int]] = []
    first = []
    for i, t in enumerate(tnorm):
        ms, pos = [], 10 ** 9
        for j, tx in enumerate(text_norm):
            if j == i or not tx:
                continue
            p = _contains(tx, t)
            if p >= 0:
                ms.append(j)
                pos = min(pos, p)
        mentions.append(ms)
        first.append(pos)
    # entities named in the question: chunk titles found there, plus "..., X or Y?" parts
    qents: list[tuple[str, int]] = []
    seen: set[str] = set()
    for i in qchunks:
        m = re.search(re.escape(titles[i]), q, re.I)
        surf = m.group(0) if m else titles[i]
        if norm_str(surf) not in seen:
            seen.add(norm_str(surf))
            qents.append((surf, i))
    m = _OR_PAIR.search(q)
    if m:
        for part in m.groups():
            part = part.strip(" ?")
            n = norm_str(part)
            if n and n not in seen:
                seen.add(n)
                own = next((i for i, t in enumerate(tnorm) if t == n), -1)
                qents.append((part, own))
    hop, hans, how = heuristic_proposals(obs, heuristic) if heuristic is not None else (-1, None, "none")
    return ObsInfo(question=q, qnorm=qnorm, qwords=set(qnorm.split()), titles=titles, tnorm=tnorm, texts=texts,
                   heads=[preview_head(c.preview, c.title) for c in obs.chunks],
                   opened=[c.opened for c in obs.chunks], n_tokens=[c.n_tokens for c in obs.chunks],
                   qchunks=qchunks, mentions=mentions, first_mention=first, qents=qents, budget=obs.budget,
                   budget_left=obs.budget_left, steps_left=obs.steps_left, text_norm=text_norm,
                   heur_open=hop, heur_answer=hans, heur_how=how)


_REL_GROUPS = ("die died death dies dying deceased killed", "born birth birthplace birthday",
               "buried burial interred grave", "married spouse wife husband widow marriage",
               "studied study graduate graduated educated education alma attended university college school",
               "founded founder established", "directed director", "composed composer", "performed performer sung",
               "produced producer", "award awarded won prize", "father son", "mother daughter")
_REL_CANON = {w: g.split()[0] for g in _REL_GROUPS for w in g.split()}


def rel_stem(w: str) -> str:
    """Relation words of one meaning share a stem ('died'/'death' -> 'die'); others: 4-letter prefix."""
    return _REL_CANON.get(w, w[:4])


# --------------------------------------------------------------------------- question cues
CUES = (
    ("cmp_or", lambda q, w: " or " in q), ("same", lambda q, w: "same" in w), ("both", lambda q, w: "both" in w),
    ("yesno", lambda q, w: q.split(" ", 1)[0] in _AUX),
    ("first", lambda q, w: bool(w & {"first", "earlier", "older", "oldest", "earliest"})),
    ("later", lambda q, w: bool(w & {"later", "younger", "last", "recent", "recently", "youngest", "latest"})),
    ("born", lambda q, w: bool(w & {"born", "birth"})), ("died", lambda q, w: bool(w & {"die", "died", "death"})),
    ("where", lambda q, w: q.startswith("where") or "place" in w), ("when", lambda q, w: q.startswith("when") or "date" in w),
    ("who", lambda q, w: q.startswith("who") or q.startswith("whom")),
    ("nation", lambda q, w: bool(w & {"nationality", "country"})),
    ("kin", lambda q, w: bool(w & {"father", "mother", "grandfather", "grandmother", "uncle", "aunt", "spouse",
                                    "wife", "husband", "son", "daughter", "child", "sibling", "brother", "sister",
                                    "law", "paternal", "maternal", "stepmother", "stepfather"})),
    ("work", lambda q, w: bool(w & {"film", "song", "album", "novel", "book", "movie", "band", "show"})),
    ("role", lambda q, w: bool(w & {"director", "performer", "composer", "producer", "author", "founder",
                                     "directed", "writer", "screenwriter", "editor", "cinematographer"})),
)


def question_cues(qnorm: str) -> np.ndarray:
    w = set(qnorm.split())
    return np.array([float(f(qnorm, w)) for _, f in CUES], dtype=np.float32)


# --------------------------------------------------------------------------- chunk (open/stop) features
N_CHUNK_FEATS = 14
N_GLOBAL_FEATS = 11 + len(CUES)


def chunk_features(info: ObsInfo, lexicon: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (per-chunk features [n, N_CHUNK_FEATS], global features [N_GLOBAL_FEATS],
    valid mask [n] = unopened and affordable)."""
    n = len(info.titles)
    qset = {w for w in info.qwords if w not in STOPWORDS}
    qc = set(info.qchunks)
    opened_text_words = set(" ".join(info.text_norm).split())
    cf = np.zeros((n, N_CHUNK_FEATS), dtype=np.float32)
    valid = np.zeros(n, dtype=bool)
    bridge_unopened = 0
    bridge_prev_year = 0
    for i in range(n):
        tw = [w for w in info.tnorm[i].split() if w not in STOPWORDS]
        hw = [w for w in norm_words(info.heads[i]) if w not in STOPWORDS]
        ms = info.mentions[i]
        in_q = i in qc
        ment_q = any(j in qc for j in ms)
        has_year = bool(parse_dates(info.heads[i], 1))
        cf[i] = (
            float(in_q),
            sum(w in qset for w in tw) / max(1, len(tw)),
            sum(w in qset for w in hw) / max(1, len(hw)),
            float(bool(ms)),
            float(ment_q),
            min(len(ms), 3) / 3,
            math.log1p(info.n_tokens[i]) / 6,
            min(2.0, info.n_tokens[i] / max(1, info.budget_left)),
            float(has_year),
            float(any(w in lexicon for w in _WORD.findall(info.heads[i]))),
            i / 10,
            sum(w in opened_text_words for w in tw) / max(1, len(tw)),
            float(info.opened[i]),
            float(info.heur_open == i),
        )
        valid[i] = (not info.opened[i]) and info.n_tokens[i] <= info.budget_left
        if ms and not info.opened[i] and not in_q:
            bridge_unopened += 1
            bridge_prev_year += has_year
    n_open = sum(info.opened)
    g = np.concatenate([np.array([
        n_open / 5,
        len(info.qchunks) / 3,
        sum(not info.opened[i] for i in info.qchunks) / 3,
        bridge_unopened / 3,
        float(bridge_unopened > 0 and bridge_prev_year == bridge_unopened),
        info.budget_left / max(1, info.budget),
        math.log1p(info.budget_left) / 8,
        info.steps_left / 10,
        float(valid.any()),
        len(info.qents) / 3,
        float(info.heur_open < 0 and info.heur_answer is not None),
    ], dtype=np.float32), question_cues(info.qnorm)])
    return cf, g, valid


# --------------------------------------------------------------------------- answer candidates
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


def _tok_class(tok: str) -> str:
    if tok.isdigit():
        return "y" if len(tok) in (3, 4) else "d"
    if tok.lower() in MONTHS:
        return "m"
    if not tok[0].isalnum() and tok[0] != "_":
        return tok if tok in ",-'." else "p"
    if tok[0].isupper():
        return "C"
    return "c"


def _sentence_ids(toks: list[str]) -> list[int]:
    sid, out = 0, []
    for k, t in enumerate(toks):
        out.append(sid)
        if t in ".!?" and k > 0:
            prev = toks[k - 1]
            if not ((len(prev) == 1 and prev.isupper()) or prev.lower() in _ABBREV):
                sid += 1
    return out


def _is_cap(t: str) -> bool:
    return t[0].isupper() or t[0].isdigit()


def span_candidates(text: str) -> list[tuple[int, int, list[str], list[tuple[int, int]], int]]:
    """Plausible answer spans of one text: (start tok, end tok excl., tokens, offsets, sentence id).

    Entity-like spans (start and end capitalised or a number, inner tokens capitalised, numbers or
    connectors like 'of', ',', '-') and short lower-case phrases (1-2 words)."""
    ms = list(TOKEN_RE.finditer(text))
    toks = [m.group(0) for m in ms]
    offs = [(m.start(), m.end()) for m in ms]
    sids = _sentence_ids(toks)
    out = []
    n = len(toks)
    for i in range(n):
        t0 = toks[i]
        if not (t0[0].isalnum()):
            continue
        if _is_cap(t0):
            for j in range(i, min(n, i + MAX_SPAN_TOKENS)):
                tj = toks[j]
                if sids[j] != sids[i] and not (tj == "." ):
                    break
                if j > i and not (_is_cap(tj) or tj.lower() in CONNECTORS):
                    break
                if tj == "." and not (len(toks[j - 1]) == 1 and toks[j - 1].isupper()):
                    break
                if _is_cap(tj):
                    out.append((i, j + 1, toks[i:j + 1], offs, sids[i]))
        elif t0.lower() not in STOPWORDS:
            words = 0
            for j in range(i, min(n, i + 5)):
                tj = toks[j]
                if tj == "-":
                    continue
                if not tj[0].isalpha() or _is_cap(tj) or sids[j] != sids[i]:
                    break
                words += 1
                if words > 2:
                    break
                if tj.lower() not in STOPWORDS:
                    out.append((i, j + 1, toks[i:j + 1], offs, sids[i]))
    return out


def _attr(text: str, lexicon: frozenset[str]) -> str | None:
    """First nationality/country word of a text (the lexicon is learned from training answers)."""
    for w in _WORD.findall(text[:400]):
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
    cv = lambda w: w if w in ctxvocab or not w[:1].isalnum() else "_"
    qkeys = sorted({w for w in info.qwords if w in qvocab})
    w0 = info.qnorm.split(" ", 1)[0] if info.qnorm else ""
    qt = "qt=" + "_".join(qkeys)
    qword_conj = [f"w0={w0}"] + [f"q={w}" for w in qkeys if w not in STOPWORDS]
    qset = {w for w in info.qwords if w not in STOPWORDS}
    # relation words of the question (outside entity names), as 4-letter stems: matched against
    # a span's context they say "this span sits where the asked relation is stated"
    ent_words = set(" ".join(norm_str(s) for s, _ in info.qents).split())
    qrel = {rel_stem(w) for w in qset if w not in ent_words and w not in ("film", "song")}
    texts: list[str] = []
    feats: list[list[int]] = []
    where: list[int] = []

    hnorm = norm_str(info.heur_answer) if info.heur_answer else ""
    hset = set(hnorm.split())

    def heur_rel(text: str) -> str:
        if not hnorm:
            return "h=none"
        n = norm_str(text)
        if n == hnorm:
            return "h=eq"
        if _contains(n, hnorm) >= 0:
            return "h=sup"
        if _contains(hnorm, n) >= 0:
            return "h=sub"
        return "h=ovl" if set(n.split()) & hset else "h=no"

    def static_hashes(base: list[str], conj: list[str], wconj: list[str] | None) -> list[int]:
        # base features alone; every conj feature with the question template; the few wconj
        # features with each template word (shares strength across templates)
        fs = ["bias"] + base + [f"{qt}|{c}" for c in conj]
        for q in qword_conj:
            fs += [f"{q}|{c}" for c in (wconj if wconj is not None else conj)]
        return [stable_hash(f) for f in fs]

    dyn: dict[tuple[str, str], list[int]] = {}

    how = f"how={info.heur_how}"

    def heur_hashes(hr: str, kind: str) -> list[int]:
        # the features of the candidate's relation to the heuristic's answer (hr), as if appended to
        # base, conj and wconj above; and with the rule that gave that answer (its extractor's value
        # deserves more trust than its last-resort guesses)
        if (hr, kind) not in dyn:
            dyn[hr, kind] = [stable_hash(f) for f in [hr, f"{hr}|{kind}", f"{qt}|{hr}", f"{hr}|{how}",
                                                      f"{qt}|{hr}|{how}"]
                             + [f"{q}|{hr}" for q in qword_conj]]
        return dyn[hr, kind]

    props: list[np.ndarray | None] = []

    def add_hashed(text: str, static: list[int], kind: str, src: int, pr: np.ndarray | None = None) -> None:
        texts.append(text)
        where.append(src)
        props.append(pr)
        feats.append(static + heur_hashes(heur_rel(text), kind))

    def add(text: str, base: list[str], conj: list[str], wconj: list[str] | None = None, src: int = -1) -> None:
        add_hashed(text, static_hashes(base, conj, wconj), base[0], src)

    # chunk sources: visible text, else preview head
    def src_text(i: int) -> tuple[str, str]:
        return (info.texts[i], "open") if info.texts[i] is not None else (info.heads[i], "prev")

    # comparison facts for question entities
    def own_link(own: int) -> tuple[int, int]:
        if own < 0:
            return -1, -1
        best, pos = -1, 10 ** 9
        other_q = {c for _, c in info.qents}
        tx = info.text_norm[own]
        if tx:
            for j, t in enumerate(info.tnorm):
                if j == own or j in other_q:
                    continue
                p = _contains(tx, t)
                if 0 <= p < pos:
                    best, pos = j, p
        return own, best

    ent_facts = []
    for surf, own in info.qents:
        o, l = own_link(own)
        od = parse_dates(src_text(o)[0]) if o >= 0 else []
        ld = parse_dates(src_text(l)[0]) if l >= 0 else []
        ent_facts.append({
            "own": o, "link": l,
            "od1": od[0] if od else None, "od2": od[1] if len(od) > 1 else None,
            "ld1": ld[0] if ld else None, "ld2": ld[1] if len(ld) > 1 else None,
            "oa": _attr(src_text(o)[0], lexicon) if o >= 0 else None,
            "la": _attr(src_text(l)[0], lexicon) if l >= 0 else None,
            "osrc": src_text(o)[1] if o >= 0 else "none", "lsrc": src_text(l)[1] if l >= 0 else "none",
        })
    nq = len(info.qents)

    # yes / no
    yn = []
    if nq >= 2:
        a, b = ent_facts[0], ent_facts[1]
        for key in ("oa", "la"):
            yn.append(f"{key}:{'?' if a[key] is None or b[key] is None else '=' if a[key] == b[key] else '!'}")
        yn.append(f"src:{a['osrc']}{b['osrc']}{a['lsrc']}{b['lsrc']}")
    yn.append(f"nq={min(nq, 3)}")
    add("yes", ["k=yes"] + yn, ["k=yes"] + [f"yes:{f}" for f in yn])
    add("no", ["k=no"], ["k=no"])
    if hnorm and hnorm not in ("yes", "no"):
        add(info.heur_answer, ["k=heur"], ["k=heur"])

    # entities named in the question (comparison answers). The date order is also given relative to
    # the direction the question asks for ('first'/'earlier' vs 'later'/'more recently'), so one
    # weight serves both directions instead of each template learning its own sign
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
        add(surf, ["k=qent"] + fl, ["k=qent"] + fl)

    # spans from chunk texts / previews
    qc = set(info.qchunks)
    ent_link = {f["link"] for f in ent_facts if f["link"] >= 0}
    title_set = set(info.tnorm)
    lexicon_lower = {w.lower() for w in lexicon}
    for i in range(len(info.titles)):
        text, src = src_text(i)
        if not text:
            continue
        role = "q" if i in qc else ("link" if i in ent_link else ("ment" if info.mentions[i] else "other"))
        key = (info.question, "\x1f".join(info.tnorm), i, src, role, text)
        cached = span_cache.get(key) if span_cache is not None else None
        if cached is None:
            syn = parser.parse(text) if parser is not None and src == "open" else None
            cached = _span_features(text, src, role, info.tnorm[i], title_set, qset, qrel, lexicon,
                                    lexicon_lower, ctxvocab, cv, static_hashes, syn)
            if span_cache is not None:
                if len(span_cache) > 100_000:
                    span_cache.clear()
                span_cache[key] = cached
        for surf, static, pr in cached:
            add_hashed(surf, static, "k=span", i, pr)
    lens = np.array([len(f) for f in feats], dtype=np.int32)
    flat = np.fromiter((x for f in feats for x in f), dtype=np.int32, count=int(lens.sum()))
    return Candidates(texts, flat, lens, where, rerank_features(info, texts, where, props))


# --------------------------------------------------------------------------- second-stage features
# Why a second stage: the linear scorer above learns one weight per hashed feature with plain SGD,
# which keeps rare features' weights small (good against memorising, bad for rare but reliable
# signals: "the question asks for a country and the text names both 'Hungary' and 'Hungarian'").
# The rerank features are few and dense (question kind x candidate property), so a second,
# separately regularised linear layer over [first-stage score, these] can give them their weight.
QKINDS = ("any", "nation", "place", "date", "person")
PROPS = ("parsed", "ner_place", "ner_person", "ner_norp", "ner_date", "ner_org",
         "gov_rel", "gov_other", "dem_sib", "base_sib")
N_RERANK = len(QKINDS) * len(PROPS)
_NER = {"GPE": "ner_place", "LOC": "ner_place", "FAC": "ner_place", "PERSON": "ner_person", "NORP": "ner_norp",
        "DATE": "ner_date", "ORG": "ner_org"}
# lemma of a governing word -> the relation stem (rel_stem) of the question words that ask for it
_GOV_REL = {"bear": "born", "die": "die", "kill": "die", "bury": "buried", "inter": "buried", "marry": "married",
            "wed": "married", "study": "studied", "educate": "studied", "graduate": "studied", "attend": "studied",
            "found": "founded", "establish": "founded", "direct": "directed", "compose": "composed",
            "perform": "performed", "sing": "performed", "produce": "produced", "win": "award", "award": "award",
            "receive": "award", "work": "work", "employ": "work"}
_DEMONYM_END = ("an", "ish", "ese", "ine", "ic", "ch", "i")
_PROP_IX = {p: k for k, p in enumerate(PROPS)}


def span_props(sx: list[str], qrel: set[str]) -> np.ndarray:
    """The candidate properties a span's syntax features give (entity type, governing relation)."""
    pr = np.zeros(len(PROPS), np.float32)
    if not sx or sx == ["syn=none"]:
        return pr
    pr[_PROP_IX["parsed"]] = 1.0
    f = dict(x.split("=", 1) for x in sx)
    if f.get("ner") in _NER:
        pr[_PROP_IX[_NER[f["ner"]]]] = 1.0
    rel = _GOV_REL.get(f.get("gov", ""))
    if rel is not None:
        pr[_PROP_IX["gov_rel" if rel in qrel else "gov_other"]] = 1.0
    return pr


def question_kinds(qnorm: str) -> np.ndarray:
    """Which answer kind the question asks for (several may hold; 'any' always does)."""
    cue = dict(zip((n for n, _ in CUES), question_cues(qnorm)))
    nation = cue["nation"] > 0
    return np.array([1.0, nation, cue["where"] > 0 and not nation, cue["when"] > 0, cue["who"] > 0], np.float32)


def sibling_roles(texts: Sequence[str], where: Sequence[int]) -> list[str | None]:
    """For one-word span candidates that share their first four letters with another one
    ("Hungarian" / "Hungary", "Swedish" / "Sweden"): 'dem_sib' for the demonym-like form (its
    ending), 'base_sib' for the other; None when there is no such sibling."""
    key = [t[:4].lower() if len(t) >= 4 and t.isalpha() and t[0].isupper() and w >= 0 else None
           for t, w in zip(texts, where)]
    forms: dict[str, set[str]] = {}
    for t, k in zip(texts, key):
        if k:
            forms.setdefault(k, set()).add(t.lower())
    dem = lambda w: w.endswith(_DEMONYM_END)
    out: list[str | None] = []
    for t, k in zip(texts, key):
        me = t.lower()
        others = forms[k] - {me} if k else set()
        if not others:
            out.append(None)
        elif dem(me) and any(not dem(o) or len(o) < len(me) for o in others):
            out.append("dem_sib")
        elif any(dem(o) and (not dem(me) or len(me) < len(o)) for o in others):
            out.append("base_sib")
        else:
            out.append(None)
    return out


def rerank_features(info: ObsInfo, texts: Sequence[str], where: Sequence[int],
                    props: Sequence[np.ndarray | None]) -> np.ndarray:
    """[candidates, N_RERANK]: the outer product of the question's kinds and each candidate's properties."""
    pr = np.zeros((len(texts), len(PROPS)), np.float32)
    for k, p in enumerate(props):
        if p is not None:
            pr[k] = p
    for k, r in enumerate(sibling_roles(texts, where)):
        if r:
            pr[k, _PROP_IX[r]] = 1.0
    qk = question_kinds(info.qnorm)
    return (qk[None, :, None] * pr[:, None, :]).reshape(len(texts), N_RERANK)


def date_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of the dates in ``text`` (bare numbers only when they look like years)."""
    out = []
    for m in _DATE.finditer(text):
        if m.group(9) and not 100 <= int(m.group(9)) <= 2030:
            continue
        out.append(m.span())
    return out


def first_paren(text: str, within: int = 300) -> tuple[int, int]:
    """Character range of the first '( ... )' that opens near the start (a biography's lead
    parenthesis: '(3 January 1803 in Saint Petersburg - 12 September 1871 in Kuskovo)'), or (-1, -1)."""
    i = text.find("(")
    j = text.find(")", i + 1) if 0 <= i < within else -1
    return (i, j) if j > i else (-1, -1)


def layout_features(a: int, b: int, dates: list[tuple[int, int]], paren: tuple[int, int]) -> list[str]:
    """Where a span (characters a..b) sits among the text's dates: which date it is (dord: the
    first date of a biography is usually the birth, the second the death) or which date comes just
    before it (adate: '1751 in Moscow'), and whether it is inside the lead parenthesis."""
    dord = next((k for k, (ds, de) in enumerate(dates) if ds < b and a < de), None)
    adate = next((k for k in range(len(dates) - 1, -1, -1) if dates[k][1] <= a), None)
    if adate is not None and a - dates[adate][1] > 25:
        adate = None
    inpar = paren[0] < a and b <= paren[1]
    return [f"dord={'-' if dord is None else min(dord, 2)}", f"adate={'-' if adate is None else min(adate, 2)}",
            f"par={inpar}"]


def _span_features(text, src, role, tnorm, title_set, qset, qrel, lexicon, lexicon_lower, ctxvocab, cv,
                   static_hashes, syn=None) -> list[tuple[str, list[int], np.ndarray]]:
    """(surface, hashed features, rerank properties) of every span of one chunk's visible text:
    everything but the features that depend on the heuristic's current answer. ``syn``: the
    text's parse (syntax.py)."""
    out = []
    dates = date_spans(text)
    paren = first_paren(text)
    for (s, e, toks, offs, sid) in span_candidates(text):
        surf = text[offs[s][0]:offs[e - 1][1]]
        lay = layout_features(offs[s][0], offs[e - 1][1], dates, paren)
        low = [t.lower() for t in toks]
        shape = re.sub(r"(.)\1+", r"\1+", "".join(_tok_class(t) for t in toks))
        nw = [w for w in low if w[0].isalnum()]
        inq = sum(w in qset for w in nw) / max(1, len(nw))
        before = text[max(0, offs[s][0] - 60):offs[s][0]]
        after = text[offs[e - 1][1]:offs[e - 1][1] + 40]
        lt, rt = TOKEN_RE.findall(before)[-2:], TOKEN_RE.findall(after)[:2]
        l1 = cv(lt[-1].lower()) if lt else "<s>"
        l2 = " ".join(cv(w.lower()) for w in lt) or "<s>"
        r1 = cv(rt[0].lower()) if rt else "</s>"
        r2 = " ".join(cv(w.lower()) for w in rt) or "</s>"
        span_norm = " ".join(nw)
        lwin = [w for w in norm_words(before)[-5:] if w in ctxvocab and w not in STOPWORDS]
        rwin = [w for w in norm_words(after)[:3] if w in ctxvocab and w not in STOPWORDS]
        win = [f"lw={w}" for w in lwin] + [f"rw={w}" for w in rwin]
        wide = norm_words(text[max(0, offs[s][0] - 90):offs[s][0]])[-10:]
        dist = next((d for d, w in enumerate(reversed(wide)) if rel_stem(w) in qrel), None)
        rmatch = sum(rel_stem(w) in qrel for w in norm_words(after)[:5])
        qm = f"qrel={'none' if dist is None else min(dist // 2, 4)}{min(rmatch, 1)}"
        win.append(qm)
        any_title = span_norm in title_set
        base = ["k=span", f"src={src}", f"role={role}", f"shape={shape}", f"len={min(len(nw), 6)}",
                f"sid={min(sid, 3)}", f"inq={round(inq * 2)}", f"istitle={span_norm == tnorm}",
                f"l1={l1}", f"r1={r1}",
                f"lex={any(t in lexicon for t in toks)}", f"anytitle={any_title}"] + win
        conj = ["k=span", f"shape={shape}", f"role={role}", f"src={src}", f"l1={l1}", f"l2={l2}",
                f"r1={r1}", f"r2={r2}", f"inq={round(inq * 2)}", f"sid={min(sid, 3)}",
                f"rs={role}{src}{min(sid, 2)}", f"lex={any(t in lexicon for t in toks)}",
                f"istitle={span_norm == tnorm}", f"anytitle={any_title}"]
        if span_norm in lexicon_lower:  # nationality/country words: a learned prior per word
            base.append(f"w={span_norm}")
        base += lay
        conj += [f"{f}|{role}" for f in lay]
        sx = syn.span_features(offs[s][0], offs[e - 1][1]) if syn is not None else []
        base += sx
        conj += sx
        out.append((surf, static_hashes(base, conj, [f"shape={shape}", f"l1={l1}", f"r1={r1}",
                                                     f"rs={role}{src}{min(sid, 2)}",
                                                     f"lex={any(t in lexicon for t in toks)}",
                                                     f"anytitle={any_title}"] + win + lay + sx),
                    span_props(sx, qrel)))
    return out


def build_lexicon(tasks: Sequence) -> frozenset[str]:
    """Nationality/country words, learned from training tasks' evidence triples and answers."""
    words: dict[str, int] = {}
    for t in tasks:
        for ev in t.meta.get("evidences", ()) or ():
            if len(ev) == 3 and ("country" in ev[1] or "nationality" in ev[1]):
                for w in _WORD.findall(ev[2]):
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
            if tn and _contains(q, tn) >= 0:
                q = f" {q} ".replace(f" {tn} ", " ").strip()
        for w in set(q.split()):
            counts[w] = counts.get(w, 0) + 1
    return frozenset(w for w, c in counts.items() if c >= min_count)
