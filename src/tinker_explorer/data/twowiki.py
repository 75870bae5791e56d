"""2WikiMultiHopQA (official schema) -> tasks.

Accepts both the official layout (``context: [[title, [sentences]]]``,
``supporting_facts: [[title, sent_id]]``) and the Hugging Face hub layout
(``context: {"title": [...], "sentences": [[...]]}``).
"""

from __future__ import annotations

from pathlib import Path

from tinker_explorer.data.official import check_source, column_pairs, find_split_files, hub_download, read_records, require_fields
from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, Chunk, Task

FIELDS = ("_id", "question", "context", "supporting_facts", "answer")
HUB_ID = "framolfese/2WikiMultihopQA"  # a hub mirror in the official schema; override with --hub-id


def _checked(recs: list[dict], where: str) -> list[dict]:
    check_source(recs, "2wiki", where)
    return recs


def record_to_task(rec: dict, preview_tokens: int = DEFAULT_PREVIEW_TOKENS, where: str = "") -> Task:
    require_fields(rec, FIELDS, where)
    sf = column_pairs(rec["supporting_facts"], "title", "sent_id")
    gold_titles = {t for t, _ in sf}
    chunks = []
    for i, (title, sents) in enumerate(column_pairs(rec["context"], "title", "sentences")):
        text = " ".join(s.strip() for s in sents if s.strip())
        chunks.append(Chunk.make(i, title, text, is_gold=title in gold_titles, preview_tokens=preview_tokens))
    evid = rec.get("evidences") or []
    if isinstance(evid, dict):
        evid = list(zip(evid.get("fact", []), evid.get("relation", []), evid.get("entity", [])))
    meta = {"supporting_facts": [[t, int(s)] for t, s in sf], "evidences": [list(e) for e in evid]}
    if rec.get("type_inferred"):
        meta["type_inferred"] = True
    return Task(id=str(rec["_id"]), question=rec["question"], answer=str(rec["answer"]),
                type=rec.get("type") or "unknown", chunks=tuple(chunks), source="2wiki", meta=meta)


def load_splits(input_path: str | Path | None, preview_tokens: int, hub_id: str = HUB_ID) -> dict[str, list[Task]]:
    """All tasks per split ("train", "dev") from local files, or downloaded when no input is given."""
    if input_path is None:
        return {s: [record_to_task(r, preview_tokens, f"{hub_id}:{s}") for r in _checked(recs, f"{hub_id}:{s}")]
                for s, recs in hub_download(hub_id).items()}
    out: dict[str, list[Task]] = {}
    for split, path in find_split_files(input_path).items():
        recs = _checked(read_records(path), str(path))
        out[split] = [record_to_task(r, preview_tokens, f"{path}:{k + 1}") for k, r in enumerate(recs)]
    return out
