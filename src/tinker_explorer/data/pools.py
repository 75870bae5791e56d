"""Pool padding: make a task harder by hiding its evidence among more distractors.

``pad_pools`` grows every pool to ``pool_size`` chunks with non-gold chunks of OTHER tasks of
the same split, so budgets and reading strategies can be studied at 20/50/100 chunks on real
questions. Each task's draw uses its own generator seeded by (seed, hash of the task id) over
a canonically ordered candidate list, so a task's padded pool does not depend on the order
of the file, only on the seed and on which tasks share the split.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, Chunk, Task
from tinker_explorer.errors import UserError


def stable_hash(s: str) -> int:
    """A 64-bit hash of ``s`` that is the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:8], "little")


def _candidates(tasks: list[Task]) -> list[tuple[int, Chunk]]:
    """(task index, chunk) for every non-gold chunk, ordered by (task id, chunk position)."""
    order = sorted(range(len(tasks)), key=lambda i: (tasks[i].id, i))
    return [(i, c) for i in order for c in tasks[i].chunks if not c.is_gold]


def pad_pool(task: Task, k: int, cands: list[tuple[int, Chunk]], pool_size: int, seed: int,
             preview_tokens: int) -> Task:
    """Task ``k`` with its pool padded to ``pool_size`` (fewer if the candidates run out)."""
    need = pool_size - len(task.chunks)
    if need <= 0:
        return task
    rng = np.random.default_rng([seed, stable_hash(task.id)])
    seen = {c.title for c in task.chunks}  # never a title the pool already has (no near-duplicates)
    extra: list[Chunk] = []
    for j in rng.permutation(len(cands)):
        i, c = cands[j]
        if i == k or c.title in seen:
            continue
        seen.add(c.title)
        extra.append(c)
        if len(extra) == need:
            break
    n = len(task.chunks) + len(extra)
    own_pos = set(rng.choice(n, size=len(task.chunks), replace=False).tolist())  # originals keep their order
    own, other = iter(task.chunks), iter(extra)
    chunks = []
    for pos in range(n):
        if pos in own_pos:
            chunks.append(replace(next(own), id=pos))
        else:
            c = next(other)
            chunks.append(Chunk.make(pos, c.title, c.text, is_gold=False, preview_tokens=preview_tokens))
    return replace(task, chunks=tuple(chunks))


def pad_pools(tasks: list[Task], pool_size: int, seed: int, preview_tokens: int = DEFAULT_PREVIEW_TOKENS,
              notes: list[str] | None = None) -> list[Task]:
    """Every task's pool padded to ``pool_size`` chunks with distractors from the other tasks.

    Gold flags move with their chunks and chunk ids are renumbered 0..n-1; nothing else that
    refers to chunk positions (e.g. MuSiQue's ``paragraph_support_idx`` in meta) is rewritten.
    Pools already at least ``pool_size`` are left unchanged. When the split has too few
    distinct distractor titles, pools stay short and ``notes`` (if given) says how many.
    """
    if pool_size < 1:
        raise UserError("--pool-size must be >= 1")
    cands = _candidates(tasks)
    out = [pad_pool(t, k, cands, pool_size, seed, preview_tokens) for k, t in enumerate(tasks)]
    short = [t for t in out if len(t.chunks) < pool_size]
    if short and notes is not None:
        notes.append(f"{len(short)} of {len(out)} pools could not be padded to {pool_size} chunks "
                     f"(too few distinct distractors in the split; smallest has {min(len(t.chunks) for t in short)})")
    return out
