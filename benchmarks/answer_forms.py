"""How 2Wiki writes answers that the text offers in two forms (training file only; never dev).

    python benchmarks/answer_forms.py [--tasks data_out/2wiki/train.jsonl]

Two counts behind docs/writeup.md's reading of the answer scorer's misses:

1. "country of citizenship" questions whose gold paragraphs name the gold in two one-word forms
   sharing its first four letters (Sweden / Swedish, America / American): how often the gold is the
   form that comes first in the paragraph. If the gold followed the text's order, a reader could learn
   it; it does not (about half each way), and the gold is the demonym in some tasks and the country in
   others.
2. place questions (birth, death, burial) whose gold paragraphs write the gold city as "City, Region"
   for a region in the list below: how often the gold is "City, Region" vs plain "City". Wikipedia's
   article titles decide it (Austin, Texas but Los Angeles), which the text does not show.
"""

from __future__ import annotations

import argparse
import collections
import re

from tinker_explorer.data.schema import load_tasks

# US states and Canadian provinces, the regions Wikipedia appends to city titles ("Austin, Texas")
REGIONS = ("Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii "
           "Idaho Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan "
           "Minnesota Mississippi Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee "
           "Texas Utah Vermont Virginia Washington Wisconsin Wyoming Ontario Quebec Alberta Manitoba "
           "Saskatchewan").split() + ["New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina",
                                      "North Dakota", "Rhode Island", "South Carolina", "South Dakota",
                                      "West Virginia", "British Columbia", "Nova Scotia", "New Brunswick"]
PLACE_RELATIONS = {"place of birth", "place of death", "place of burial"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="data_out/2wiki/train.jsonl")
    args = ap.parse_args(argv)
    tasks = load_tasks(args.tasks)
    city_region = re.compile(r"\b([A-Z][\w.'-]+(?: [A-Z][\w.'-]+)*), (%s)\b" % "|".join(REGIONS))
    forms, places = collections.Counter(), collections.Counter()
    for t in tasks:
        ev = t.meta.get("evidences") or []
        rels = [e[1] for e in ev]
        gold_text = [c.text for c in t.chunks if c.is_gold]
        if t.type == "compositional" and rels and rels[-1] == "country of citizenship" and " " not in t.answer:
            for text in gold_text:
                seen = list(dict.fromkeys(re.findall(r"\b%s\w*" % re.escape(t.answer[:4]), text)))
                if t.answer in seen and len(seen) > 1:
                    forms["gold is the first form" if seen[0] == t.answer else "gold is a later form"] += 1
                    forms["gold is the shorter form" if len(t.answer) == min(map(len, seen)) else
                          "gold is a longer form"] += 1
        if set(rels) & PLACE_RELATIONS:
            pairs = city_region.findall(" ".join(gold_text))
            if t.answer in {f"{a}, {b}" for a, b in pairs}:
                places["gold is 'City, Region'"] += 1
            elif any(t.answer in (a, a.split()[-1]) for a, _ in pairs):
                places["gold is plain 'City' although the text writes 'City, Region'"] += 1
    print(f"{args.tasks}: {len(tasks)} tasks")
    print("1. country of citizenship, gold paragraph with two forms:", dict(forms))
    print("2. place questions, text writes 'City, Region':", dict(places))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
