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

All randomness goes through :class:`Rng`, built only on ``random.Random.random()``
(string-seeded), whose stream Python guarantees across versions: the same seed gives
byte-identical task files everywhe

Modules: ``names`` (the seeded generator, vocabulary), ``world`` (world building: the facts),
``paragraphs`` and ``questions`` (task rendering); this module draws pools and tasks.
"""

from __future__ import annotations

from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, Chunk, Task
from tinker_explorer.data.synthetic.names import MONTHS, Rng
from tinker_explorer.data.synthetic.paragraphs import render_paragraphs
from tinker_explorer.data.synthetic.questions import MAKERS, Draft
from tinker_explorer.data.synthetic.world import World, build_facts
from tinker_explorer.errors import UserError

__all__ = ["MAX_POOL", "MIN_POOL", "MONTHS", "SPLIT_WORLD", "TYPE_WEIGHTS", "World", "build_world", "generate_splits",
           "generate_tasks"]


MIN_POOL, MAX_POOL = 4, 100
TYPE_WEIGHTS = (("compositional", 0.35), ("comparison", 0.25), ("inference", 0.15), ("bridge_comparison", 0.25))
SPLIT_WORLD = {"train": 0, "dev": 1}


def build_world(key: str, scale: int = 1) -> World:
    """A consistent fictional world with its paragraphs; ``key`` seeds it, ``scale`` multiplies its size."""
    r = Rng(f"world:{key}")
    w = build_facts(r, scale)
    render_paragraphs(r, w)
    return w


def _distractors(r: Rng, w: World, gold: list[tuple[str, int]], n: int) -> list[tuple[str, int]]:
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


def _task(r: Rng, w: World, d: Draft, task_id: str, pool_size: int, preview_tokens: int) -> Task:
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
    r = Rng(f"tasks:{seed}:{split}")
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
