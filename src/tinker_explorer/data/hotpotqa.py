"""HotpotQA, distractor setting (official schema) -> tasks.

Official records: ``_id, type, level, question, answer, context [[title, [sentences]]],
supporting_facts [[title, sent_id]]``; about 10 paragraphs each, 2 of them gold. The Hugging
Face hub layout (``context: {"title": [...], "sentences": [[...]]}``, ``supporting_facts:
{"title": [...], "sent_id": [...]}``) is accepted too. Task.type is HotpotQA's own
``bridge``/``comparison``; ``level`` (easy/medium/hard) goes to meta.
"""

from __future__ import annotations

from pathlib import Path

from tinker_explorer.data.official import find_split_files, read_records, require_fields
from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, Chunk, Task
from tinker_explorer.errors import UserError

FIELDS = ("_id", "question", "answer", "context", "supporting_facts")
HUB_ID = "hotpotqa/hotpot_qa"  # formerly `hotpot_qa`; config "distractor"; override with --hub-id
HUB_CONFIG = "distractor"


def _pairs(x, a: str, b: str) -> list:
    if isinstance(x, dict):  # hub layout: columns
        return list(zip(x[a], x[b]))
    return [tuple(p) for p in x]


def record_to_task(rec: dict, preview_tokens: int = DEFAULT_PREVIEW_TOKENS, where: str = "") -> Task:
    require_fields(rec, FIELDS, where)
    try:
        sf = [(str(t), int(s)) for t, s in _pairs(rec["supporting_facts"], "title", "sent_id")]
        paragraphs = [(str(t), list(sents)) for t, sents in _pairs(rec["context"], "title", "sentences")]
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
        return {s: [record_to_task(r, preview_tokens, f"{hub_id}:{s}") for r in recs]
                for s, recs in download(hub_id).items()}
    out: dict[str, list[Task]] = {}
    for split, path in find_split_files(input_path).items():
        out[split] = [record_to_task(r, preview_tokens, f"{path}:{k + 1}") for k, r in enumerate(read_records(path))]
    return out


def download(hub_id: str = HUB_ID) -> dict[str, list[dict]]:
    """Fetch the distractor setting from the Hugging Face hub.

    Not exercised in this project's sandbox (no internet): only the local-file path is tested.
    """
    try:
        import datasets
    except ImportError:
        raise UserError("downloading needs the `datasets` package (pip install 'tinker-explorer[hub]'), "
                        "or pass --input with local official-schema files") from None
    try:
        ds = datasets.load_dataset(hub_id, HUB_CONFIG)
    except Exception as e:  # network, auth, missing dataset: one sentence, not a traceback
        raise UserError(f"could not download {hub_id} ({type(e).__name__}: {e}); "
                        "pass --input with local official-schema files instead") from None
    names = {"train": "train", "validation": "dev", "dev": "dev"}
    return {names[k]: [dict(r, _id=r.get("_id", r.get("id"))) for r in v] for k, v in ds.items() if k in names}
