"""World building: the facts of an invented world (countries, cities, four generations of
families, film directors, their films), drawn from one seeded stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from tinker_explorer.data.synthetic.names import (COUNTRY_FORMS, DIRECTOR_OCCS, FEMALE_ENDS, GENRES, MALE_ENDS, MONTHS,
                                                  OCCUPATIONS, PLACE_ENDS, SURNAME_ENDS, TITLE_ADJS, TITLE_NOUNS, Rng,
                                                  unique, word)


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


def random_date(r: Rng, year: int) -> Date:
    return Date(year, r.randint(1, 12), r.randint(1, 28))


def _places(r: Rng, taken: set[str]) -> tuple[list[tuple[str, str]], list[str], list[int], list[str]]:
    """Ten countries (name, adjective) and fourteen cities each: (countries, city display names,
    the country of each city, the bare city words)."""
    countries = []
    for _ in range(10):
        stem = unique(lambda: word(r, 2, ("",), max_len=6), taken)
        suf, adj = r.choice(COUNTRY_FORMS)
        countries.append((stem + suf, stem + adj))
    cities: list[str] = []
    city_country: list[int] = []
    city_words: list[str] = []
    for ci in range(len(countries)):
        regions = [unique(lambda: word(r, 2, ("", "ia", "a", "en")), taken) for _ in range(4)]
        for _ in range(14):
            w = unique(lambda: word(r, r.randint(1, 2), PLACE_ENDS), taken)
            city_words.append(w)
            cities.append(f"{w}, {r.choice(regions)}" if r.chance(0.55) else w)
            city_country.append(ci)
    return countries, cities, city_country, city_words


def _families(r: Rng, taken: set[str], countries: list[tuple[str, str]], cities: list[str],
              city_country: list[int], scale: int) -> tuple[list[Person], set[str]]:
    """Four generations of families: couples of generation 0, then children who marry within
    their generation. Returns the persons and their (unique) names."""
    by_country = [[i for i, c in enumerate(city_country) if c == ci] for ci in range(len(countries))]
    surnames = [unique(lambda: word(r, r.randint(1, 2), SURNAME_ENDS), taken) for _ in range(220 * scale)]
    males = [unique(lambda: word(r, 1, MALE_ENDS), taken) for _ in range(160 * scale)]
    females = [unique(lambda: word(r, 1, FEMALE_ENDS), taken) for _ in range(160 * scale)]
    persons: list[Person] = []
    names: set[str] = set()

    def new_person(female: bool, surname: str, gen: int, birth_year: int, nat: int) -> Person:
        for _ in range(50):
            given = r.choice(females if female else males)
            if f"{given} {surname}" not in names:
                break
        else:
            surname = r.choice(surnames)
            given = unique(lambda: word(r, 2, FEMALE_ENDS if female else MALE_ENDS), taken)
        names.add(f"{given} {surname}")
        p = Person(pid=len(persons), given=given, surname=surname, female=female, gen=gen,
                   birth=random_date(r, birth_year), nat=nat, date_style=r.below(2),
                   pob=r.choice(by_country[nat]) if r.chance(0.9) else r.below(len(cities)))
        if r.chance(0.3):
            p.middle = r.choice(females if female and r.chance(0.5) else males)
        life = r.randint(28, 96)
        if birth_year + life <= 2023:
            p.death = random_date(r, birth_year + life)
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
    return persons, names


def _careers(r: Rng, persons: list[Person], countries: list[tuple[str, str]], names: set[str],
             city_words: list[str]) -> list[Film]:
    """Occupations; directors get films (titled from city words and given names) with a cast of actors."""
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
        f.title = unique(lambda: _film_title(r, title_words), titles)
        alive = [a for a in (r.choice(actors) for _ in range(12))
                 if a.birth.y + 12 <= f.year and (a.death is None or a.death.y >= f.year)]
        f.cast = list(dict.fromkeys(a.pid for a in alive))[: r.randint(2, 3)]
    return films


def build_facts(r: Rng, scale: int = 1) -> World:
    """A consistent fictional world without its paragraphs; ``scale`` multiplies its size."""
    taken: set[str] = set()
    countries, cities, city_country, city_words = _places(r, taken)
    persons, names = _families(r, taken, countries, cities, city_country, scale)
    films = _careers(r, persons, countries, names, city_words)
    return World(countries=countries, cities=cities, city_country=city_country, persons=persons, films=films,
                 paras={}, related={})


def _film_title(r: Rng, words: Sequence[str]) -> str:
    n, n2 = r.sample(TITLE_NOUNS, 2)
    p, a = r.choice(words), r.choice(TITLE_ADJS)
    return r.choice((f"The {n} of {p}", f"{p} Nights", f"Return to {p}", f"The {n}", f"The {a} {n}",
                     f"{p}'s {n}", f"A {n} in {p}", f"{p}", f"{n} and {n2}", f"{p} Express", f"Beyond the {n}",
                     f"The {a} {n} of {p}", f"{a} {n}s", f"{p} {n}"))
