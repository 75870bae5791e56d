"""Tried and discarded: more compositional training questions from the evidence triples.

    python benchmarks/chain_questions.py --name s7_chains --against runs/devlike/s6_relations.oracle.json

A 2Wiki bridge-comparison task ("Are the directors of films A and B from the same country?") holds
two complete two-hop chains in its evidence triples: (A, director, D1), (D1, country of citizenship,
American), and the same for B. Each chain is a compositional question the dataset never asked about
those paragraphs ("What nationality is the director of film A?", answer "American"); the training
file's compositional questions show how 2Wiki words each chain. So each chain with a known wording
becomes a new compositional task over the same paragraph pool, its gold chunks the chain's two
paragraphs, its answer the chain's last object (for compositional tasks the answer is the last
triple's object, 440 of 440 in records 0-999).

Records 0-999 give 371 such questions (155 date of birth, 150 country of citizenship, 66 date of
death). The answer scorer is then fit on 1,371 tasks at the oracle state, as
``devlike_holdout.py --oracle-state`` fits it, and measured on records 1000-1348 (writes
``runs/devlike/<name>.oracle.json``, pairs with ``--against``). Result over fit seeds 0 / 1 / 2:
0.773 / 0.779 / 0.776 against 0.783 / 0.769 / 0.771 without (mean +0.001); country of citizenship
unchanged at seed 0. The triples write nationality as the
demonym ("American") while compositional golds often use the country ("Sweden"), so these questions
teach the other convention. Kept here as the record of the method; the trainer does not use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tinker_explorer.data.schema import Task, load_tasks
from tinker_explorer.errors import UserError
from tinker_explorer.experiments.leaves import HARNESS, split_train
from tinker_explorer.policies.compact.train import CompactTrainConfig

SLOT = "{X}"
_PAREN = re.compile(r"\s*\([^)]*\)")


def find_mention(question: str, entity: str) -> tuple[int, int]:
    """Where the question mentions the entity, with the disambiguation it may add ("Vendetta" is
    asked as "Vendetta (1986 Film)"); (-1, -1) if it does not."""
    i = question.lower().find(entity.lower())
    if i < 0:
        return -1, -1
    j = i + len(entity)
    m = _PAREN.match(question, j) if "(" not in entity else None
    return i, (m.end() if m else j)


def chain_templates(tasks: Sequence[Task]) -> dict[tuple[str, str], list[str]]:
    """(first relation, last relation) -> the wordings of the compositional questions asking that
    chain, the first entity's mention replaced by ``{X}``."""
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for t in tasks:
        ev = t.meta.get("evidences") or []
        if t.type != "compositional" or len(ev) != 2 or ev[0][2] != ev[1][0]:
            continue
        i, j = find_mention(t.question, ev[0][0])
        tpl = t.question[:i] + SLOT + t.question[j:]
        if i >= 0 and tpl not in out[(ev[0][1], ev[1][1])]:
            out[(ev[0][1], ev[1][1])].append(tpl)
    return dict(out)


def chain_tasks(tasks: Sequence[Task], seed: int = 0) -> list[Task]:
    """New compositional tasks from the two-hop chains inside the bridge-comparison ``tasks``."""
    templates = chain_templates(tasks)
    rng = random.Random(seed)
    out = []
    for t in tasks:
        ev = t.meta.get("evidences") or []
        if t.type != "bridge_comparison":
            continue
        by_title = {c.title.lower(): c.id for c in t.chunks}
        for k, (a, r1, b) in enumerate(ev):
            second = [e for e in ev if e[0] == b]
            if len(second) != 1 or (r1, second[0][1]) not in templates:
                continue
            i, j = find_mention(t.question, a)
            ids = {by_title.get(a.lower()), by_title.get(b.lower())}
            if i < 0 or None in ids:
                continue
            question = rng.choice(templates[(r1, second[0][1])]).replace(SLOT, t.question[i:j])
            chunks = tuple(dataclasses.replace(c, is_gold=c.id in ids) for c in t.chunks)
            out.append(Task(id=f"{t.id}#chain{k}", question=question, answer=second[0][2], type="compositional",
                            chunks=chunks, source=t.source, meta={"evidences": [[a, r1, b], list(second[0])]}))
    return out


def main(argv: list[str] | None = None, cfg: CompactTrainConfig | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--tasks", default=HARNESS.train_tasks)
    ap.add_argument("--holdout-from", type=int, default=HARNESS.holdout_from)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/devlike")
    ap.add_argument("--against", help="another --oracle-state JSON of devlike_holdout.py: paired difference")
    args = ap.parse_args(argv)
    spec = importlib.util.spec_from_file_location("devlike_holdout", Path(__file__).with_name("devlike_holdout.py"))
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    try:
        train, held = split_train(load_tasks(args.tasks), dataclasses.replace(
            HARNESS, train_tasks=args.tasks, holdout_from=args.holdout_from))
        other = json.loads(Path(args.against).read_text()) if args.against else None
        if other is not None and not dev.is_oracle_result(other):
            raise UserError(f"--against {args.against}: not an --oracle-state result of devlike_holdout.py")
    except (UserError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    extra = chain_tasks(train, args.seed)
    print(f"{len(extra)} chain questions from {sum(t.type == 'bridge_comparison' for t in train)} "
          f"bridge-comparison tasks")
    run = argparse.Namespace(name=args.name, set=["chain_questions"], seed=args.seed, out=args.out)
    return dev.oracle_state(run, dataclasses.replace(cfg or CompactTrainConfig(), seed=args.seed),
                            [*train, *extra], held, other, progress=cfg is None)


if __name__ == "__main__":
    sys.exit(main())
