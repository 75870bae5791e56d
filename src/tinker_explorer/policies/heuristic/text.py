"""Text helpers shared by the heuristic reader: name and date patterns, accent folding,
title/question normalisation, and the table of countries and their demonyms."""

from __future__ import annotations

import re
import unicodedata

UPPER = "A-ZÀ-ÖØ-ÞĀ-Žƀ-ɏ"  # upper-case-ish Latin letters (Latin Extended-A is mixed; fine for names)
CAP = rf"(?:[{UPPER}]\.|[{UPPER}][\w'’\-]*|\d+(?:st|nd|rd|th))"
_LINK = r"(?:of|de|von|van|der|den|da|di|du|la|le|del|della|the|y|bin|ibn|al|zu|af)"
NAME = rf"{CAP}(?:\s+(?:{_LINK}\s+)*{CAP})*"
NAME_RE = re.compile(NAME)

MONTHS = ("January February March April May June July August September October November December").split()
MONTH_ALT = "|".join(MONTHS)
DATE = (rf"(?:\d{{1,2}}\s+(?:{MONTH_ALT})\s+\d{{1,4}}|(?:{MONTH_ALT})\s+\d{{1,2}},?\s+\d{{1,4}}|"
        rf"(?:{MONTH_ALT})\s+\d{{3,4}}|\d{{3,4}})(?:\s*(?:BC|BCE|AD))?")
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
