"""Bridge following: the entity standing in a relation ("directed by", "son of", "married")
to the subject of an opened paragraph, preferring names that are pool titles (the next chunk)."""

from __future__ import annotations

import re

from tinker_explorer.env.types import ChunkView
from tinker_explorer.policies.heuristic.text import COUNTRY_OF, NAME_RE, fold, norm
from tinker_explorer.policies.heuristic.titles import match_name, raw_variants, title_variants


_OF_PARENTS = r"\b(?:son|daughter|child|heir|sons|daughters|children|issue) of"
_REL_CUES: dict[str, list[tuple[str, int]]] = {  # relation -> (cue regex, max characters to the name)
    "director": [(r"direct(?:ed|ion)(?: and [a-z]+)?(?: [a-z]+)? by", 60), (r"\bdirector\b", 40),
                 (r"\bfilm by\b", 40), (r"\bdirected\b", 60), (r"\bdirectorial\b", 60)],
    "composer": [(r"music (?:was )?(?:composed |written |scored )?by", 60), (r"\bcompos(?:ed|er)\b", 50),
                 (r"\bscore[ds]? by", 50), (r"\bmusic\b", 60)],
    "performer": [(r"\b(?:song|single|album|track|ep|recorded|performed|sung|released) by\b", 60),
                  (r"\bby\b", 50)],
    "producer": [(r"produced by", 60), (r"\bproducer\b", 40)],
    "creator": [(r"created by", 60), (r"\bcreator\b", 40)],
    "editor": [(r"edited by", 60), (r"\beditor\b", 40)],
    "writer": [(r"written by", 60), (r"\bwriter\b", 40), (r"\bscreenplay by\b", 60)],
    "founder": [(r"founded by", 60), (r"\bfounder\b", 40)],
    "publisher": [(r"published by", 60), (r"\bpublisher\b", 40), (r"\bpublished\b", 60)],
    "father": [(_OF_PARENTS + r" [^.;]*? and her (?:[a-z]+ )?husband,?", 5), (_OF_PARENTS, 30),
               (r"\bfather,?\s", 3), (r"\bborn to\b", 30), (r"\bfather\b", 60)],
    "mother": [(r"\bmother,?\s", 3),
               (_OF_PARENTS + r" [^.;]*? (?:and|by)(?: his (?:[a-z]+ )?(?:wife|consort),?)?(?! her)", 8),
               (r"\bborn to [^.;]*? and", 5), (r"\bmother\b", 60), (_OF_PARENTS, 30)],
    "spouse": [(r"\bmarried\b", 40), (r"\b(?:wife|husband|spouse|consort)(?: of)?,?\s", 3),
               (r"\bwidow(?:er)? of\b", 20), (r"\bmarriage (?:to|with)\b", 20), (r"\bwed\b", 20),
               (r"\b(?:boy|girl)friend\b", 5), (r"\bpartner\b", 5), (r"\b(?:wife|husband)\b", 60)],
    "child": [(r"\b(?:son|daughter|children|child|sons|daughters|heir),?\s", 5), (r"\b(?:father|mother) of\b", 5),
              (r"\b(?:son|daughter|children|child)\b", 60)],
    "sibling": [(r"\b(?:brother|sister|sibling|half-brother|half-sister),?\s", 5),
                (r"\b(?:brother|sister)s?\b", 60)],
}


def person_mentions(text: str, chunks: tuple[ChunkView, ...], exclude: set[int]) -> list[tuple[int, str, int | None]]:
    """Names in a text, in order: pool titles mentioned (with their chunk id; the longest wins
    where two overlap) and other capitalised names."""
    low = fold(text).lower()
    found: list[tuple[int, int, int]] = []
    for c in chunks:
        if c.id in exclude:
            continue
        for v in raw_variants(c.title):
            for m in re.finditer(r"(?<!\w)" + re.escape(fold(v).lower()) + r"(?!\w)", low):
                found.append((m.start(), m.end(), c.id))
    found.sort(key=lambda x: (-(x[1] - x[0]), x[0]))
    taken: list[tuple[int, int, int]] = []
    for s, e, cid in found:
        if not any(s < e2 and s2 < e for s2, e2, _ in taken):
            taken.append((s, e, cid))
    out: list[tuple[int, str, int | None]] = [(s, text[s:e], cid) for s, e, cid in taken]
    for m in NAME_RE.finditer(text):
        if any(s <= m.start() < e or m.start() <= s < m.end() for s, e, _ in taken):
            continue
        out.append((m.start(), m.group(0), None))
    return sorted(out)



_SENT_END = re.compile(r"[.;:!?]\s|\)|\(")
_KIN_RELS = ("father", "mother", "spouse", "child", "sibling")


def related_entity(text: str, rel: str, chunks: tuple[ChunkView, ...], self_id: int | None,
                   self_title: str, exclude: set[int] | None = None,
                   prefer_pooled: bool = True) -> tuple[str | None, int | None]:
    """The entity standing in relation ``rel`` to the subject of ``text``: (name, chunk id or None).

    Each name is scored by the best relation cue it follows closely (or, for kin, directly
    precedes: "X, his father"); a name that is also a pool title wins, as that is the chunk
    to read next."""
    exclude = set(exclude or ()) | ({self_id} if self_id is not None else set())
    self_norm = set(title_variants(self_title))
    for c in chunks:  # a name of an entity already on the path is never the answer
        if c.id in exclude:
            base = re.sub(r"\s*\([^)]*\)\s*$", "", c.title)
            self_norm.update({norm(c.title), norm(base)})  # not the "Name, title" head: kin share names
    mentions = [m for m in person_mentions(text, chunks, exclude)
                if norm(m[1]) not in self_norm and not _is_noise(m[1])]
    if not mentions:
        return None, None
    cues = _REL_CUES.get(rel, [(r"\b" + re.escape(rel) + r"\b", 40)])
    scored: dict[int, tuple] = {}
    for rank, (cue, gap) in enumerate(cues):
        for cm in re.finditer(cue, text, re.I):
            end = cm.end()
            k = 0
            for i, m in enumerate(mentions):
                if m[0] >= end and m[0] - end <= gap and not _SENT_END.search(text[end:m[0]]):
                    sc = (rank, k, m[0] - end)
                    k += 1
                elif rel in _KIN_RELS and m[0] < cm.start() and 0 <= cm.start() - (m[0] + len(m[1])) <= 8:
                    sc = (rank, 1, 40)
                else:
                    continue
                if i not in scored or sc < scored[i]:
                    scored[i] = sc
    pooled = [(sc, i) for i, sc in scored.items() if mentions[i][2] is not None]
    loose = [(sc, i) for i, sc in scored.items() if mentions[i][2] is None]
    if pooled and (prefer_pooled or not loose or min(pooled) < min(loose)):
        m = mentions[min(pooled)[1]]
    elif loose:
        m = mentions[min(loose)[1]]
    else:
        anyp = [m for m in mentions if m[2] is not None]
        if not anyp:
            return None, None
        m = anyp[0]
    name, cid = m[1], m[2]
    if cid is None:
        cid = match_name(name, chunks, exclude)
    return name, cid


_NOISE = set("""the he she his her it in on a an they this after born film music its their as at by for from with
during when while although however upon following before since until there these english american french german
british indian italian king queen prince princess lord lady sir saint st emperor duke count countess duchess pope
president governor general january february march april may june july august september october november
december""".split())  # capitalised words that are no one's name


def _is_noise(name: str) -> bool:
    n = norm(name)
    return not n or n in _NOISE or n.isdigit() or COUNTRY_OF.get(n) is not None and len(n.split()) == 1
