"""Run records shared by every trainer: ``config.json``, ``metrics.jsonl``, ``checkpoints.jsonl``.

Layout of a run directory (tinker-cookbook's convention)::

    runs/<name>/config.json        the full config, written once
    runs/<name>/metrics.jsonl      one JSON line per finished step
    runs/<name>/checkpoints.jsonl  one line per saved checkpoint: {"name", "step", "path", ...}

Crash safety: every line is written with one ``write`` + flush + fsync. On resume, a torn
last line is dropped and metric lines for steps after the last checkpoint are removed
(their step is redone), so a resumed run never duplicates or tears a line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from tinker_explorer.errors import UserError


def _read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a torn last line from a killed run
    return out


def _rewrite(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


class RunRecords:
    def __init__(self, run_dir: str | Path, config: Any, resume: bool = False):
        self.dir = Path(run_dir)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.ckpt_path = self.dir / "checkpoints.jsonl"
        cfg = asdict(config) if is_dataclass(config) else dict(config)
        existing = self.dir / "config.json"
        if existing.exists() and not resume and (self.metrics_path.exists() or self.ckpt_path.exists()):
            raise UserError(f"{self.dir} already holds a run; pass --resume to continue it or choose another --run-dir")
        if resume and not self.ckpt_path.exists():
            raise UserError(f"{self.dir}: nothing to resume (no checkpoints.jsonl)")
        self.dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            existing.write_text(json.dumps(cfg, indent=2, default=str) + "\n", encoding="utf-8")
        else:
            last = self.last_checkpoint()
            keep_until = last["step"] if last else -1
            _rewrite(self.metrics_path, [m for m in _read_lines(self.metrics_path) if m.get("step", -1) <= keep_until])
            _rewrite(self.ckpt_path, _read_lines(self.ckpt_path))

    @property
    def config(self) -> dict:
        return json.loads((self.dir / "config.json").read_text())

    def _append(self, path: Path, row: dict) -> None:
        line = json.dumps(row, default=float) + "\n"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def log_metrics(self, step: int, metrics: dict) -> None:
        self._append(self.metrics_path, {"step": int(step), **metrics})

    def log_checkpoint(self, step: int, name: str, path: str, **extra) -> None:
        self._append(self.ckpt_path, {"name": name, "step": int(step), "path": str(path), **extra})

    def metrics(self) -> list[dict]:
        return _read_lines(self.metrics_path)

    def checkpoints(self) -> list[dict]:
        return _read_lines(self.ckpt_path)

    def last_checkpoint(self) -> dict | None:
        c = self.checkpoints()
        return c[-1] if c else None


def final_checkpoint(path: str | Path) -> dict:
    """Resolve a run directory to its last checkpoint entry (used by `eval --checkpoint RUN_DIR`)."""
    p = Path(path)
    rows = _read_lines(p / "checkpoints.jsonl")
    if not rows:
        raise UserError(f"{p}: no checkpoints.jsonl entries; is this a finished run directory?")
    row = dict(rows[-1])
    cp = Path(row["path"])
    if not cp.is_absolute() and not cp.exists():
        row["path"] = str(p / cp)
    return row
