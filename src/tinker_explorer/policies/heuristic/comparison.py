"""Comparison answers: yes/no ("same country?", "same place?") and which-of-two ("who was born
first, A or B?"), from the values the plan read for each of the two entities."""

from __future__ import annotations

from typing import Sequence

from tinker_explorer.policies.heuristic.attributes import countries
from tinker_explorer.policies.heuristic.question import Plan
from tinker_explorer.policies.heuristic.text import COUNTRY_OF, norm, parse_date


def answer_same(plan: Plan, values: Sequence[str | None], texts: Sequence[str]) -> tuple[str, str]:
    """"yes"/"no" and the rule: same place by normalised value, same nationality by the
    countries each paragraph's subject belongs to (a shared one is enough)."""
    if plan.attr != "nationality":
        vals = [norm(v) if v else "" for v in values]
        return ("yes" if len(vals) == 2 and vals[0] and vals[0] == vals[1] else "no"), "same"
    sets = []
    for value, text in zip(values, texts):
        c = countries(text) if text else set()
        if not c and value:
            c = {COUNTRY_OF.get(value.lower(), value)}
        sets.append(c)
    if len(sets) == 2 and sets[0] and sets[1]:
        return ("yes" if sets[0] & sets[1] else "no"), "same"
    return "no", "same_default"


def answer_choose(plan: Plan, options: Sequence[str], values: Sequence[str | None]) -> tuple[str, str]:
    """The option with the min (or max) date or lifespan; at a tie or a missing value, the first.
    Dates are compared by year alone unless the years are equal and both have a month."""
    if not options:
        return "yes", "choose_default"
    vals = []
    for v in values:
        if plan.attr == "lifespan":
            vals.append((int(v),) if v and v.lstrip("-").isdigit() else None)
        else:
            vals.append(parse_date(v) if v else None)
    if len(vals) == 2 and len(options) == 2 and vals[0] and vals[1]:
        a, b = vals
        if a[0] != b[0] or not (a[1] and b[1]):
            a, b = (a[0],), (b[0],)
        if a == b:
            return options[0], "choose_tie"
        first_smaller = a < b
        return (options[0] if (first_smaller == (plan.pick == "min")) else options[1]), "choose"
    return options[0], "choose_default"
