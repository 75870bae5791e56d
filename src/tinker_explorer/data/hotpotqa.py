"""HotpotQA, distractor setting (official schema) -> tasks.

Official records: ``_id, type, level, question, answer, context [[title, [sentences]]],
supporting_facts [[title, sent_id]]``; about 10 paragraphs each, 2 of them gold. The Hugging
Face hub layout (``context: {"title": [...], "sentences": [[...]]}``, ``supporting_facts:
{"title": [...], "sent_id": [...]}``) is accepted too. Task.type is HotpotQA's own
``bridge``/``comparison``; ``level`` (easy/medium/hard) goes to meta.
"""

from __future__ import annotations

from pathlib import Path

from tinker_explorer.data.official import check_source, column_pairs, find_split_files, hub_download, read_records, require_fields
from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, Chunk, Task
from tinker_explorer.errors import UserError

FIELDS = ("_id", "question", "answer", "context", "supporting_facts")
HUB_ID = "hotpotqa/hotpot_qa"  # formerly `hotpot_qa`; config "distractor"; override with --hub-id
HUB_CONFIG = "distractor"


def _checked(recs: list[dict], where: str) -> list[dict]:
    check_source(recs, "hotpotqa", where)
    return recs


def record_to_task(rec: dict, preview_tokens: int = DEFAULT_PREVIEW_TOKENS, where: str = "") -> Task:
    require_fields(rec, FIELDS, where)
    try:
        sf = [(str(t), int(s)) for t, s in column_pairs(rec["supporting_facts"], "title", "sent_id")]
        paragraphs = [(str(t), list(sents)) for t, sents in column_pairs(rec["context"], "title", "sentences")]
    except (TypeError, ValueError, KeyError):
        raise UserError(f"{where}: `context`/`supporting_facts` are not in the HotpotQA layout "
                        "([[title, [sentences]]] and [[title, sent_id]]); is this the right --source?") from None
    gold_titles = {t for t, _ in sf}
    chunks = []
    for i, (title, sents) in enumerate(paragraphs):
        # Official sentences keep their leading space (" The season ..."); strip and re-join.
        text = " ".join(s.strip() for s in sents if isinstance(s, str) and s.strip())
        chunks.append(Chunk.make(i, title, text, is_gold=title in gold_titles, preview_tokens=preview_tokens))
    meta = {"supporting_facts": [[t, s] for t, s in sf]}
    if rec.get("level"):
        meta["level"] = rec["level"]
    return Task(id=str(rec["_id"]), question=rec["question"], answer=str(rec["answer"]),
                type=rec.get("type") or "unknown", chunks=tuple(chunks), source="hotpotqa", meta=meta)


def load_splits(input_path: str | Path | None, preview_tokens: int, hub_id: str = HUB_ID) -> dict[str, list[Task]]:
    """All tasks per split ("train", "dev") from local files, or downloaded when no input is given.

    A directory may hold the official file names (``hotpot_train_v1.1.json``,
    ``hotpot_dev_distractor_v1.json``) or ``train*``/``dev*`` files.
    """
    if input_path is None:
        return {s: [record_to_task(r, preview_tokens, f"{hub_id}:{s}") for r in _checked(recs, f"{hub_id}:{s}")]
                for s, recs in hub_download(hub_id, HUB_CONFIG).items()}
    out: dict[str, list[Task]] = {}
    for split, path in find_split_files(input_path).items():
        recs = _checked(read_records(path), str(path))
        out[split] = [record_to_task(r, preview_tokens, f"{path}:{k + 1}") for k, r in enumerate(recs)]
    return out
