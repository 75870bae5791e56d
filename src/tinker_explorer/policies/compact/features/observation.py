"""Observation analysis: one parse of an :class:`Observation` shared by both scorers, and the
question's cue vector."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from tinker_explorer.env.types import Observation
from tinker_explorer.policies.compact.features.text import contains, norm_str, preview_head, strip_title

_OR_PAIR = re.compile(r",\s*(.+?)\s+or\s+(.+?)\s*\?*\s*$")
_AUX = frozenset("are is was were did do does has have had can could will".split())


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
    learned scorers decide how far to trust them (a warm start that imitates the heuristic, with
    learned corrections of span boundaries, answer forms and stopping)."""
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
    qchunks = [i for i, t in enumerate(tnorm) if contains(qnorm, t) >= 0]
    mentions: list[list[int]] = []
    first = []
    for i, t in enumerate(tnorm):
        ms, pos = [], 10 ** 9
        for j, tx in enumerate(text_norm):
            if j == i or not tx:
                continue
            p = contains(tx, t)
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
