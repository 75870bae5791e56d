"""Question analysis: a templated 2Wiki-style question becomes a :class:`Plan` (which person
hops to follow, which attribute to read, and whether to extract, compare or answer yes/no)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from tinker_explorer.policies.heuristic.text import norm


@dataclass(frozen=True)
class Plan:
    """What the question asks, independent of the chunks."""

    mode: str  # "extract" | "same" (yes/no) | "choose" (which of two)
    hops: tuple[str, ...]  # person relations to follow from each entity, in order
    attr: str  # attribute of the last entity: birth_date, death_date, birth_place, ..., or a relation
    pick: str = "min"  # choose: the entity with the min or max value
    spans: tuple[str, ...] = ()  # entity spans as written in the question (choose: the two options)


_HOP_WORDS = {
    "director": "director", "directors": "director", "composer": "composer", "performer": "performer",
    "producer": "producer", "father": "father", "mother": "mother", "husband": "spouse", "wife": "spouse",
    "spouse": "spouse", "child": "child", "son": "child", "daughter": "child", "sibling": "sibling",
    "brother": "sibling", "sister": "sibling", "creator": "creator", "editor": "editor",
    "writer": "writer", "screenwriter": "writer", "founder": "founder", "publisher": "publisher",
    "published": "publisher",
}

_KIN = [  # inference templates: kin word -> (hops, final person relation)
    (r"paternal grandfather", ("father",), "father"),
    (r"paternal grandmother", ("father",), "mother"),
    (r"maternal grandfather", ("mother",), "father"),
    (r"maternal grandmother", ("mother",), "mother"),
    (r"father-in-law", ("spouse",), "father"),
    (r"mother-in-law", ("spouse",), "mother"),
    (r"son-in-law|daughter-in-law|child-in-law", ("child",), "spouse"),
    (r"grandson|granddaughter|grandchild", ("child",), "child"),
    (r"stepmother", ("father",), "spouse"),
    (r"stepfather", ("mother",), "spouse"),
    (r"uncle|aunt", ("father",), "sibling"),
    (r"sister-in-law|brother-in-law|sibling-in-law", ("spouse",), "sibling"),
]


def _final_attr(q: str) -> str | None:
    ql = q.lower()
    pats = [
        (r"date of birth|birthday|when (?:was|is) .* born|born when", "birth_date"),
        (r"date of death|when did .* die\b|when .* died", "death_date"),
        (r"place of birth|where (?:was|is) .* born|birthplace", "birth_place"),
        (r"place of death|where did .* die\b|where .* died", "death_place"),
        (r"cause of death|why did .* die|how did .* die", "death_cause"),
        (r"place of burial|buried", "burial_place"),
        (r"nationality|which country|what country|country of citizenship|is from\?", "nationality"),
        (r"graduate|study|studied|educated|education|attend|school|university|alma mater", "education"),
        (r"award|prize|honou?r", "award"),
        (r"when was .* (?:founded|established|formed|created)|inception", "start_date"),
        (r"work at|works at|worked at|employer|work for|works for|employ", "employer"),
    ]
    for p, a in pats:
        if re.search(p, ql):
            return a
    return None


def _choose_spans(q: str) -> tuple[str, ...]:
    body = q.strip().rstrip("?").strip()
    m = re.search(r"\b(?:out of|between)\s+(.+)$", body)
    lead = re.match(r"^(?:was|were|did|is)\s+(.+?)\s+(?:born|died|released|founded|established)\b", body, re.I)
    if m:
        parts = re.split(r"\s+and\s+", m.group(1))
    elif lead:
        parts = re.split(r"\s+or\s+", lead.group(1))
    else:
        i = body.find(", ")
        parts = re.split(r"\s+or\s+", body[i + 2:]) if i >= 0 else []
    if len(parts) < 2:
        return ()
    if len(parts) > 2:  # an option itself contains " or ": keep the split nearest the middle
        k = len(parts) // 2
        joiner = " and " if m else " or "
        parts = [joiner.join(parts[:k]), joiner.join(parts[k:])]
    return tuple(p.strip().rstrip("?").strip() for p in parts)


def mask_entities(question: str, names: Sequence[str]) -> str:
    """The question with each known entity name replaced by "ENTITY", so that words inside
    a title ("Fireman Save My Child", "Edward Despenser (Died 1342)") are not read as template words."""
    q = question
    for name in sorted(names, key=len, reverse=True):
        words = norm(name).split()
        if not words:
            continue
        pat = r"(?<!\w)" + r"[\W_]+".join(re.escape(w) for w in words) + r"(?:\s*\))?(?!\w)"
        q = re.sub(pat, "ENTITY", q, flags=re.I)
    return q


def parse_question(question: str, entities: Sequence[str] = ()) -> Plan:
    """Plan a question; ``entities`` (names known to be in it, e.g. matched chunk titles) are
    masked out before looking for template words."""
    q = " ".join(question.replace(" 's", "'s").split())
    spans_q = q
    if entities:
        q = mask_entities(q, entities)
    ql = q.lower()
    # --- yes/no: same country / nationality
    if re.match(r"^(are|is|do|does|did|were|was)\b", ql) and re.search(r"same (country|nationality)|both .* from", ql):
        hops = ("director",) if re.search(r"\bdirectors?\b", ql) else ()
        return Plan("same", hops, "nationality")
    if re.match(r"^(are|is|do|does|did|were|was)\b", ql) and re.search(r"same (place|city|town)", ql):
        hops = ("director",) if re.search(r"\bdirectors?\b", ql) else ()
        return Plan("same", hops, "death_place" if re.search(r"\bdied\b|\bdeath\b", ql) else "birth_place")
    # --- which of two ("Who was born first, A or B?", "Was A or B born first?")
    if (re.match(r"^(who|which)\b", ql) and (" or " in ql or re.search(r"\b(out of|between)\b", ql))) or \
            (re.match(r"^(was|were|did|is)\b", ql) and " or " in ql and not re.search(r"\bsame\b", ql)):
        spans = _choose_spans(spans_q)
        tmpl = ql
        for sp in spans:  # read the template words only: "The Last Night" must not mean "last"
            tmpl = tmpl.replace(sp.lower(), " ")
        hops = ("director",) if re.search(r"\bdirector\b", tmpl) else ()
        if "lived longer" in tmpl or "live longer" in tmpl:
            return Plan("choose", hops, "lifespan", "max", spans)
        died = re.search(r"\bdied\b|\bdie\b|\bdeath\b", tmpl)
        attr = "death_date" if died else "birth_date"
        if re.search(r"film|album|released|came out|magazine|establish|founded|school|one was|published|formed|"
                     r"built|opened|created|band|company|book|novel|game|came first", tmpl) and \
                not re.search(r"\bborn\b|older|younger|\bdied\b|director", tmpl):
            attr = "start_date"
        later = re.search(r"\b(later|last|younger|more recent|more recently|latest|newer|most recent)\b", tmpl)
        return Plan("choose", hops, attr, "max" if later else "min", spans)
    # --- inference (kinship)
    for pat, hops, rel in _KIN:
        if re.search(r"\b(" + pat + r")\b", ql) and ql.startswith("who"):
            return Plan("extract", hops, "rel:" + rel)
    # --- compositional / single-hop extraction
    attr = _final_attr(q)
    if attr is None and re.search(r"\bmarr(?:y|ied)\b", ql):
        attr = "rel:spouse"
    hop_words = [_HOP_WORDS[w] for w in re.findall(r"\b(" + "|".join(_HOP_WORDS) + r")\b", ql)]
    if attr is None:
        # "Who is the spouse of the director of film X?" / "Who is X's father?": last word is the attribute
        if hop_words:
            # the outermost relation in English is the first one mentioned in "the A of the B of X"
            # but the last one in "X's A": order the hops from the entity outwards
            chain = _hop_order(ql, hop_words)
            return Plan("extract", tuple(chain[:-1]), "rel:" + chain[-1])
        return Plan("extract", (), "any")
    chain = _hop_order(ql, hop_words)
    return Plan("extract", tuple(chain), attr)  # attr may be "rel:spouse" (who did X marry)


def _hop_order(ql: str, hop_words: list[str]) -> list[str]:
    """Hops from the entity outwards: "the A of the B of X" -> [B, A]; "X's A" -> [A]."""
    if not hop_words:
        return []
    if re.search(r"'s\s+(" + "|".join(_HOP_WORDS) + r")\b", ql) and len(hop_words) == 1:
        return hop_words
    return list(reversed(hop_words))
