"""Offline generator of 2WikiMultiHopQA-style tasks over an invented world.

Why: the project must build, train and test without the real dataset or a network, and
evaluation on it must not be helped by real-world knowledge. So we generate a fictional
knowledge base (countries, cities, four generations of families, film directors, films)
with syllable-made names, write one Wikipedia-lead-like paragraph per entity (1-4
sentences; each fact kept with the index of the sentence that states it), and ask the
four 2Wiki question types over it:

- compositional ("Where was the director of film X born?"): 2 gold paragraphs;
- comparison ("Who was born first, A or B?", yes/no "same nationality"): 2 gold;
- inference ("Who is the paternal grandfather of X?"): 2 gold;
- bridge_comparison ("Which film has the director who died first, X or Y?"): 4 gold.

The answer is always written in a gold paragraph exactly as the answer string (or is
yes/no, or one of the two names in the question). Distractors share surnames, given
names, birthplaces, title words, directors and family with the gold entities, and the
pool is shuffled. Train and dev come from two different worlds (seed streams), so dev
neither repeats a train question nor rewards memorised facts.

All randomness goes through :class:`_Rng`, built only on ``random.Random.random()``
(string-seeded), whose stream Python guarantees across versions: the same seed gives
byte-identical task files everywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, Chunk, Task
from tinker_explorer.errors import UserError

MIN_POOL, MAX_POOL = 4, 100
TYPE_WEIGHTS = (("compositional", 0.35), ("comparison", 0.25), ("inference", 0.15), ("bridge_comparison", 0.25))
SPLIT_WORLD = {"train": 0, "dev": 1}


# ---------------------------------------------------------------------------------------
# randomness
# ---------------------------------------------------------------------------------------
class _Rng:
    """Seeded helpers built only on ``random()`` (the one stream Python keeps stable)."""

    def __init__(self, key: str):
        self._r = random.Random(key)

    def random(self) -> float:
        return self._r.random()

    def below(self, n: int) -> int:
        return min(int(self._r.random() * n), n - 1)

    def randint(self, a: int, b: int) -> int:
        return a + self.below(b - a + 1)

    def chance(self, p: float) -> bool:
        return self._r.random() < p

    def choice(self, seq: Sequence):
        return seq[self.below(len(seq))]

    def shuffle(self, lst: list) -> None:
        for i in range(len(lst) - 1, 0, -1):
            j = self.below(i + 1)
            lst[i], lst[j] = lst[j], lst[i]

    def sample(self, seq: Sequence, k: int) -> list:
        pool = list(seq)
        k = min(k, len(pool))
        for i in range(k):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def weighted(self, items: Sequence[tuple[object, float]]):
        x = self._r.random() * sum(w for _, w in items)
        for item, w in items:
            x -= w
            if x < 0:
                return item
        return items[-1][0]


# ---------------------------------------------------------------------------------------
# invented names
# ---------------------------------------------------------------------------------------
ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr",
          "st", "th", "sh", "vl", "h", "j", "c", "fen", "mor", "gal", "ost", "lis", "ar", "el", "or")
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ae", "ei", "ou", "y", "ia", "au")
CODAS = ("", "", "", "", "n", "r", "l", "s", "th", "m", "k", "nd", "rt", "v", "sk", "ll")
MALE_ENDS = ("o", "an", "ek", "ir", "as", "en", "ric", "ul", "im", "or", "ald", "ius", "et")
FEMALE_ENDS = ("a", "ina", "elle", "is", "ye", "ara", "eth", "ia", "ene", "ika", "ora", "wen")
SURNAME_ENDS = ("", "", "", "sson", "ski", "ov", "ard", "ley", "mann", "ez", "ani", "ic", "ford", "berg", "elli",
                "ova", "dottir", "ant", "wick", "enko")
PLACE_ENDS = ("", "", "ville", "burg", "heim", "ford", "stad", "ona", "ix", "mouth", "grad", "ak", "ton", "era")
COUNTRY_FORMS = (("ia", "ian"), ("a", "an"), ("esh", "eshi"), ("or", "orese"), ("istan", "istani"),
                 ("land", "landic"), ("ania", "anian"), ("ovia", "ovian"), ("ene", "enese"), ("ari", "arine"))
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
TITLE_NOUNS = ("Garden", "River", "Road", "Winter", "Night", "Kingdom", "Letter", "Stranger", "Bride", "Promise",
               "Storm", "Island", "House", "Shadow", "Secret", "Song", "Journey", "Summer", "Harbour", "Lantern",
               "Mirror", "Widow", "Captain", "Orchard", "Bridge", "Silence", "Crown", "Fortune", "Dancer", "Tower",
               "Valley", "Sister", "Thief", "Heir", "Echo", "Flame", "Frontier", "Voyage", "Circus", "Wedding")
TITLE_ADJS = ("Silent", "Golden", "Broken", "Hidden", "Crimson", "Lost", "Wandering", "Second", "Quiet", "Burning",
              "Last", "Little", "Black", "White", "Distant", "Secret")
GENRES = ("drama", "comedy", "crime", "war", "adventure", "musical", "silent drama", "horror", "romance",
          "mystery", "comedy-drama", "historical drama", "thriller", "family")
OCCUPATIONS = ("politician", "painter", "composer", "novelist", "physician", "diplomat", "landowner", "merchant",
               "singer", "poet", "architect", "journalist", "lawyer", "engineer", "sculptor", "historian")
DIRECTOR_OCCS = ("film director", "film director and screenwriter", "filmmaker",
                 "director, screenwriter and producer", "film director and actor")
SUBJECTS = ("law", "medicine", "painting", "music", "philosophy", "architecture", "history", "engineering")
ORDINALS = ("eldest", "second", "third", "youngest", "only")
STOP = {"The", "A", "Of", "To", "In", "And", "Return", "Beyond"}


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _syl(r: _Rng) -> str:
    return r.choice(ONSETS) + r.choice(VOWELS) + r.choice(CODAS)


def _word(r: _Rng, n_syl: int, ends: Sequence[str], max_len: int = 10) -> str:
    for _ in range(100):
        w = "".join(_syl(r) for _ in range(n_syl)) + r.choice(ends)
        if len(w) <= max_len:
            break
    return _cap(w)


def _unique(make: Callable[[], str], taken: set[str]) -> str:
    for _ in range(200):
        w = make()
        if w not in taken and len(w) >= 3:
            taken.add(w)
            return w
    raise RuntimeError("name space exhausted")  # pragma: no cover - 200 misses in a row


# ---------------------------------------------------------------------------------------
# the world
# ---------------------------------------------------------------------------------------
@dataclass
class Date:
    y: int
    m: int
    d: int

    def key(self) -> tuple[int, int, int]:
        return (self.y, self.m, self.d)

    def fmt(self, style: int) -> str:
        return f"{self.d} {MONTHS[self.m - 1]} {self.y}" if style == 0 else f"{MONTHS[self.m - 1]} {self.d}, {self.y}"


@dataclass
class Person:
    pid: int
    given: str
    surname: str
    female: bool
    gen: int
    birth: Date
    nat: int  # country index
    pob: int  # city index
    middle: str | None = None
    death: Date | None = None
    pod: int | None = None
    father: int | None = None
    mother: int | None = None
    spouse: int | None = None
    children: list[int] = field(default_factory=list)
    occupation: str = ""
    films: list[int] = field(default_factory=list)
    date_style: int = 0

    @property
    def name(self) -> str:
        return f"{self.given} {self.surname}"


@dataclass
class Film:
    fid: int
    title: str
    year: int
    director: int
    country: int
    genre: str
    cast: list[int] = field(default_factory=list)


@dataclass
class Para:
    """One entity's paragraph: sentences plus, per relation, (value as written, sentence index)."""

    title: str
    sentences: list[str]
    facts: dict[str, tuple[str, int]]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass
class World:
    countries: list[tuple[str, str]]  # (name, adjective)
    cities: list[str]  # display form, e.g. "Velmar, Ostria" or "Drelvik"
    city_country: list[int]
    persons: list[Person]
    films: list[Film]
    paras: dict[tuple[str, int], Para]  # ("p", pid) / ("f", fid) -> paragraph
    related: dict[tuple[str, int], list[tuple[str, int]]]  # entity -> look-alike / linked entities


def _date(r: _Rng, year: int) -> Date:
    return Date(year, r.randint(1, 12), r.randint(1, 28))


def build_world(key: str, scale: int = 1) -> World:
    """A consistent fictional world; ``key`` seeds it, ``scale`` multiplies its size."""
    r = _Rng(f"world:{key}")
    taken: set[str] = set()
    countries = []
    for _ in range(10):
        stem = _unique(lambda: _word(r, 2, ("",), max_len=6), taken)
        suf, adj = r.choice(COUNTRY_FORMS)
        countries.append((stem + suf, stem + adj))
    cities: list[str] = []
    city_country: list[int] = []
    city_words: list[str] = []
    for ci in range(len(countries)):
        regions = [_unique(lambda: _word(r, 2, ("", "ia", "a", "en")), taken) for _ in range(4)]
        for _ in range(14):
            w = _unique(lambda: _word(r, r.randint(1, 2), PLACE_ENDS), taken)
            city_words.append(w)
            cities.append(f"{w}, {r.choice(regions)}" if r.chance(0.55) else w)
            city_country.append(ci)
    by_country = [[i for i, c in enumerate(city_country) if c == ci] for ci in range(len(countries))]
    surnames = [_unique(lambda: _word(r, r.randint(1, 2), SURNAME_ENDS), taken) for _ in range(220 * scale)]
    males = [_unique(lambda: _word(r, 1, MALE_ENDS), taken) for _ in range(160 * scale)]
    females = [_unique(lambda: _word(r, 1, FEMALE_ENDS), taken) for _ in range(160 * scale)]
    persons: list[Person] = []
    names: set[str] = set()

    def new_person(female: bool, surname: str, gen: int, birth_year: int, nat: int) -> Person:
        for _ in range(50):
            given = r.choice(females if female else males)
            if f"{given} {surname}" not in names:
                break
        else:
            surname = r.choice(surnames)
            given = _unique(lambda: _word(r, 2, FEMALE_ENDS if female else MALE_ENDS), taken)
        names.add(f"{given} {surname}")
        p = Person(pid=len(persons), given=given, surname=surname, female=female, gen=gen,
                   birth=_date(r, birth_year), nat=nat, date_style=r.below(2),
                   pob=r.choice(by_country[nat]) if r.chance(0.9) else r.below(len(cities)))
        if r.chance(0.3):
            p.middle = r.choice(females if female and r.chance(0.5) else males)
        life = r.randint(28, 96)
        if birth_year + life <= 2023:
            p.death = _date(r, birth_year + life)
            if p.death.key() <= p.birth.key():
                p.death = Date(p.death.y + 1, p.death.m, p.death.d)
            p.pod = p.pob if r.chance(0.3) else (r.choice(by_country[nat]) if r.chance(0.7)
                                                  else r.below(len(cities)))
        persons.append(p)
        return p

    def marry(a: Person, b: Person) -> None:
        a.spouse, b.spouse = b.pid, a.pid

    # generation 0: couples without recorded parents
    couples: list[tuple[Person, Person]] = []
    for _ in range(250 * scale):
        nat = r.below(len(countries))
        y = r.randint(1790, 1840)
        h = new_person(False, r.choice(surnames), 0, y, nat)
        w = new_person(True, r.choice(surnames), 0, y + r.randint(-8, 4), nat if r.chance(0.8) else r.below(10))
        marry(h, w)
        couples.append((h, w))
    for gen in (1, 2, 3):
        kids: list[Person] = []
        for h, w in couples:
            for _ in range(r.choice((1, 2, 2, 3, 3, 4))):
                c = new_person(r.chance(0.5), h.surname, gen, w.birth.y + r.randint(19, 40),
                               h.nat if r.chance(0.9) else w.nat)
                c.father, c.mother = h.pid, w.pid
                h.children.append(c.pid)
                w.children.append(c.pid)
                kids.append(c)
        couples = []
        men = [k for k in kids if not k.female]
        women = [k for k in kids if k.female]
        r.shuffle(men)
        for m in men:
            if not r.chance(0.8) or not women:
                continue
            for _ in range(12):
                w = r.choice(women)
                if w.spouse is None and w.father != m.father and abs(w.birth.y - m.birth.y) <= 12:
                    marry(m, w)
                    couples.append((m, w))
                    break
    # occupations, directors and their films
    films: list[Film] = []
    titles: set[str] = set(names)
    actors: list[Person] = []
    for p in persons:
        upper = min(p.death.y if p.death else 2022, 2022)
        if 1855 <= p.birth.y <= 1975 and max(1905, p.birth.y + 22) <= upper and r.chance(0.4):
            p.occupation = r.choice(DIRECTOR_OCCS)
            lo = max(1905, p.birth.y + 22)
            for year in sorted({r.randint(lo, min(upper, lo + 45)) for _ in range(r.randint(1, 5))}):
                films.append(Film(fid=len(films), title="", year=year, director=p.pid,
                                  country=p.nat if r.chance(0.8) else r.below(len(countries)),
                                  genre=r.choice(GENRES)))
                p.films.append(len(films) - 1)
        elif p.birth.y >= 1850 and r.chance(0.2):
            p.occupation = "actress" if p.female else "actor"
            actors.append(p)
        else:
            p.occupation = r.choice(OCCUPATIONS)
    title_words = city_words + [p.given for p in persons[:200]]
    for f in films:
        f.title = _unique(lambda: _film_title(r, title_words), titles)
        alive = [a for a in (r.choice(actors) for _ in range(12))
                 if a.birth.y + 12 <= f.year and (a.death is None or a.death.y >= f.year)]
        f.cast = list(dict.fromkeys(a.pid for a in alive))[: r.randint(2, 3)]
    w = World(countries=countries, cities=cities, city_country=city_country, persons=persons, films=films,
              paras={}, related={})
    for p in persons:
        w.paras[("p", p.pid)] = _person_para(r, w, p)
    for f in films:
        w.paras[("f", f.fid)] = _film_para(r, w, f)
    w.related = _related_index(w)
    return w


def _film_title(r: _Rng, words: Sequence[str]) -> str:
    n, n2 = r.sample(TITLE_NOUNS, 2)
    p, a = r.choice(words), r.choice(TITLE_ADJS)
    return r.choice((f"The {n} of {p}", f"{p} Nights", f"Return to {p}", f"The {n}", f"The {a} {n}",
                     f"{p}'s {n}", f"A {n} in {p}", f"{p}", f"{n} and {n2}", f"{p} Express", f"Beyond the {n}",
                     f"The {a} {n} of {p}", f"{a} {n}s", f"{p} {n}"))


# ---------------------------------------------------------------------------------------
# paragraphs
# ---------------------------------------------------------------------------------------
def _an(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _marriage_year(w: World, p: Person) -> int:
    """One year for both spouses: before the first child, while both are alive."""
    q = w.persons[p.spouse]
    y = max(p.birth.y, q.birth.y) + 20 + (p.pid + q.pid) % 12
    if p.children:
        y = min(y, min(w.persons[c].birth.y for c in p.children) - 1)
    deaths = [d.y for d in (p.death, q.death) if d]
    return min([y] + [d - 1 for d in deaths])


def _person_para(r: _Rng, w: World, p: Person) -> Para:
    P = w.persons
    he, his = ("She", "Her") if p.female else ("He", "His")
    child = "daughter" if p.female else "son"
    adj = w.countries[p.nat][1]
    b = p.birth.fmt(p.date_style)
    lead_name = f"{p.given} {p.middle} {p.surname}" if p.middle else p.name
    facts: dict[str, tuple[str, int]] = {"date of birth": (b, 0), "country of citizenship": (adj, 0)}
    extra = r.choice(("", "", "", f" who worked mainly in {r.choice(GENRES)} films" if p.films else
                      f" active in {w.cities[r.below(len(w.cities))]}",
                      f" whose career spanned more than {r.randint(2, 5)}0 years",
                      f" who worked mainly in {r.choice(GENRES)} films during the {p.birth.y // 10 * 10 + 30}s and "
                      f"later taught at the {r.choice(w.cities).split(',')[0]} Film School" if p.films else
                      f" who spent most of {his.lower()} life in {r.choice(w.cities)} and wrote several books "
                      f"about the history of the {w.countries[p.nat][0]} countryside",
                      f" and one of the founders of the {r.choice(w.cities).split(',')[0]} "
                      f"{r.choice(('Academy of Arts', 'Film School', 'Society of Letters'))}"))
    if p.death:
        d = p.death.fmt(p.date_style)
        facts["date of death"] = (d, 0)
        lead = f"{lead_name} ({b} – {d}) was {_an(adj)} {adj} {p.occupation}{extra}."
    else:
        lead = f"{lead_name} (born {b}) is {_an(adj)} {adj} {p.occupation}{extra}."
    sents = [lead]
    # origins: birthplace and/or parents
    pob = w.cities[p.pob] if r.chance(0.85) else None
    par = (P[p.father].name, P[p.mother].name) if p.father is not None and r.chance(0.75) else None
    s = None
    if pob and par:
        s = r.choice((f"{he} was born in {pob} to {par[0]} and {par[1]}.",
                      f"{he} was born in {pob}, the {r.choice(ORDINALS)} {child} of {par[0]} and {par[1]}.",
                      f"Born in {pob}, {he.lower()} was the {child} of {par[0]}, {_an(P[p.father].occupation)} "
                      f"{P[p.father].occupation}, and his wife {par[1]}."))
    elif pob:
        s = r.choice((f"{he} was born in {pob}.",
                      f"Born in {pob}, {he.lower()} studied {r.choice(SUBJECTS)} at the University of "
                      f"{r.choice(w.cities).split(',')[0]} before moving abroad.",
                      f"{he} was born in {pob} and grew up in a large family."))
    elif par:
        s = r.choice((f"{he} was the {child} of {par[0]} and {par[1]}.",
                      f"{his} father was {par[0]}, and {his.lower()} mother was {par[1]}.",
                      f"{he} was the {r.choice(ORDINALS)} {child} of {par[0]} and his wife {par[1]}."))
    if s:
        if pob:
            facts["place of birth"] = (pob, len(sents))
        if par:
            facts["father"] = (par[0], len(sents))
            facts["mother"] = (par[1], len(sents))
        sents.append(s)
    # career and marriage
    sp = P[p.spouse].name if p.spouse is not None and r.chance(0.7) else None
    fl = [w.films[i] for i in p.films] if p.films and r.chance(0.75) else []
    fl_txt = ""
    if fl:
        shown = fl[:3]
        fl_txt = (shown[0].title + f" ({shown[0].year})" if len(shown) == 1 else
                  ", ".join(f"{f.title} ({f.year})" for f in shown[:-1]) + f" and {shown[-1].title} ({shown[-1].year})")
    s = None
    if sp and fl:
        s = r.choice((f"{he} was married to {sp}; {his.lower()} films include {fl_txt}.",
                      f"{his} films include {fl_txt}, and {he.lower()} was married to {sp}."))
    elif sp:
        k = len(p.children)
        kids = "one child" if k == 1 else f"{k} children" if k else "no children"
        s = r.choice((f"{he} married {sp} in {_marriage_year(w, p)}.",
                      f"{he} was married to {sp}, with whom {he.lower()} had {kids}.",
                      f"In {_marriage_year(w, p)}, {he.lower()} married {sp}, "
                      f"{_an(P[p.spouse].occupation)} {P[p.spouse].occupation} from {w.cities[P[p.spouse].pob]}."))
    elif fl:
        c1, c2 = r.sample(w.cities, 2)
        s = r.choice((f"{his} films include {fl_txt}.",
                      f"After working as a stage actor in {c1} and {c2}, {he.lower()} joined the "
                      f"{r.choice(w.cities).split(',')[0]} studio in {fl[0].year - 1}, where {he.lower()} directed "
                      f"comedies and melodramas for more than a decade; {his.lower()} films include {fl_txt}.",
                      f"{he} directed {len(p.films)} feature films, among them {fl_txt}.",
                      f"{he} made {his.lower()} debut with {fl[0].title} in {fl[0].year}."))
    elif r.chance(0.3):
        s = r.choice((f"{he} studied {r.choice(SUBJECTS)} at the University of {r.choice(w.cities).split(',')[0]}.",
                      f"{he} studied {r.choice(SUBJECTS)} at the University of {r.choice(w.cities).split(',')[0]} "
                      f"and later worked in {r.choice(w.cities)}, where {he.lower()} became known for {his.lower()} "
                      f"{r.choice(('portraits of local families', 'speeches on land reform', 'translations of old poetry', 'designs for public buildings', 'essays on the history of the region'))}.",
                      f"{he} served as a member of the {w.countries[p.nat][0]} Academy of Arts from "
                      f"{p.birth.y + 30} to {p.birth.y + r.randint(35, 50)}, and later taught in "
                      f"{r.choice(w.cities)} for many years."))
    if s:
        if sp:
            facts["spouse"] = (sp, len(sents))
        sents.append(s)
    # death
    if p.death and p.pod is not None and r.chance(0.6):
        pod = w.cities[p.pod]
        facts["place of death"] = (pod, len(sents))
        sents.append(r.choice((f"{he} died in {pod}.",
                               f"{he} died in {pod} at the age of {p.death.y - p.birth.y}.",
                               f"{he} died in {pod} after a long illness and was buried in the family plot at "
                               f"{r.choice(w.cities)}.")))
    elif r.chance(0.15):
        sents.append(f"{his} papers are held by the National Library in {r.choice(w.cities)}.")
    return Para(p.name, sents, facts)


def _film_para(r: _Rng, w: World, f: Film) -> Para:
    P = w.persons
    adj = w.countries[f.country][1]
    d = P[f.director].name
    cast = [P[i].name for i in f.cast]
    cast_txt = (" and ".join(cast) if len(cast) <= 2 else f"{cast[0]}, {cast[1]} and {cast[2]}") if cast else ""
    g = f.genre
    facts = {"publication date": (str(f.year), 0), "country of origin": (adj, 0)}
    form = r.below(4)
    if form == 0 or not cast:
        sents = [f"{f.title} is {_an(str(f.year))} {f.year} {adj} {g} film directed by {d}."]
        facts["director"] = (d, 0)
        if cast:
            sents.append(f"It stars {cast_txt}.")
    elif form == 1:
        sents = [f"{f.title} is {_an(str(f.year))} {f.year} {adj} {g} film.", f"It was directed by {d} and stars {cast_txt}."]
        facts["director"] = (d, 1)
    elif form == 2:
        sents = [f"{f.title} is {_an(adj)} {adj} {g} film from {f.year}, directed by {d} and starring {cast_txt}."]
        facts["director"] = (d, 0)
    else:
        alt = " ".join(_word(r, r.randint(1, 2), ("",)) for _ in range(r.randint(1, 3)))
        sents = [f"{f.title} ({adj}: {alt}) is {_an(str(f.year))} {f.year} {adj} {g} film written and directed by {d}.",
                 f"The film stars {cast_txt}."]
        facts["director"] = (d, 0)
    c1, c2 = r.choice(w.cities), r.choice(w.cities)
    other = r.choice(P)
    opts = [f"It was shot on location in {c1} and {c2}.",
            f"The film premiered at the {c1.split(',')[0]} Film Festival in {f.year}.",
            f"The story follows a young {r.choice(('teacher', 'soldier', 'widow', 'clerk', 'painter', 'sailor'))} "
            f"from {c1} who returns home to settle a family dispute, only to find that the house has been sold.",
            f"It is based on the novel of the same name by {other.name}.",
            f"Although it was poorly received on its release in {f.year}, the film was later restored by the "
            f"{w.countries[r.below(len(w.countries))][0]} Film Archive and is now regarded as one of the finest "
            f"{g} films of its decade.",
            f"It was released in {w.countries[f.country][0]} on {_date(r, f.year).fmt(r.below(2))}."]
    for s in r.sample(opts, r.choice((0, 1, 1, 2, 2))):
        if len(sents) < 4:
            sents.append(s)
    return Para(f.title, sents, facts)


def _related_index(w: World) -> dict[tuple[str, int], list[tuple[str, int]]]:
    """Entities that look like or link to each entity: the distractors a real pool would hold."""
    by_surname: dict[str, list[int]] = {}
    by_given: dict[str, list[int]] = {}
    by_pob: dict[int, list[int]] = {}
    for p in w.persons:
        by_surname.setdefault(p.surname, []).append(p.pid)
        by_given.setdefault(p.given, []).append(p.pid)
        by_pob.setdefault(p.pob, []).append(p.pid)
    by_word: dict[str, list[int]] = {}
    for f in w.films:
        for t in sorted(set(f.title.replace("'s", "").split()) - STOP):
            by_word.setdefault(t, []).append(f.fid)
    rel: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for p in w.persons:
        ids = by_surname[p.surname][:40] + by_given[p.given][:10] + by_pob[p.pob][:10]
        ids += [i for i in (p.father, p.mother, p.spouse) if i is not None] + p.children
        if p.father is not None:
            ids += w.persons[p.father].children
        rel[("p", p.pid)] = [("p", i) for i in dict.fromkeys(ids) if i != p.pid] + [("f", i) for i in p.films]
    for f in w.films:
        fids = list(w.persons[f.director].films)
        for t in sorted(set(f.title.replace("'s", "").split()) - STOP):
            fids += by_word.get(t, [])[:20]
        rel[("f", f.fid)] = ([("f", i) for i in dict.fromkeys(fids) if i != f.fid]
                             + [("p", i) for i in f.cast] + [("p", f.director)])
    return rel


# ---------------------------------------------------------------------------------------
# questions
# ---------------------------------------------------------------------------------------
@dataclass
class _Draft:
    question: str
    answer: str
    type: str
    template: str
    evidences: list[list[str]]
    gold: list[tuple[tuple[str, int], str]]  # (entity, relation its paragraph must state), in hop order


ATTR_Q = {
    "place of birth": ("Where was {s} born?", "What is the place of birth of {s}?"),
    "place of death": ("Where did {s} die?", "Where was the place of death of {s}?"),
    "date of birth": ("When was {s} born?", "What is the date of birth of {s}?"),
    "date of death": ("When did {s} die?", "What is the date of death of {s}?"),
    "country of citizenship": ("What nationality is {s}?", "What is the nationality of {s}?"),
}
KIN = {  # inference: (first hop, second hop, question noun)
    "paternal grandfather": ("father", "father"), "paternal grandmother": ("father", "mother"),
    "maternal grandfather": ("mother", "father"), "maternal grandmother": ("mother", "mother"),
    "father-in-law": ("spouse", "father"), "mother-in-law": ("spouse", "mother"),
}
REL_FIELD = {"father": "father", "mother": "mother", "spouse": "spouse"}


def _fact(w: World, e: tuple[str, int], rel: str) -> str | None:
    f = w.paras[e].facts.get(rel)
    return f[0] if f else None


def _title(w: World, e: tuple[str, int]) -> str:
    return w.paras[e].title


def _pick(r: _Rng, w: World, kind: str, need: Sequence[str], tries: int = 60) -> tuple[str, int] | None:
    n = len(w.persons) if kind == "p" else len(w.films)
    for _ in range(tries):
        e = (kind, r.below(n))
        if all(_fact(w, e, rel) is not None for rel in need):
            return e
    return None


def _compositional(r: _Rng, w: World) -> _Draft | None:
    attr = r.choice(tuple(ATTR_Q))
    if r.chance(0.55):  # film -> director -> attribute
        film = _pick(r, w, "f", ["director"])
        if film is None:
            return None
        first, rel = film, "director"
        bridge = ("p", w.films[film[1]].director)
        subj = r.choice(("the director of film {x}", "the director of the film {x}")).format(x=_title(w, film))
        tmpl = f"director/{attr}"
    else:  # person -> father/mother/spouse -> attribute
        rel = r.choice(("father", "mother", "spouse"))
        first = _pick(r, w, "p", [rel])
        if first is None:
            return None
        p = w.persons[first[1]]
        bridge = ("p", getattr(p, REL_FIELD[rel]))
        noun = rel if rel != "spouse" else ("wife" if w.persons[bridge[1]].female else "husband")
        x = _title(w, first)
        subj = r.choice((f"{x}'s {noun}", f"the {noun} of {x}"))
        tmpl = f"{rel}/{attr}"
    ans = _fact(w, bridge, attr)
    if ans is None:
        return None
    q = r.choice(ATTR_Q[attr]).format(s=subj)
    return _Draft(q, ans, "compositional", tmpl,
                  [[_title(w, first), rel, _title(w, bridge)], [_title(w, bridge), attr, ans]],
                  [(first, rel), (bridge, attr)])


def _date_key(s: str) -> tuple[int, int, int]:
    parts = s.replace(",", "").split()
    if parts[0].isdigit():  # "12 March 1890"
        return (int(parts[2]), MONTHS.index(parts[1]) + 1, int(parts[0]))
    return (int(parts[2]), MONTHS.index(parts[0]) + 1, int(parts[1]))


def _order(a: tuple[str, int], b: tuple[str, int],
           key_of: Callable[[tuple[str, int]], tuple]) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """(earlier, later), or None on a tie (a comparison needs a strict order)."""
    ka, kb = key_of(a), key_of(b)
    if ka == kb:
        return None
    return (a, b) if ka < kb else (b, a)  # (earlier, later)


def _comparison(r: _Rng, w: World) -> _Draft | None:
    kind = r.weighted((("film_year", 0.3), ("born", 0.3), ("died", 0.2), ("nationality", 0.2)))
    if kind == "film_year":
        a, b = _pick(r, w, "f", ["director"]), _pick(r, w, "f", ["director"])
        if not a or not b or a == b:
            return None
        rel, qs = "publication date", (("Which film came out first, {a} or {b}?", 0),
                                       ("Which film was released earlier, {a} or {b}?", 0),
                                       ("Which film came out later, {a} or {b}?", 1),
                                       ("Which film was released more recently, {a} or {b}?", 1))
        key_of = lambda e: (int(_fact(w, e, rel)),)
    elif kind in ("born", "died"):
        rel = "date of birth" if kind == "born" else "date of death"
        a, b = _pick(r, w, "p", [rel]), _pick(r, w, "p", [rel])
        if not a or not b or a == b:
            return None
        qs = ((("Who was born first, {a} or {b}?", 0), ("Who is older, {a} or {b}?", 0),
               ("Who was born later, {a} or {b}?", 1), ("Who is younger, {a} or {b}?", 1)) if kind == "born" else
              (("Who died first, {a} or {b}?", 0), ("Who died earlier, {a} or {b}?", 0),
               ("Who died later, {a} or {b}?", 1)))
        key_of = lambda e: _date_key(_fact(w, e, rel))
    else:
        films = r.chance(0.35)
        rel = "country of origin" if films else "country of citizenship"
        a = _pick(r, w, "f" if films else "p", [rel])
        if a is None:
            return None
        want_same = r.chance(0.5)
        b = None
        for _ in range(60):
            c = _pick(r, w, a[0], [rel], tries=1)
            if c and c != a and (_fact(w, c, rel) == _fact(w, a, rel)) == want_same:
                b = c
                break
        if b is None:
            return None
        ta, tb = _title(w, a), _title(w, b)
        q = r.choice(("Are both films {a} and {b} from the same country?",) if films else
                     ("Are {a} and {b} of the same nationality?", "Are both {a} and {b} from the same country?",
                      "Do {a} and {b} have the same nationality?")).format(a=ta, b=tb)
        return _Draft(q, "yes" if want_same else "no", "comparison", f"same/{rel}",
                      [[ta, rel, _fact(w, a, rel)], [tb, rel, _fact(w, b, rel)]], [(a, rel), (b, rel)])
    order = _order(a, b, key_of)
    if order is None:
        return None
    q, which = r.choice(qs)
    ta, tb = _title(w, a), _title(w, b)
    return _Draft(q.format(a=ta, b=tb), _title(w, order[which]), "comparison", f"{kind}/{'first' if which == 0 else 'last'}",
                  [[ta, rel, _fact(w, a, rel)], [tb, rel, _fact(w, b, rel)]], [(a, rel), (b, rel)])


def _inference(r: _Rng, w: World) -> _Draft | None:
    kin = r.choice(tuple(KIN))
    r1, r2 = KIN[kin]
    x = _pick(r, w, "p", [r1])
    if x is None:
        return None
    mid = ("p", getattr(w.persons[x[1]], REL_FIELD[r1]))
    ans = _fact(w, mid, r2)
    if ans is None:
        return None
    tx = _title(w, x)
    q = r.choice((f"Who is the {kin} of {tx}?", f"Who is {tx}'s {kin}?"))
    return _Draft(q, ans, "inference", kin, [[tx, r1, _title(w, mid)], [_title(w, mid), r2, ans]],
                  [(x, r1), (mid, r2)])


def _bridge_comparison(r: _Rng, w: World) -> _Draft | None:
    kind = r.weighted((("died", 0.35), ("born", 0.35), ("nationality", 0.3)))
    rel = {"died": "date of death", "born": "date of birth", "nationality": "country of citizenship"}[kind]
    fa = _pick(r, w, "f", ["director"])
    if fa is None:
        return None
    da = ("p", w.films[fa[1]].director)
    if _fact(w, da, rel) is None:
        return None
    fb = db = None
    want_same = r.chance(0.5)
    for _ in range(60):
        c = _pick(r, w, "f", ["director"], tries=1)
        if c is None or c == fa:
            continue
        dc = ("p", w.films[c[1]].director)
        if dc == da or _fact(w, dc, rel) is None:
            continue
        if kind == "nationality" and (_fact(w, dc, rel) == _fact(w, da, rel)) != want_same:
            continue
        fb, db = c, dc
        break
    if fb is None:
        return None
    ta, tb = _title(w, fa), _title(w, fb)
    ev = [[ta, "director", _title(w, da)], [tb, "director", _title(w, db)],
          [_title(w, da), rel, _fact(w, da, rel)], [_title(w, db), rel, _fact(w, db, rel)]]
    gold = [(fa, "director"), (fb, "director"), (da, rel), (db, rel)]
    if kind == "nationality":
        q = r.choice(("Do both films {a} and {b} have the directors from the same country?",
                      "Are the directors of films {a} and {b} from the same country?")).format(a=ta, b=tb)
        return _Draft(q, "yes" if want_same else "no", "bridge_comparison", "same/director nationality", ev, gold)
    ka, kb = _date_key(_fact(w, da, rel)), _date_key(_fact(w, db, rel))
    if ka == kb:
        return None
    qs = ((("Which film has the director who died first, {a} or {b}?", 0),
           ("Which film has the director who died earlier, {a} or {b}?", 0),
           ("Which film has the director who died later, {a} or {b}?", 1)) if kind == "died" else
          (("Which film has the director born first, {a} or {b}?", 0),
           ("Which film whose director was born first, {a} or {b}?", 0),
           ("Which film has the director born later, {a} or {b}?", 1),
           ("Which film whose director is younger, {a} or {b}?", 1)))
    q, which = r.choice(qs)
    earlier, later = (fa, fb) if ka < kb else (fb, fa)
    ans = _title(w, earlier if which == 0 else later)
    return _Draft(q.format(a=ta, b=tb), ans, "bridge_comparison",
                  f"director {kind}/{'first' if which == 0 else 'last'}", ev, gold)


MAKERS = {"compositional": _compositional, "comparison": _comparison, "inference": _inference,
          "bridge_comparison": _bridge_comparison}


# ---------------------------------------------------------------------------------------
# pools and tasks
# ---------------------------------------------------------------------------------------
def _distractors(r: _Rng, w: World, gold: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    """About 60% look-alikes/linked entities of the gold ones, the rest random of the same kinds."""
    taken = set(gold)
    related = [e for g in gold for e in w.related[g] if e not in taken]
    related = list(dict.fromkeys(related))
    out: list[tuple[str, int]] = []
    for e in r.sample(related, round(0.6 * n)):
        out.append(e)
        taken.add(e)
    p_film = min(0.75, max(0.25, sum(g[0] == "f" for g in gold) / len(gold)))
    while len(out) < n:
        e = ("f", r.below(len(w.films))) if r.chance(p_film) else ("p", r.below(len(w.persons)))
        if e not in taken:
            out.append(e)
            taken.add(e)
    return out


def _task(r: _Rng, w: World, d: _Draft, task_id: str, pool_size: int, preview_tokens: int) -> Task:
    gold = list(dict.fromkeys(e for e, _ in d.gold))
    pool = gold + _distractors(r, w, gold, pool_size - len(gold))
    r.shuffle(pool)
    gold_set = set(gold)
    chunks = tuple(Chunk.make(i, w.paras[e].title, w.paras[e].text, is_gold=e in gold_set,
                              preview_tokens=preview_tokens) for i, e in enumerate(pool))
    sf = [[w.paras[e].title, w.paras[e].facts[rel][1]] for e, rel in d.gold]
    return Task(id=task_id, question=d.question, answer=d.answer, type=d.type, chunks=chunks, source="synthetic",
                meta={"evidences": d.evidences, "supporting_facts": sf, "template": d.template})


def generate_tasks(n: int, split: str = "train", pool_size: int = 10, seed: int = 0,
                   preview_tokens: int = DEFAULT_PREVIEW_TOKENS, exclude: set[str] | None = None,
                   world: World | None = None) -> list[Task]:
    """``n`` distinct-question tasks of one split; questions in ``exclude`` are skipped."""
    if not MIN_POOL <= pool_size <= MAX_POOL:
        raise UserError(f"--pool-size must be between {MIN_POOL} and {MAX_POOL} for synthetic tasks, got {pool_size}")
    if n < 0:
        raise UserError("the number of tasks must be >= 0")
    if split not in SPLIT_WORLD:
        raise UserError(f"unknown split {split!r}; use one of {', '.join(SPLIT_WORLD)}")
    if n == 0:
        return []
    world = world or build_world(f"{seed}:{SPLIT_WORLD[split]}", scale=1 + n // 20000)
    r = _Rng(f"tasks:{seed}:{split}")
    seen = set(exclude or ())
    tasks: list[Task] = []
    while len(tasks) < n:
        make = MAKERS[r.weighted(TYPE_WEIGHTS)]  # retry within the type: keeps the type mix as weighted
        for _ in range(500):
            d = make(r, world)
            if d is not None and d.question not in seen:
                break
        else:  # pragma: no cover - only with an absurd n for the world size
            raise UserError(f"could not generate {n} distinct synthetic tasks; ask for fewer")
        seen.add(d.question)
        tasks.append(_task(r, world, d, f"syn-{seed}-{split}-{len(tasks)}", pool_size, preview_tokens))
    return tasks


def generate_splits(n_train: int, n_val: int, pool_size: int = 10, seed: int = 0,
                    preview_tokens: int = DEFAULT_PREVIEW_TOKENS) -> dict[str, list[Task]]:
    """``{"train": [...], "dev": [...]}`` from two seeded worlds; dev never repeats a train question."""
    train = generate_tasks(n_train, "train", pool_size, seed, preview_tokens)
    dev = generate_tasks(n_val, "dev", pool_size, seed, preview_tokens, exclude={t.question for t in train})
    return {"train": train, "dev": dev}
