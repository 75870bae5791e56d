"""`tinker-explorer data build`: official files (or a generator) -> train.jsonl, val.jsonl, manifest.json.

Guarantees: the same arguments give byte-identical files (seeded selection, canonical
JSON, no timestamps); counts larger than what exists take what exists and say so; a
missing split gives an empty file and a warning.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinker_explorer.data.schema import DEFAULT_PREVIEW_TOKENS, SCHEMA_VERSION, Task, save_tasks
from tinker_explorer.errors import UserError

SOURCES = ("2wiki", "synthetic", "hotpotqa", "musique")
SYNTHETIC_COUNTS = (5000, 200)  # train, val tasks generated when no count is given
MUSIQUE_N_VAL = 200  # tasks drawn from MuSiQue's train file for validation when no dev file and no --n-val


@dataclass(frozen=True)
class BuildConfig:
    source: str = "2wiki"
    out: str = "data_out/2wiki"
    input: str | None = None
    n_train: int | None = None  # None: every task (synthetic: SYNTHETIC_COUNTS)
    n_val: int | None = None
    seed: int = 0
    preview_tokens: int = DEFAULT_PREVIEW_TOKENS
    pool_size: int | None = None  # synthetic: chunks per task; real data: pad pools with distractors
    hub_id: str | None = None


def _select(tasks: list[Task], n: int | None, seed: int, split: str, notes: list[str]) -> list[Task]:
    if n is None:  # nothing asked: every task, no note
        return tasks
    if n >= len(tasks):
        if n > len(tasks):
            notes.append(f"{split}: asked for {n} tasks, {len(tasks)} exist; taking all {len(tasks)}")
        return tasks
    rng = np.random.default_rng([seed, len(split)])
    idx = np.sort(rng.choice(len(tasks), size=n, replace=False))  # keep file order
    return [tasks[i] for i in idx]


def _load(cfg: BuildConfig, notes: list[str]) -> dict[str, list[Task]]:
    if cfg.source == "synthetic":
        from tinker_explorer.data.synthetic import generate_splits
        n_train, n_val = (d if n is None else n for n, d in zip((cfg.n_train, cfg.n_val), SYNTHETIC_COUNTS))
        return generate_splits(n_train=n_train, n_val=n_val, pool_size=cfg.pool_size or 10,
                               seed=cfg.seed, preview_tokens=cfg.preview_tokens)
    if cfg.source == "2wiki":
        from tinker_explorer.data import twowiki
        return twowiki.load_splits(cfg.input, cfg.preview_tokens, **({"hub_id": cfg.hub_id} if cfg.hub_id else {}))
    if cfg.source == "hotpotqa":
        from tinker_explorer.data import hotpotqa
        return hotpotqa.load_splits(cfg.input, cfg.preview_tokens, **({"hub_id": cfg.hub_id} if cfg.hub_id else {}))
    if cfg.source == "musique":
        from tinker_explorer.data import musique
        return musique.load_splits(cfg.input, cfg.preview_tokens, seed=cfg.seed,
                                   n_val=MUSIQUE_N_VAL if cfg.n_val is None else cfg.n_val, notes=notes,
                                   **({"hub_id": cfg.hub_id} if cfg.hub_id else {}))
    raise UserError(f"unknown source {cfg.source!r}; choose one of {', '.join(SOURCES)}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(cfg: BuildConfig) -> dict:
    """Build the task files; returns the manifest (also written to ``out/manifest.json``)."""
    if any(n is not None and n < 0 for n in (cfg.n_train, cfg.n_val)):
        raise UserError("--n-train and --n-val must be >= 0")
    if cfg.preview_tokens < 0:
        raise UserError("--preview-tokens must be >= 0")
    notes: list[str] = []
    splits = _load(cfg, notes)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, fname, n in (("train", "train.jsonl", cfg.n_train), ("dev", "val.jsonl", cfg.n_val)):
        if split not in splits:
            notes.append(f"no {split} split found in the input; wrote an empty {fname}")
        tasks = _select(splits.get(split, []), n, cfg.seed, split, notes)
        if cfg.pool_size and cfg.source != "synthetic":
            from tinker_explorer.data.pools import pad_pools
            pad_notes: list[str] = []
            tasks = pad_pools(tasks, cfg.pool_size, seed=cfg.seed, preview_tokens=cfg.preview_tokens, notes=pad_notes)
            notes.extend(f"{split}: {n}" for n in pad_notes)
        count = save_tasks(tasks, out / fname)
        files[fname] = {"count": count, "sha256": sha256(out / fname)}
    manifest = {"schema": SCHEMA_VERSION, "config": {k: v for k, v in asdict(cfg).items() if k != "out"},
                "files": files, "notes": notes}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
