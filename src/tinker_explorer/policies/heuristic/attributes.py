"""Candidate extraction by answer kind: dates, places, nationalities, institutions, causes
of death, awards and employers read off an opened paragraph."""

from __future__ import annotations

import re

from tinker_explorer.policies.heuristic.text import (CAP, DATE, DATE_RE, MONTH_ALT, MONTHS, UPPER, YEAR_RE,
                                                     first_sentence, nationality_mentions)


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


def _life_date(text: str, which: int, verbs: str) -> str | None:
    """A date of the "(born – died)" range, else the first date within 40 characters after a verb."""
    got = _life_range(text)[which]
    if got:
        return got
    m = re.search(rf"\b{verbs}\b[^.;]{{0,40}}?({DATE})", text, re.I)
    return m.group(1) if m else None


def birth_date(text: str) -> str | None:
    return _life_date(text, 0, "born")


def death_date(text: str) -> str | None:
    return _life_date(text, 1, "(?:died|death|killed|executed)")


_PCAP = rf"(?:St\.|Ste\.|Mt\.|Ft\.|[{UPPER}][\w'’\-]*)"
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


def _place_by_patterns(text: str, patterns: tuple[str, ...], cue: str) -> str | None:
    """The place of the first pattern that matches the text's start (a lead parenthesis), else
    the place after ``cue``."""
    for pat in patterns:
        m = re.search(pat, text[:400])
        if m:
            return _clean_place(m.group(1))
    return _place_after(text, cue)


_BIRTH_PLACE = (rf"\(\s*born\s+({PLACE})\s*,\s*(?:\d|{MONTH_ALT})", rf"\(\s*(?:{DATE})\s*,\s*({PLACE})\s*[–—-]",
                rf"\(\s*({PLACE})\s*,\s*(?:{DATE})\s*[–—-]")
_DEATH_PLACE = (rf"[–—-]\s*(?:{DATE})\s*,\s*({PLACE})\s*\)", rf"[–—-]\s*({PLACE})\s*,\s*(?:{DATE})\s*\)",
                rf"died\s+({PLACE})\s+(?:\d|{MONTH_ALT})")


def birth_place(text: str) -> str | None:
    return _life_range(text)[2] or _place_by_patterns(text, _BIRTH_PLACE, r"\b(?:born|native of|birth)\b")


def death_place(text: str) -> str | None:
    return _life_range(text)[3] or _place_by_patterns(text, _DEATH_PLACE,
                                                      r"\b(?:died|death|killed|passed away|executed)\b")


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
    inst = rf"((?:the\s+)?{CAP}(?:\s+(?:of|for|and|de|the|&)\s+{CAP}|\s+{CAP})*)"
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
                  rf"({CAP}(?:\s+(?:of|for|the|in|de)\s+{CAP}|\s+{CAP})*)", text)
    return m.group(1) if m else None


def employer(text: str) -> str | None:
    m = re.search(rf"\b(?:worked|works|working|employed|professor|lecturer|teacher|job)\s+"
                  rf"(?:as\s+[a-z ]+\s+)?(?:for|at|by|with)\s+"
                  rf"(?:the\s+)?({CAP}(?:\s+(?:of|for|the|in|de|and)\s+{CAP}|\s+{CAP})*)", text)
    return m.group(1) if m else None


EXTRACTORS = {
    "birth_date": birth_date, "death_date": death_date, "birth_place": birth_place, "death_place": death_place,
    "burial_place": burial_place, "nationality": nationality, "start_date": start_date, "education": education,
    "death_cause": cause_of_death, "award": award, "employer": employer,
}


def fallback_value(attr: str, text: str) -> str | None:
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
