"""Task rendering, part one: a Wikipedia-lead-like paragraph per entity (1-4 sentences; each
fact kept with the index of the sentence that states it) and the look-alike index that feeds
distractors."""

from __future__ import annotations

from tinker_explorer.data.synthetic.names import GENRES, ORDINALS, STOP, SUBJECTS, Rng, word
from tinker_explorer.data.synthetic.world import Film, Para, Person, World, random_date


def render_paragraphs(r: Rng, w: World) -> None:
    """Fill ``w.paras`` (persons, then films) and ``w.related`` from the world's facts."""
    for p in w.persons:
        w.paras[("p", p.pid)] = _person_para(r, w, p)
    for f in w.films:
        w.paras[("f", f.fid)] = _film_para(r, w, f)
    w.related = _related_index(w)


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


def _person_para(r: Rng, w: World, p: Person) -> Para:
    facts: dict[str, tuple[str, int]] = {}
    sents = [_person_lead(r, w, p, facts)]
    _origins(r, w, p, sents, facts)
    _career(r, w, p, sents, facts)
    _death(r, w, p, sents, facts)
    return Para(p.name, sents, facts)


def _pronouns(p: Person) -> tuple[str, str, str]:
    he, his = ("She", "Her") if p.female else ("He", "His")
    return he, his, "daughter" if p.female else "son"


def _person_lead(r: Rng, w: World, p: Person, facts: dict[str, tuple[str, int]]) -> str:
    """The lead sentence: name, life dates, nationality, occupation (and sometimes more)."""
    his = _pronouns(p)[1]
    adj = w.countries[p.nat][1]
    b = p.birth.fmt(p.date_style)
    lead_name = f"{p.given} {p.middle} {p.surname}" if p.middle else p.name
    facts.update({"date of birth": (b, 0), "country of citizenship": (adj, 0)})
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
        return f"{lead_name} ({b} – {d}) was {_an(adj)} {adj} {p.occupation}{extra}."
    return f"{lead_name} (born {b}) is {_an(adj)} {adj} {p.occupation}{extra}."


def _origins(r: Rng, w: World, p: Person, sents: list[str], facts: dict[str, tuple[str, int]]) -> None:
    """Birthplace and/or parents."""
    P = w.persons
    he, his, child = _pronouns(p)
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


def _career(r: Rng, w: World, p: Person, sents: list[str], facts: dict[str, tuple[str, int]]) -> None:
    """Marriage and films, or (sometimes) studies and offices."""
    P = w.persons
    he, his, _ = _pronouns(p)
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


def _death(r: Rng, w: World, p: Person, sents: list[str], facts: dict[str, tuple[str, int]]) -> None:
    """Place of death, or (sometimes) where the papers are."""
    he, his, _ = _pronouns(p)
    if p.death and p.pod is not None and r.chance(0.6):
        pod = w.cities[p.pod]
        facts["place of death"] = (pod, len(sents))
        sents.append(r.choice((f"{he} died in {pod}.",
                               f"{he} died in {pod} at the age of {p.death.y - p.birth.y}.",
                               f"{he} died in {pod} after a long illness and was buried in the family plot at "
                               f"{r.choice(w.cities)}.")))
    elif r.chance(0.15):
        sents.append(f"{his} papers are held by the National Library in {r.choice(w.cities)}.")


def _film_para(r: Rng, w: World, f: Film) -> Para:
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
        alt = " ".join(word(r, r.randint(1, 2), ("",)) for _ in range(r.randint(1, 3)))
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
            f"It was released in {w.countries[f.country][0]} on {random_date(r, f.year).fmt(r.below(2))}."]
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
