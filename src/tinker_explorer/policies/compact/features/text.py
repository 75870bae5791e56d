"""Text primitives of the compact policy's features: normalisation, stable hashing, dates,
relation stems."""

from __future__ import annotations

import re
import zlib

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
WORD_RE = re.compile(r"\w+")
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
DATE_RE = re.compile(
    r"(?:(\d{1,2})\s+(" + "|".join(m.capitalize() for m in MONTHS) + r")\s+(\d{3,4}))"
    r"|(?:(" + "|".join(m.capitalize() for m in MONTHS) + r")\s+(\d{1,2}),?\s+(\d{3,4}))"
    r"|(?:(" + "|".join(m.capitalize() for m in MONTHS) + r")\s+(\d{3,4}))"
    r"|(?:\b(\d{3,4})\b)")


def stable_hash(s: str) -> int:
    """Process-independent hash (Python's ``hash`` is salted per process)."""
    return zlib.crc32(s.encode("utf-8")) & (N_BUCKETS - 1)


def norm_words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


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
    for m in DATE_RE.finditer(text):
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


def contains(hay: str, needle: str) -> int:
    """Position of whole-word ``needle`` in ``hay`` (both normalised, space-joined), or -1."""
    if not needle:
        return -1
    i = f" {hay} ".find(f" {needle} ")
    return i


_REL_GROUPS = ("die died death dies dying deceased killed", "born birth birthplace birthday",
               "buried burial interred grave", "married spouse wife husband widow marriage",
               "studied study graduate graduated educated education alma attended university college school",
               "founded founder established", "directed director", "composed composer", "performed performer sung",
               "produced producer", "award awarded won prize", "father son", "mother daughter")
_REL_CANON = {w: g.split()[0] for g in _REL_GROUPS for w in g.split()}


def rel_stem(w: str) -> str:
    """Relation words of one meaning share a stem ('died'/'death' -> 'die'); others: 4-letter prefix."""
    return _REL_CANON.get(w, w[:4])


def date_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of the dates in ``text`` (bare numbers only when they look like years)."""
    out = []
    for m in DATE_RE.finditer(text):
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
