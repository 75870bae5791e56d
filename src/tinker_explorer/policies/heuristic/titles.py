"""Title matching: which pool chunks a question or a name refers to."""

from __future__ import annotations

import re
from functools import lru_cache

from tinker_explorer.env.types import ChunkView
from tinker_explorer.policies.heuristic.text import norm


@lru_cache(maxsize=65536)
def title_variants(title: str) -> tuple[str, ...]:
    """Normalised ways a chunk's title may be written: full, without "(...)", before ", "."""
    out = [norm(title)]
    base = re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()
    if base and norm(base) not in out:
        out.append(norm(base))
    head = base.split(", ")[0]
    if head and norm(head) not in out and len(norm(head).split()) >= 2:
        out.append(norm(head))
    return tuple(v for v in out if v)


def _contains(hay: str, needle: str) -> int:
    """Position of needle as whole words in hay (both normalised), or -1."""
    m = re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", hay)
    return m.start() if m else -1


def question_chunks(question: str, chunks: tuple[ChunkView, ...]) -> list[tuple[int, int, int]]:
    """Chunks whose title appears in the question: (position, -length, chunk id), best first,
    with matches contained in a longer match dropped."""
    nq = norm(question)
    found = []
    for c in chunks:
        for k, v in enumerate(title_variants(c.title)):
            p = _contains(nq, v)
            if p >= 0:
                # at equal length, an exact full title beats a base title, and a disambiguation page loses
                pen = k + (5 if "disambiguation" in c.title.lower() else 0)
                found.append((p, p + len(v), c.id, v, pen))
                break
    found.sort(key=lambda x: (-(x[1] - x[0]), x[4]))
    seen_span: set[tuple[int, int]] = set()
    found = [f for f in found if not ((f[0], f[1]) in seen_span or seen_span.add((f[0], f[1])))]
    keep = []
    for s, e, cid, v, _ in found:
        if any(s >= s2 and e <= e2 and (s, e) != (s2, e2) for s2, e2, _, _ in keep):
            continue
        keep.append((s, e, cid, v))
    return [(s, -(e - s), cid) for s, e, cid, _ in sorted(keep)]


def match_name(name: str, chunks: tuple[ChunkView, ...], exclude: set[int]) -> int | None:
    """The chunk whose title best matches a name (exact variant, then word overlap)."""
    nn = norm(name)
    if not nn:
        return None
    best, best_s = None, 0.0
    words = set(nn.split())
    for c in chunks:
        if c.id in exclude:
            continue
        vs = title_variants(c.title)
        if nn in vs:
            return c.id
        for v in vs:
            tw = set(v.split())
            s = len(words & tw) / max(len(words | tw), 1)
            if _contains(v, nn) >= 0 or _contains(nn, v) >= 0:
                s = max(s, 0.6)
            if s > best_s:
                best, best_s = c.id, s
    if best_s >= 0.5:
        return best
    last = nn.split()[-1]
    if len(last) > 3:  # "John Daumery" -> "Jean Daumery": the same surname, if only one title has it
        same = [c.id for c in chunks if c.id not in exclude and
                any(v.split()[-1] == last for v in title_variants(c.title))]
        if len(same) == 1:
            return same[0]
    return None


def span_chunk(span: str, chunks: tuple[ChunkView, ...], exclude: set[int]) -> int | None:
    """The chunk for an entity span written in the question."""
    cid = match_name(span, chunks, exclude)
    if cid is not None:
        return cid
    hits = [h for h in question_chunks(span, chunks) if h[2] not in exclude]
    return hits[0][2] if hits else None



@lru_cache(maxsize=65536)
def raw_variants(title: str) -> tuple[str, ...]:
    base = re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()
    out = [title, base]
    head = base.split(", ")[0]
    if len(head.split()) >= 2:
        out.append(head)
    return tuple(dict.fromkeys(v for v in out if v))
