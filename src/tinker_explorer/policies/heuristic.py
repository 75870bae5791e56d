"""Rule-based reader: the bar every learned policy must beat.

It parses the (templated) question into a small plan (which entities, which person hops
to follow, which attribute to extract, and whether to extract, compare two values or
answer yes/no), then replays that plan on the current observation at every step: open
the chunk titled like the next entity, read the bridge entity after the relation words
("directed by", "son of", "married" ...), open the chunk titled like it, and finally
extract the attribute (dates, places, nationalities, names) from the last chunk read.
Everything is derived from the observation, so the policy is stateless across steps and
episodes and deterministic (the episode rng is never used).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from tinker_explorer.env.types import Action, ChunkView, Observation
from tinker_explorer.policies.base import SimplePolicy

# ---------------------------------------------------------------------------------------
# text helpers
# ---------------------------------------------------------------------------------------

_UP = "A-ZÀ-ÖØ-ÞĀ-Žƀ-ɏ"  # upper-case-ish Latin letters (Latin Extended-A is mixed; fine for names)
_CAP = rf"(?:[{_UP}]\.|[{_UP}][\w'’\-]*|\d+(?:st|nd|rd|th))"
_LINK = r"(?:of|de|von|van|der|den|da|di|du|la|le|del|della|the|y|bin|ibn|al|zu|af)"
NAME = rf"{_CAP}(?:\s+(?:{_LINK}\s+)*{_CAP})*"
NAME_RE = re.compile(NAME)

MONTHS = ("January February March April May June July August September October November December").split()
_MON = "|".join(MONTHS)
DATE = (rf"(?:\d{{1,2}}\s+(?:{_MON})\s+\d{{1,4}}|(?:{_MON})\s+\d{{1,2}},?\s+\d{{1,4}}|"
        rf"(?:{_MON})\s+\d{{3,4}}|\d{{3,4}})(?:\s*(?:BC|BCE|AD))?")
DATE_RE = re.compile(rf"(?<![\w])({DATE})(?![\w])")
YEAR_RE = re.compile(r"(?<![\w])(1[0-9]{3}|20[0-9]{2})(?![\w])")


def fold(s: str) -> str:
    """Accents removed, one character per character ("Companéez" -> "Companeez"), so that
    positions found in the folded text are positions in the original."""
    return "".join(unicodedata.normalize("NFD", ch)[0] for ch in s)


def norm(s: str) -> str:
    """Lower-case, accent-free, punctuation to spaces, collapsed: for title/question matching."""
    s = fold(s).lower().replace("’", "'")
    s = re.sub(r"[^\w\s]", " ", s)
    return " ".join(s.split())


def parse_date(s: str) -> tuple[int, int, int] | None:
    """(year, month, day) of a date string; missing parts are 0; BC years negative."""
    nums = re.findall(r"\d+", s)
    if not nums:
        return None
    year = int(nums[-1])
    day = int(nums[0]) if len(nums) > 1 else 0
    month = 0
    for i, name in enumerate(MONTHS):
        if name in s:
            month = i + 1
    if re.search(r"\bBC", s):
        year = -year
    return (year, month, day)


def first_sentence(text: str) -> str:
    """The first sentence (abbreviations like "U.S." or "J." do not end it)."""
    m = re.search(r"(?<![A-Z])(?<!\b[A-Z][a-z])(?<!\bSt)(?<!\bNo)\.\s+(?=[A-Z\"])", text)
    return text[: m.start() + 1] if m else text


# ---------------------------------------------------------------------------------------
# nationalities
# ---------------------------------------------------------------------------------------

_COUNTRIES = """United States:American/America/U.S./US/USA/United States of America;
United Kingdom:British/English/Scottish/Welsh/UK/England/Scotland/Wales/Great Britain/Britain;India:Indian;
France:French;Germany:German/West German/East German/West Germany/East Germany;Italy:Italian;Spain:Spanish;
Iran:Iranian/Persian;Canada:Canadian;Australia:Australian;Japan:Japanese;China:Chinese;Russia:Russian;
Soviet Union:Soviet/USSR;Sweden:Swedish;Norway:Norwegian;Denmark:Danish;Finland:Finnish;Netherlands:Dutch;
Belgium:Belgian;Austria:Austrian;Switzerland:Swiss;Poland:Polish;
Czech Republic:Czech/Czechoslovak/Czechoslovakia;Slovakia:Slovak;Hungary:Hungarian;Romania:Romanian;
Bulgaria:Bulgarian;Greece:Greek;Turkey:Turkish/Ottoman;Portugal:Portuguese;Brazil:Brazilian;
Argentina:Argentine/Argentinian;Mexico:Mexican;Chile:Chilean;Peru:Peruvian;Colombia:Colombian;
Venezuela:Venezuelan;Cuba:Cuban;Ireland:Irish/Republic of Ireland;New Zealand:New Zealander;
South Africa:South African;Egypt:Egyptian;Nigeria:Nigerian;Kenya:Kenyan;Ghana:Ghanaian;Ethiopia:Ethiopian;
Morocco:Moroccan;Algeria:Algerian;Tunisia:Tunisian;Libya:Libyan;Israel:Israeli;Lebanon:Lebanese;Syria:Syrian;
Iraq:Iraqi;Saudi Arabia:Saudi;Pakistan:Pakistani;Bangladesh:Bangladeshi;Sri Lanka:Sri Lankan;
Nepal:Nepali/Nepalese;Afghanistan:Afghan;South Korea:South Korean/Korean/Korea;North Korea:North Korean;
Philippines:Filipino/Philippine;Indonesia:Indonesian;Malaysia:Malaysian;Thailand:Thai;Vietnam:Vietnamese;
Taiwan:Taiwanese;Hong Kong:Hongkonger;Singapore:Singaporean;Ukraine:Ukrainian;Belarus:Belarusian;
Lithuania:Lithuanian;Latvia:Latvian;Estonia:Estonian;Serbia:Serbian;Croatia:Croatian;Slovenia:Slovenian/Slovene;
Bosnia and Herzegovina:Bosnian;Yugoslavia:Yugoslav;Albania:Albanian;Georgia:Georgian;Armenia:Armenian;
Azerbaijan:Azerbaijani;Kazakhstan:Kazakh;Uzbekistan:Uzbek;Iceland:Icelandic;Luxembourg:Luxembourgish;
Monaco:Monegasque;Jamaica:Jamaican;Trinidad and Tobago:Trinidadian;Uruguay:Uruguayan;Paraguay:Paraguayan;
Bolivia:Bolivian;Ecuador:Ecuadorian;Democratic Republic of the Congo:Congolese;Cameroon:Cameroonian;
Senegal:Senegalese;Uganda:Ugandan;Tanzania:Tanzanian;Zimbabwe:Zimbabwean;Zambia:Zambian;Jordan:Jordanian;
Kuwait:Kuwaiti;Qatar:Qatari;United Arab Emirates:Emirati;Mongolia:Mongolian;Myanmar:Burmese/Burma;
Cambodia:Cambodian;Cyprus:Cypriot;Malta:Maltese;Macedonia:Macedonian/North Macedonia;Moldova:Moldovan;
Montenegro:Montenegrin;Puerto Rico:Puerto Rican;Dominican Republic:Dominican;Haiti:Haitian;Guatemala:Guatemalan;
Honduras:Honduran;Panama:Panamanian;Costa Rica:Costa Rican;El Salvador:Salvadoran;Nicaragua:Nicaraguan;
Sudan:Sudanese;Somalia:Somali;Mali:Malian;Fiji:Fijian;Samoa:Samoan;Prussia:Prussian;Bavaria:Bavarian;
Kingdom of Hungary:;Austria-Hungary:Austro-Hungarian"""


def _build_countries() -> tuple[dict[str, str], re.Pattern]:
    table: dict[str, str] = {}
    for item in _COUNTRIES.replace("\n", "").split(";"):
        country, _, adjs = item.partition(":")
        country = country.strip()
        table[country.lower()] = country
        for a in adjs.split("/"):
            if a.strip():
                table[a.strip().lower()] = country
    alts = sorted(table, key=len, reverse=True)
    pat = re.compile(r"(?<![\w])(" + "|".join(re.escape(a) for a in alts) + r")(?![\w])", re.I)
    return table, pat


COUNTRY_OF, COUNTRY_RE = _build_countries()


def nationality_mentions(text: str) -> list[tuple[str, str]]:
    """(as written, canonical country) for each country/demonym mention, in order."""
    out = []
    for m in COUNTRY_RE.finditer(text):
        w = m.group(1)
        if re.match(r"-\s?born\b", text[m.end():m.end() + 7]):
            continue  # "Belgian-born French director": the nationality is the second one
        if w.isupper() and len(w) > 3 and w not in ("USSR",):
            continue
        if w[0].islower():
            continue
        out.append((w, COUNTRY_OF[w.lower()]))
    return out


# ---------------------------------------------------------------------------------------
# question parsing
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# title matching
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# relation extraction from an opened text
# ---------------------------------------------------------------------------------------

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
        for v in _raw_variants(c.title):
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


@lru_cache(maxsize=65536)
def _raw_variants(title: str) -> tuple[str, ...]:
    base = re.sub(r"\s*\([^)]*\)\s*$", "", title).strip()
    out = [title, base]
    head = base.split(", ")[0]
    if len(head.split()) >= 2:
        out.append(head)
    return tuple(dict.fromkeys(v for v in out if v))


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
                if norm(m[1]) not in self_norm and not _is_noise(m[1], rel)]
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


def _is_noise(name: str, rel: str = "") -> bool:
    n = norm(name)
    return not n or n in _NOISE or n.isdigit() or COUNTRY_OF.get(n) is not None and len(n.split()) == 1


# ---------------------------------------------------------------------------------------
# attribute extraction
# ---------------------------------------------------------------------------------------

def _paren_place(part: str) -> str | None:
    """A place name inside one side of a life range: "14 January 1896 in Lviv" -> "Lviv"."""
    rest = DATE_RE.sub(" ", part)
    rest = re.sub(r"\b(?:born|died|c\.|ca\.|circa|in|at|near|baptised|baptized|b\.|d\.)\b", " ", rest)
    m = re.search(rf"({_PCAP}(?:\s+(?:(?:of|de|del|da|di|upon|on|am|an|la|le|sur|en)\s+)?{_PCAP})*)", rest)
    if not m or m.group(1) in MONTHS or m.group(1) in ("BC", "AD", "Cal"):
        return None
    return m.group(1)


def _life_range(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    """Birth date, death date, birth place, death place from the first "(... – ...)" with dates."""
    head = text[:400]
    for pm in re.finditer(r"\(([^()]*)\)", head):
        inner = pm.group(1)
        parts = re.split(r"\s*(?:–|—|-|;\s*died|\bto\b)\s*(?=[^–—-]*\d)", inner, maxsplit=1)
        if len(parts) == 2:
            left = DATE_RE.findall(parts[0])
            right = DATE_RE.findall(parts[1])
            if left or right:
                bp = _paren_place(parts[0].split(";")[-1]) if left else None
                dp = _paren_place(parts[1]) if right else None
                return (left[-1] if left else None, right[0] if right else None, bp, dp)
        dates = DATE_RE.findall(inner)
        if len(dates) == 2 and not re.search(r"\b(?:born|died|b\.|d\.)", inner):  # "(May 25, 1902 December 5, 1981)"
            return dates[0], dates[1], None, None
        if dates and re.search(r"\bborn\b|\bb\.", inner):
            return dates[0], None, _paren_place(inner), None
        if dates and re.search(r"\bdied\b|\bd\.", inner):
            return None, dates[0], None, _paren_place(inner)
    return None, None, None, None


def birth_date(text: str) -> str | None:
    b = _life_range(text)[0]
    if b:
        return b
    m = re.search(rf"\bborn\b[^.;]{{0,40}}?({DATE})", text, re.I)
    return m.group(1) if m else None


def death_date(text: str) -> str | None:
    d = _life_range(text)[1]
    if d:
        return d
    m = re.search(rf"\b(?:died|death|killed|executed)\b[^.;]{{0,40}}?({DATE})", text, re.I)
    return m.group(1) if m else None


_PCAP = rf"(?:St\.|Ste\.|Mt\.|Ft\.|[{_UP}][\w'’\-]*)"
_PLINK = r"(?:of|de|del|da|di|upon|on|am|an|la|le|sur|en|an der|am der|im|in der|bei)"
PLACE = rf"{_PCAP}(?:\s+(?:{_PLINK}\s+)?{_PCAP})*(?:,\s+{_PCAP}(?:\s+{_PCAP})*)?"


def _place_after(text: str, cue: str) -> str | None:
    m = re.search(cue + rf"[^.;()]{{0,60}}?\b(?:in|at|near)\s+(?:the\s+)?"
                        rf"(?:city of\s+|town of\s+|village of\s+)?({PLACE})",
                  text)
    if m:
        return _clean_place(m.group(1))
    return None


def _clean_place(p: str) -> str:
    p = re.sub(r",?\s+(?:on|in|at)\s*$", "", p).strip(" ,")
    parts = [x.strip() for x in p.split(",")]
    parts = [x for x in parts if not DATE_RE.fullmatch(x) and x not in MONTHS]
    return parts[0] if parts else p  # gold places are the most specific name: "Lahore", not "Lahore, Punjab"


def birth_place(text: str) -> str | None:
    p = _life_range(text)[2]
    if p:
        return p
    m = re.search(rf"\(\s*born\s+({PLACE})\s*,\s*(?:\d|{_MON})", text[:400])
    if m:
        return _clean_place(m.group(1))
    m = re.search(rf"\(\s*(?:{DATE})\s*,\s*({PLACE})\s*[–—-]", text[:400])
    if m:
        return _clean_place(m.group(1))
    m = re.search(rf"\(\s*({PLACE})\s*,\s*(?:{DATE})\s*[–—-]", text[:400])
    if m:
        return _clean_place(m.group(1))
    return _place_after(text, r"\b(?:born|native of|birth)\b")


def death_place(text: str) -> str | None:
    p = _life_range(text)[3]
    if p:
        return p
    m = re.search(rf"[–—-]\s*(?:{DATE})\s*,\s*({PLACE})\s*\)", text[:400])
    if m:
        return _clean_place(m.group(1))
    m = re.search(rf"[–—-]\s*({PLACE})\s*,\s*(?:{DATE})\s*\)", text[:400])
    if m:
        return _clean_place(m.group(1))
    m = re.search(rf"died\s+({PLACE})\s+(?:\d|{_MON})", text[:400])
    if m:
        return _clean_place(m.group(1))
    return _place_after(text, r"\b(?:died|death|killed|passed away|executed)\b")


def burial_place(text: str) -> str | None:
    return _place_after(text, r"\b(?:buried|interred|entombed|grave)\b")


def nationality(text: str) -> str | None:
    s = first_sentence(text)
    m = re.search(r"\b(?:is|was|are|were)\s+(?:an?\s+|the\s+)?(?:former\s+|retired\s+)?(.{0,80})", s)
    zone = m.group(1) if m else s
    found = nationality_mentions(zone) or nationality_mentions(s) or nationality_mentions(text)
    return found[0][0] if found else None


_PLACE_NOUN = re.compile(r"\b(?:village|city|town|district|county|river|airport|lake|mountain|island|located|station|"
                         r"municipality|commune|province|region|capital|settlement|neighbourhood|suburb|"
                         r"school|university|college|company|building|bridge|park|church|hospital)\b", re.I)


def countries(text: str) -> set[str]:
    """Canonical countries a chunk's subject belongs to: every demonym describing a person
    ("British-American" -> both), the enclosing country of a place, the origin of a film."""
    s = first_sentence(text)
    m = re.search(r"\b(?:is|was|are|were)\s+(.*)", s)
    zone = m.group(1) if m else s
    found = nationality_mentions(zone) or nationality_mentions(s) or nationality_mentions(text[:600])
    if not found:
        return set()
    if _PLACE_NOUN.search(zone[:120]) and not re.search(r"\bfilm\b", zone[:60]):
        return {found[-1][1]}
    head = re.split(r"[,;(]|\bwho\b|\bwhich\b|\bthat\b|\bknown\b|\bbest\b", zone)[0]
    near = [c for _, c in nationality_mentions(head)]
    return set(near) if near else {found[0][1]}


def start_date(text: str) -> str | None:
    """When a work/organisation began: "is a 1987 film", else the date after "founded/released...",
    else the first year mentioned."""
    m = re.search(r"\b(?:is|was)\s+an?\s+(?:[\w-]+\s+){0,2}?(\d{4})\b", first_sentence(text))
    if m:
        return m.group(1)
    m = re.search(rf"\b(?:released|founded|established|formed|opened|built|published|premiered|launched|"
                  rf"created|began|started|inception|incorporated|debuted|aired)\b[^.;]{{0,40}}?({DATE})", text, re.I)
    if m:
        return m.group(1)
    y = YEAR_RE.search(text)
    return y.group(1) if y else None


_INST_WORD = (r"(?:University|College|School|Academy|Institute|Conservatory|Conservatoire|Seminary|Polytechnic|"
              r"Gymnasium|Lyceum|Universit[éày]|Hochschule)")
INST_RE = re.compile(rf"((?:{_PCAP}\s+(?:(?:of|for|and|de|&)\s+)?)*{_INST_WORD}"
                     rf"(?:\s+(?:of|for|de)\s+(?:the\s+)?{_PCAP}(?:\s+{_PCAP})*)?)")
_EDU_CUE = re.compile(r"\b(?:graduat\w*|studied|study|studies|educated|attended|alumn\w*|degree|diploma|enrolled|"
                      r"trained|student|schooling|matriculated|B\.?A\.?|M\.?A\.?|Ph\.?D\.?|MFA|BFA)\b")


def education(text: str) -> str | None:
    """The institution named closest after an education cue ("graduated from", "studied at" ...)."""
    insts = [(m.start(), m.group(1)) for m in INST_RE.finditer(text)]
    best = None
    for cm in _EDU_CUE.finditer(text):
        for pos, name in insts:
            if pos >= cm.end() and pos - cm.end() <= 80 and not re.search(r"[.;]\s", text[cm.end():pos]):
                d = (0 if re.match(r"graduat|degree|alumn|B\.?A|M\.?A|Ph", cm.group(0)) else 1, pos - cm.end())
                if best is None or d < best[0]:
                    best = (d, name)
                break
    if best:
        return best[1]
    inst = rf"((?:the\s+)?{_CAP}(?:\s+(?:of|for|and|de|the|&)\s+{_CAP}|\s+{_CAP})*)"
    for cue in (r"graduated (?:from|in)", r"graduate of", r"studied (?:[a-z ]{0,30})?at", r"educated at",
                r"attended", r"alumnus of", r"alumna of", r"degree (?:[a-z ]{0,30})?from", r"student at"):
        m = re.search(r"\b" + cue + r"\s+" + inst, text)
        if m:
            return re.sub(r"^the\s+", "", m.group(1))
    return insts[0][1] if insts else None


_CAUSES = ("heart attack|heart failure|cardiac arrest|myocardial infarction|stroke|cancer|leukemia|leukaemia|"
           "lymphoma|tuberculosis|pneumonia|influenza|cholera|typhoid|smallpox|plague|malaria|diabetes|"
           "cirrhosis|suicide|drowning|drowned|shot|murdered|assassinated|executed|hanged|beheaded|"
           "car accident|car crash|plane crash|accident|illness|disease|dementia|alzheimer's disease|"
           "parkinson's disease|aids|overdose|kidney failure|renal failure|liver failure|heart disease|"
           "respiratory failure|emphysema|bronchitis|sepsis|natural causes|old age|killed in action|"
           "brain tumor|brain tumour|lung cancer|breast cancer|pancreatic cancer|prostate cancer|"
           "stomach cancer|colon cancer|throat cancer|bone cancer|liver cancer|hanged, drawn and quartered")
_CAUSE_RE = re.compile(rf"\b({_CAUSES})\b", re.I)


def cause_of_death(text: str) -> str | None:
    """A cause-of-death phrase from a fixed lexicon, preferring one near "died"/"death"."""
    near = []
    for dm in re.finditer(r"\b(?:died|death|dies|killed|succumbed)\b", text, re.I):
        window = text[max(0, dm.start() - 80): dm.end() + 80]
        near += [m.group(1) for m in _CAUSE_RE.finditer(window)]
    cands = near or [m.group(1) for m in _CAUSE_RE.finditer(text)]
    if cands:
        return max(cands[:3], key=len)  # the most specific of the first few ("lung cancer" over "cancer")
    m = re.search(r"\b(?:died|death)\b[^.;]{0,60}?\b(?:of|from|due to)\s+(?:a\s+|an\s+|complications of\s+)?"
                  r"([a-z][a-z' -]{2,40}?)(?=[.,;]|\s+(?:in|at|on|aged|at the age)\b)", text)
    return m.group(1).strip() if m else None


def award(text: str) -> str | None:
    m = re.search(rf"\b(?:won|received|awarded|recipient of|winner of|honoured with|honored with)\s+(?:the\s+|an?\s+)?"
                  rf"({_CAP}(?:\s+(?:of|for|the|in|de)\s+{_CAP}|\s+{_CAP})*)", text)
    return m.group(1) if m else None


def employer(text: str) -> str | None:
    m = re.search(rf"\b(?:worked|works|working|employed|professor|lecturer|teacher|job)\s+"
                  rf"(?:as\s+[a-z ]+\s+)?(?:for|at|by|with)\s+"
                  rf"(?:the\s+)?({_CAP}(?:\s+(?:of|for|the|in|de|and)\s+{_CAP}|\s+{_CAP})*)", text)
    return m.group(1) if m else None


EXTRACTORS = {
    "birth_date": birth_date, "death_date": death_date, "birth_place": birth_place, "death_place": death_place,
    "burial_place": burial_place, "nationality": nationality, "start_date": start_date, "education": education,
    "death_cause": cause_of_death, "award": award, "employer": employer,
}


def _fallback(attr: str, text: str) -> str | None:
    if attr.endswith("date"):
        m = DATE_RE.search(text)
        return m.group(1) if m else None
    if attr.endswith("place"):
        m = re.search(rf"\bin\s+({PLACE})", text)
        if m and m.group(1) not in MONTHS:
            return _clean_place(m.group(1))
        f = nationality_mentions(first_sentence(text))
        return f[0][0] if f else None
    if attr == "nationality":
        f = nationality_mentions(text)
        return f[0][0] if f else None
    return None


# ---------------------------------------------------------------------------------------
# the policy
# ---------------------------------------------------------------------------------------

@dataclass
class _Need:
    """Result of replaying the plan for one entity: a chunk to open, or a value (maybe None)."""

    open: int | None = None
    value: str | None = None
    text: str = ""  # the text the value came from (for fallbacks)
    stuck: bool = False  # a chunk on the path was not found (worth opening a best-guess chunk)


class HeuristicPolicy(SimplePolicy):
    """Rule-based plan-and-extract reader (see the module docstring)."""

    name = "heuristic"

    def __init__(self, *, max_opens: int = 6, fallback_opens: int = 1):
        self.max_opens = max_opens  # never open more than this many chunks
        self.fallback_opens = fallback_opens  # best-overlap chunks to try when the plan finds no chunk

    # -- entry point -------------------------------------------------------------------
    def act(self, obs: Observation, rng: np.random.Generator | None = None) -> Action:
        plan, starts, needs = self._read(obs)
        nxt = self._next_open(obs, starts, needs)
        return Action.open(nxt) if nxt is not None else Action.answer(self._answer(plan, starts, needs, obs)[0])

    def propose(self, obs: Observation) -> tuple[int | None, str, str]:
        """(the chunk ``act`` would open now, or None; the answer it would give if it had to answer
        now; which rule gave that answer), from one reading of ``obs``: the compact policy's features."""
        plan, starts, needs = self._read(obs)
        return (self._next_open(obs, starts, needs),) + self._answer(plan, starts, needs, obs)

    def _read(self, obs: Observation) -> tuple[Plan, list[int], list[_Need]]:
        masked = [v for _, _, cid in question_chunks(obs.question, obs.chunks)
                  for v in _raw_variants(obs.chunks[cid].title)]
        plan = parse_question(obs.question, masked)
        starts = self._start_chunks(plan, obs)
        return plan, starts, [self._replay(plan, sid, obs) for sid in starts]

    def _next_open(self, obs: Observation, starts: list[int], needs: list[_Need]) -> int | None:
        if obs.steps_left <= 1 or len(obs.opened_ids) >= self.max_opens:
            return None
        for nd in needs:
            if nd.open is not None and self._affordable(obs, nd.open):
                return nd.open
        if not starts or any(nd.stuck for nd in needs):
            return self._fallback_chunk(obs)
        return None

    # -- planning ------------------------------------------------------------------------
    def _start_chunks(self, plan: Plan, obs: Observation) -> list[int]:
        chunks = obs.chunks
        if plan.mode == "choose" and len(plan.spans) == 2:
            ids: list[int] = []
            for span in plan.spans:
                cid = span_chunk(span, chunks, set(ids))
                if cid is not None:
                    ids.append(cid)
            if len(ids) == 2:
                return ids
        hits = [cid for _, _, cid in question_chunks(obs.question, chunks)]
        want = 1 if plan.mode == "extract" else 2
        if plan.mode == "extract" and hits:
            # the question's subject is the longest title it mentions
            best = min(question_chunks(obs.question, chunks), key=lambda h: h[1])
            return [best[2]]
        if len(hits) >= want:
            return hits[:want]
        if not hits:
            best = self._overlap_ranked(obs)
            return best[:want]
        return hits

    def _overlap_ranked(self, obs: Observation) -> list[int]:
        qw = set(norm(obs.question).split()) - _STOP
        scored = []
        for c in obs.chunks:
            tw = set(norm(c.title).split()) - _STOP
            pw = set(norm(c.preview).split()) - _STOP
            scored.append((-(2 * len(qw & tw) + 0.5 * len(qw & pw)), c.id))
        return [cid for _, cid in sorted(scored)]

    def _affordable(self, obs: Observation, cid: int) -> bool:
        c = obs.chunks[cid]
        return c.opened or c.n_tokens <= obs.budget_left

    def _fallback_chunk(self, obs: Observation) -> int | None:
        tried = sum(1 for c in obs.chunks if c.opened)
        if tried >= self.fallback_opens + 2:
            return None
        for cid in self._overlap_ranked(obs):
            c = obs.chunks[cid]
            if not c.opened and c.n_tokens <= obs.budget_left:
                return cid
        return None

    def _replay(self, plan: Plan, start: int, obs: Observation) -> _Need:
        chunks = obs.chunks
        cur = chunks[start]
        if not cur.opened:
            return _Need(open=cur.id)
        text = cur.text or ""
        visited = {cur.id}
        for hop in plan.hops:
            name, nid = related_entity(text, hop, chunks, cur.id, cur.title, exclude=visited)
            if nid is None or nid in visited:
                return _Need(value=None, text=text, stuck=True)
            nxt = chunks[nid]
            if not nxt.opened:
                return _Need(open=nid)
            cur, text = nxt, nxt.text or ""
            visited.add(nid)
        return _Need(value=self._extract(plan.attr, text, cur, chunks, visited), text=text)

    def _extract(self, attr: str, text: str, cur: ChunkView, chunks, visited: set[int]) -> str | None:
        if attr.startswith("rel:"):
            name, cid = related_entity(text, attr[4:], chunks, cur.id, cur.title, exclude=visited,
                                       prefer_pooled=False)
            if cid is not None and name is not None and norm(name) in title_variants(chunks[cid].title):
                return re.sub(r"\s*\([^)]*\)\s*$", "", chunks[cid].title)
            return name
        if attr == "lifespan":
            b, d = birth_date(text), death_date(text)
            pb, pd = (parse_date(b) if b else None), (parse_date(d) if d else None)
            if pb and pd:
                return str((pd[0] - pb[0]) * 372 + (pd[1] - pb[1]) * 31 + (pd[2] - pb[2]))
            return None
        fn = EXTRACTORS.get(attr)
        if fn is None:
            return None
        if attr == "start_date":  # "Dilan 1991 is a 2019 film": the title's own year is no date
            for v in _raw_variants(cur.title):
                text = text.replace(v, " ")
        return fn(text) or _fallback(attr, text)

    # -- answering -----------------------------------------------------------------------
    def _answer(self, plan: Plan, starts: list[int], needs: list[_Need], obs: Observation) -> tuple[str, str]:
        """The answer and which rule gave it ("value": read off the plan's last paragraph, by the
        attribute's extractor or its catch-all pattern; "fallback", "name", ...: a guess when the
        plan found no value)."""
        if plan.mode == "same" and plan.attr != "nationality":
            vals = [norm(nd.value) if nd.value else "" for nd in needs]
            return ("yes" if len(vals) == 2 and vals[0] and vals[0] == vals[1] else "no"), "same"
        if plan.mode == "same":
            sets = []
            for nd in needs:
                c = countries(nd.text) if nd.text else set()
                if not c and nd.value:
                    c = {COUNTRY_OF.get(nd.value.lower(), nd.value)}
                sets.append(c)
            if len(sets) == 2 and sets[0] and sets[1]:
                return ("yes" if sets[0] & sets[1] else "no"), "same"
            return "no", "same_default"
        if plan.mode == "choose":
            options = list(plan.spans) if len(plan.spans) == 2 else [obs.chunks[s].title for s in starts]
            if not options:
                return "yes", "choose_default"
            vals = []
            for nd in needs:
                if plan.attr == "lifespan":
                    vals.append((int(nd.value),) if nd.value and nd.value.lstrip("-").isdigit() else None)
                else:
                    vals.append(parse_date(nd.value) if nd.value else None)
            if len(vals) == 2 and len(options) == 2 and vals[0] and vals[1]:
                a, b = vals
                if a[0] != b[0] or not (a[1] and b[1]):
                    a, b = (a[0],), (b[0],)
                if a == b:
                    return options[0], "choose_tie"
                first_smaller = a < b
                return (options[0] if (first_smaller == (plan.pick == "min")) else options[1]), "choose"
            return options[0], "choose_default"
        for nd in needs:
            if nd.value:
                return nd.value, "value"
        for nd in needs:
            if nd.text:
                v = _fallback(plan.attr, nd.text) if not plan.attr.startswith("rel:") else None
                if v:
                    return v, "fallback"
        texts = [c.text for c in obs.chunks if c.text]
        for t in texts:
            v = _fallback(plan.attr, t)
            if v:
                return v, "fallback_any"
        if not plan.attr.startswith("rel:") and plan.attr != "any":
            for t in texts:
                f = nationality_mentions(t)
                if f:
                    return f[0][0], "nationality"
        names = NAME_RE.findall(" ".join(texts)) if texts else []
        if names:
            return names[0], "name"
        return (obs.chunks[starts[0]].title if starts else "unknown"), "title"


_STOP = set("the a an of in on at to is was were are who what which when where why how did do does film song "
            "director composer performer father mother husband wife born die died from same country both "
            "and or s".split())
