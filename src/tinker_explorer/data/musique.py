"""MuSiQue-Ans (official schema) -> tasks.

Official records: ``id, question, answer, answer_aliases, answerable, paragraphs [{idx, title,
paragraph_text, is_supporting}], question_decomposition``; 20 paragraphs each, 2-4 gold.
Task.type is the hop count ("2hop", "3hop", "4hop"), read from the id prefix ("3hop1__...")
or else from the decomposition's length; the full prefix (the question's graph shape) goes to
``meta["hop_shape"]``. Answer aliases go to ``meta["answer_aliases"]``, which the env and the
metrics score against. Unanswerable records (MuSiQue-Full) are skipped and counted.

MuSiQue's official test split has no answers, so when no dev file is given a validation
split is drawn from train (seeded, disjoint) and the build notes say so.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tinker_explorer.data.official import check_source, find_split_files, hub_download, read_records, require_fields
from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, Chunk, Task
from tinker_explorer.errors import UserError

FIELDS = ("id", "question", "answer", "paragraphs")
HUB_ID = "dgslibisey/MuSiQue"  # a hub mirror of musique_ans_v1.0_{train,dev}.jsonl; override with --hub-id
HOP_RE = re.compile(r"^(\d+)hop")


def hop_type(rec: dict) -> tuple[str, str | None]:
    """("3hop", "3hop1") from the id prefix, or ("3hop", None) from the decomposition's length."""
    m = HOP_RE.match(str(rec["id"]))
    if m:
        return f"{m.group(1)}hop", str(rec["id"]).split("__")[0]
    decomp = rec.get("question_decomposition") or []
    return (f"{len(decomp)}hop" if decomp else "unknown"), None


def record_to_task(rec: dict, preview_tokens: int = DEFAULT_PREVIEW_TOKENS, where: str = "") -> Task:
    require_fields(rec, FIELDS, where)
    try:
        paras = [(str(p["title"]), str(p["paragraph_text"]), bool(p.get("is_supporting", False)))
                 for p in rec["paragraphs"]]
    except (TypeError, KeyError):
        raise UserError(f"{where}: `paragraphs` is not a list of {{title, paragraph_text, is_supporting}} "
                        "objects; is this the right --source?") from None
    chunks = tuple(Chunk.make(i, title, text.strip(), is_gold=gold, preview_tokens=preview_tokens)
                   for i, (title, text, gold) in enumerate(paras))
    typ, shape = hop_type(rec)
    meta: dict = {"answer_aliases": [str(a) for a in rec.get("answer_aliases") or []],
                  "question_decomposition": rec.get("question_decomposition") or []}
    if shape:
        meta["hop_shape"] = shape
    return Task(id=str(rec["id"]), question=rec["question"], answer=str(rec["answer"]), type=typ,
                chunks=chunks, source="musique", meta=meta)


def _tasks(records: list[dict], preview_tokens: int, where: str, split: str, notes: list[str]) -> list[Task]:
    tasks, skipped = [], 0
    for k, r in enumerate(records):
        if r.get("answerable", True) is False:
            skipped += 1
            continue
        tasks.append(record_to_task(r, preview_tokens, f"{where}:{k + 1}"))
    if skipped:
        notes.append(f"{split}: skipped {skipped} unanswerable records of {len(records)} (MuSiQue-Full)")
    return tasks


def draw_val(train: list[Task], n_val: int, seed: int) -> tuple[list[Task], list[Task]]:
    """(train minus val, val): ``n_val`` tasks drawn from train, seeded, file order kept in both."""
    if n_val >= len(train):
        raise UserError(f"--n-val {n_val} would take all {len(train)} train tasks for validation; "
                        "give a smaller --n-val or a dev file")
    rng = np.random.default_rng([seed, 7])
    picked = set(rng.choice(len(train), size=n_val, replace=False).tolist())
    return ([t for i, t in enumerate(train) if i not in picked], [t for i, t in enumerate(train) if i in picked])


def load_splits(input_path: str | Path | None, preview_tokens: int, seed: int, n_val: int, notes: list[str],
                hub_id: str = HUB_ID) -> dict[str, list[Task]]:
    """All tasks per split ("train", "dev"); without a dev file, "dev" is ``n_val`` tasks drawn from train."""
    if input_path is None:
        raw = {s: (f"{hub_id}:{s}", recs) for s, recs in hub_download(hub_id).items()}
    else:
        raw = {s: (str(path), read_records(path)) for s, path in find_split_files(input_path).items()}
    for where, recs in raw.values():
        check_source(recs, "musique", where)
    out = {s: _tasks(recs, preview_tokens, where, s, notes) for s, (where, recs) in raw.items()}
    if "dev" not in out and "train" in out and n_val > 0:
        out["train"], out["dev"] = draw_val(out["train"], n_val, seed)
        notes.append(f"no MuSiQue dev file given: drew a validation split of {n_val} tasks from train "
                     f"(seed {seed}), disjoint from the {len(out['train'])} train tasks written")
    return out
