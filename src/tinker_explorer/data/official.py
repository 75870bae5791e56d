"""Reading official-schema dataset files (JSON arrays or JSONL), shared by the builders."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tinker_explorer.errors import UserError

SPLITS = ("train", "dev")


def read_records(path: Path) -> list[dict]:
    """Records of a .json (array) or .jsonl file; errors name the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    if path.suffix == ".json" and text.lstrip().startswith("["):
        try:
            recs = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    else:
        recs = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
    if not all(isinstance(r, dict) for r in recs):
        raise UserError(f"{path}: expected JSON objects (one record each)")
    return recs


def split_of(path: Path) -> str | None:
    """``train*``/``dev*`` first; else a ``train``/``dev`` word anywhere in the name, as in the
    official releases (``hotpot_dev_distractor_v1.json``, ``musique_ans_v1.0_train.jsonl``)."""
    name = path.name.lower()
    for s in SPLITS:
        if name.startswith(s):
            return s
    found = set(re.findall(r"(?<![a-z])(train|dev)(?![a-z])", name))
    return found.pop() if len(found) == 1 else None  # both or neither: ambiguous


def find_split_files(input_path: str | Path) -> dict[str, Path]:
    """Map split name -> file for a file or a directory of train/dev .json/.jsonl files (see split_of)."""
    p = Path(input_path)
    if not p.exists():
        raise UserError(f"{p}: no such file or directory")
    if p.is_file():
        s = split_of(p)
        if s is None:
            raise UserError(f"{p}: cannot tell the split from the file name; name it train*.json(l) or dev*.json(l)")
        return {s: p}
    found: dict[str, Path] = {}
    for f in sorted(p.iterdir()):
        if f.suffix in (".json", ".jsonl") and (s := split_of(f)) and s not in found:
            found[s] = f
    if not found:
        raise UserError(f"{p}: no train*.json(l) or dev*.json(l) files in this directory")
    return found


def require_fields(rec: dict, fields: tuple[str, ...], where: str) -> None:
    missing = [f for f in fields if f not in rec]
    if missing:
        raise UserError(f"{where}: record lacks field(s) {', '.join(missing)}; is this the right --source?")


SOURCE_NAMES = {"2wiki": "2WikiMultiHopQA", "hotpotqa": "HotpotQA", "musique": "MuSiQue"}
TWOWIKI_ONLY_TYPES = {"compositional", "inference", "bridge_comparison"}


def guess_source(rec: dict) -> tuple[str | None, str]:
    """(source, the sign it was told by) for one official record, or (None, "") when it cannot tell.

    2WikiMultiHopQA and HotpotQA share ``_id/question/context/supporting_facts/answer``; 2Wiki
    alone has ``evidences`` and the types compositional/inference/bridge_comparison, HotpotQA
    alone has ``level`` and the type bridge. MuSiQue has ``id`` and ``paragraphs`` instead.
    """
    if "paragraphs" in rec and "context" not in rec:
        return "musique", "`paragraphs` instead of `context`"
    if "evidences" in rec:
        return "2wiki", "an `evidences` field"
    kind = rec.get("type")
    if kind in TWOWIKI_ONLY_TYPES:
        return "2wiki", f"type {kind!r}"
    if "level" in rec:
        return "hotpotqa", "a `level` field"
    if kind == "bridge":
        return "hotpotqa", "type 'bridge'"
    return None, ""


def check_source(records: list[dict], source: str, where: str, sample: int = 20) -> None:
    """Refuse records that look like another dataset than ``source`` (judged on the first ``sample``)."""
    votes: dict[str, str] = {}
    for rec in records[:sample]:
        guess, sign = guess_source(rec)
        if guess:
            votes.setdefault(guess, sign)
    if votes and source not in votes:
        other, sign = next(iter(votes.items()))
        raise UserError(f"{where}: these records look like {SOURCE_NAMES[other]} ({sign}), not "
                        f"{SOURCE_NAMES[source]}; use --source {other}")


def column_pairs(x, a: str, b: str) -> list:
    """``[[a, b], ...]`` from the official layout, or from the hub's columnar ``{a: [...], b: [...]}``."""
    if isinstance(x, dict):
        return list(zip(x[a], x[b]))
    return [tuple(p) for p in x]


def hub_download(hub_id: str, config: str | None = None) -> dict[str, list[dict]]:
    """Records per split ("train", "dev") from the Hugging Face hub via `datasets`.

    Not exercised by the tests (they need no network): only the local-file paths are tested.
    """
    try:
        import datasets
    except ImportError:
        raise UserError("downloading needs the `datasets` package (pip install 'tinker-explorer[hub]'), "
                        "or pass --input with local official-schema files") from None
    try:
        ds = datasets.load_dataset(hub_id, config) if config else datasets.load_dataset(hub_id)
    except Exception as e:  # network, auth, missing dataset: one sentence, not a traceback
        raise UserError(f"could not download {hub_id} ({type(e).__name__}: {e}); "
                        "pass --input with local official-schema files instead") from None
    names = {"train": "train", "validation": "dev", "dev": "dev"}
    return {names[k]: [dict(r) for r in v] for k, v in ds.items() if k in names}
