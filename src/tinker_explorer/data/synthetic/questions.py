"""Task rendering, part two: the four 2Wiki question types asked over a world's paragraphs,
each a :class:`Draft` with its answer, evidence triples and gold paragraphs in hop order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from tinker_explorer.data.synthetic.names import MONTHS, Rng
from tinker_explorer.data.synthetic.world import World


@dataclass
class Draft:
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


def _pick(r: Rng, w: World, kind: str, need: Sequence[str], tries: int = 60) -> tuple[str, int] | None:
    n = len(w.persons) if kind == "p" else len(w.films)
    for _ in range(tries):
        e = (kind, r.below(n))
        if all(_fact(w, e, rel) is not None for rel in need):
            return e
    return None


def _compositional(r: Rng, w: World) -> Draft | None:
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
    return Draft(q, ans, "compositional", tmpl,
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


def _comparison(r: Rng, w: World) -> Draft | None:
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
        return Draft(q, "yes" if want_same else "no", "comparison", f"same/{rel}",
                      [[ta, rel, _fact(w, a, rel)], [tb, rel, _fact(w, b, rel)]], [(a, rel), (b, rel)])
    order = _order(a, b, key_of)
    if order is None:
        return None
    q, which = r.choice(qs)
    ta, tb = _title(w, a), _title(w, b)
    return Draft(q.format(a=ta, b=tb), _title(w, order[which]), "comparison", f"{kind}/{'first' if which == 0 else 'last'}",
                  [[ta, rel, _fact(w, a, rel)], [tb, rel, _fact(w, b, rel)]], [(a, rel), (b, rel)])


def _inference(r: Rng, w: World) -> Draft | None:
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
    return Draft(q, ans, "inference", kin, [[tx, r1, _title(w, mid)], [_title(w, mid), r2, ans]],
                  [(x, r1), (mid, r2)])


def _bridge_comparison(r: Rng, w: World) -> Draft | None:
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
        return Draft(q, "yes" if want_same else "no", "bridge_comparison", "same/director nationality", ev, gold)
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
    return Draft(q.format(a=ta, b=tb), ans, "bridge_comparison",
                  f"director {kind}/{'first' if which == 0 else 'last'}", ev, gold)


MAKERS = {"compositional": _compositional, "comparison": _comparison, "inference": _inference,
          "bridge_comparison": _bridge_comparison}
