"""Load the report's inputs: run directories (``config.json``, ``metrics.jsonl``,
``checkpoints.jsonl``, maybe eval JSONs) and eval result JSONs (``tinker-explorer eval --json``).

Readers are tolerant (a torn last line or a missing file is skipped) because a report is often
made while a run is still going; a path that is neither kind is a :class:`UserError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tinker_explorer.errors import UserError
from tinker_explorer.records import read_jsonl

RUN_FILES = ("config.json", "metrics.jsonl", "checkpoints.jsonl")


@dataclass
class RunData:
    """One training run directory."""

    name: str
    path: Path
    config: dict
    metrics: list[dict]
    checkpoints: list[dict]


@dataclass
class EvalData:
    """One eval result JSON; ``label`` is unique among the report's inputs."""

    label: str
    path: Path
    data: dict
    run: str | None = None  # the run directory it was found in, if any

    @property
    def policy(self) -> str:
        return str(self.data.get("policy") or self.path.stem)

    @property
    def per_task(self) -> list[dict]:
        return list(self.data.get("per_task") or [])


@dataclass
class Inputs:
    runs: list[RunData] = field(default_factory=list)
    evals: list[EvalData] = field(default_factory=list)


def is_run_dir(p: Path) -> bool:
    return p.is_dir() and any((p / f).is_file() for f in RUN_FILES)


def _read_eval(p: Path) -> dict | None:
    """The eval result in ``p``, or None if it is not one (not JSON, or no per_task rows)."""
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
    return d if isinstance(d, dict) and isinstance(d.get("per_task"), list) else None


def load_run(p: Path) -> tuple[RunData, list[tuple[Path, dict]]]:
    cfg: dict = {}
    if (p / "config.json").is_file():
        try:
            c = json.loads((p / "config.json").read_text(encoding="utf-8"))
            cfg = c if isinstance(c, dict) else {}
        except json.JSONDecodeError:
            cfg = {}
    run = RunData(name=p.resolve().name, path=p, config=cfg, metrics=read_jsonl(p / "metrics.jsonl"),
                  checkpoints=read_jsonl(p / "checkpoints.jsonl"))
    evals = []
    for f in sorted([*p.glob("*.json"), *p.glob("eval*/*.json")]):
        if f.name == "config.json":
            continue
        d = _read_eval(f)
        if d is not None:
            evals.append((f, d))
    return run, evals


def _unique_labels(evals: list[EvalData]) -> None:
    """Label = policy name (+ @run when found in a run dir); clashes get the file stem, then an index."""
    for e in evals:
        e.label = e.policy + (f"@{e.run}" if e.run else "")
    for attempt in range(2):
        seen: dict[str, int] = {}
        for e in evals:
            seen[e.label] = seen.get(e.label, 0) + 1
        for k, e in enumerate(evals):
            if seen[e.label] > 1:
                e.label = f"{e.label} [{e.path.stem}]" if attempt == 0 else f"{e.label} #{k + 1}"


def load_inputs(paths: Iterable[str | Path]) -> Inputs:
    inp = Inputs()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise UserError(f"{p}: no such file or directory")
        if is_run_dir(p):
            run, evals = load_run(p)
            inp.runs.append(run)
            inp.evals += [EvalData(label="", path=f, data=d, run=run.name) for f, d in evals]
        elif p.is_file() and (d := _read_eval(p)) is not None:
            inp.evals.append(EvalData(label="", path=p, data=d))
        else:
            raise UserError(f"{p}: neither a run directory (with config.json or metrics.jsonl) nor an eval "
                            f"result JSON (written by `tinker-explorer eval --json`)")
    _unique_labels(inp.evals)
    return inp


def default_inputs(root: Path = Path("runs")) -> list[Path]:
    """With no paths given: every run directory under ``runs/``."""
    return sorted(p for p in root.glob("*") if is_run_dir(p)) if root.is_dir() else []
