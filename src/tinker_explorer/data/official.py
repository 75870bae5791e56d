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


def column_pairs(x, a: str, b: str) -> list:
    """``[[a, b], ...]`` from the official layout, or from the hub's columnar ``{a: [...], b: [...]}``."""
    if isinstance(x, dict):
        return list(zip(x[a], x[b]))
    return [tuple(p) for p in x]


def hub_download(hub_id: str, config: str | None = None) -> dict[str, list[dict]]:
    """Records per split ("train", "dev") from the Hugging Face hub via `datasets`.

    Not exercised in this project's sandbox (no internet): only the local-file paths are tested.
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
