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

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from tinker_explorer.errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent  # src/tinker_explorer: the code src_hash names


# ---- which code made a record ------------------------------------------------------------------
# One hash of the package's Python source, built from git blob ids (so it can be recomputed for any
# commit from git's tree listing): the ablation ledger pairs rows by it, and every cache (the shared
# warm start, the demo's reuse of a finished run) is keyed on it, so a code change is never missed.
def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # what `git hash-object` prints


def listing_hash(entries) -> str:
    return hashlib.sha256("\n".join(f"{path}\t{blob}" for path, blob in sorted(entries)).encode()).hexdigest()[:12]


def src_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """Hash of the package's ``*.py`` files as they are on disk now (the code this process runs)."""
    return listing_hash((p.relative_to(package_dir).as_posix(), blob_id(p.read_bytes()))
                         for p in package_dir.rglob("*.py"))


def read_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a records file, up to a torn line (a run killed mid-write); [] if missing."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            break  # a torn last line from a killed run
        if isinstance(row, dict):
            out.append(row)
    return out


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file, fsync, rename: a reader (or a resume after a kill) sees the old
    file or the new one, never a torn one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _rewrite(path: Path, rows: list[dict]) -> None:
    _write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


# config keys a resume may change: how long to train, where the files are, what is evaluated on the
# way; none of them changes the weights of a step that both runs perform
CHANGEABLE_ON_RESUME = ("steps", "run_dir", "tasks", "val", "val_tasks", "val_tasks_max", "n_val_tasks",
                        "eval_every", "save_every", "time_limit_s", "src_hash", "config_hash")
_MISSING = object()


def _norm(value: Any) -> Any:
    """A value as config.json holds it (tuples become lists, dataclasses dicts)."""
    return json.loads(json.dumps(asdict(value) if is_dataclass(value) else value, default=str))


def _get(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return _MISSING
        d = d[part]
    return d


def _set(d: dict, dotted: str, value: Any) -> None:
    *head, last = dotted.split(".")
    for part in head:
        d = d.setdefault(part, {})
    d[last] = _norm(value)


def _leaves(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def restore_config(run_dir: str | Path, given: dict[str, tuple[str, Any]],
                   changeable: tuple[str, ...] = CHANGEABLE_ON_RESUME) -> dict:
    """The config a run was started with (its config.json), for ``--resume``: a bare ``--resume``
    continues the run exactly as started. ``given`` maps dotted config keys to ``(flag, value)`` of
    the flags given now; one that contradicts the saved config is refused (unless ``changeable``)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: nothing to resume (no config.json)")
    cfg = json.loads(path.read_text(encoding="utf-8"))
    for key, (flag, value) in given.items():
        old = _get(cfg, key)
        if old is not _MISSING and key.split(".")[0] not in changeable and _norm(old) != _norm(value):
            raise UserError(f"{flag} {value} contradicts the run being resumed ({key} is {old!r} in {path}); "
                            f"resume without {flag} to continue the run as it was started, or start a new run "
                            "in another --run-dir")
        _set(cfg, key, value)
    return cfg


class RunRecords:
    def __init__(self, run_dir: str | Path, config: Any, resume: bool = False,
                 changeable: tuple[str, ...] = CHANGEABLE_ON_RESUME):
        """Open a run folder. A new run writes ``config``; a resumed one checks that ``config``
        agrees with the saved config.json (except ``changeable`` keys, which it updates there), so
        a resume can never silently continue on another reward, learning rate, data or model."""
        self.dir = Path(run_dir)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.ckpt_path = self.dir / "checkpoints.jsonl"
        cfg = _norm(config)
        existing = self.dir / "config.json"
        if existing.exists() and not resume and (self.metrics_path.exists() or self.ckpt_path.exists()):
            raise UserError(f"{self.dir} already holds a run; pass --resume to continue it or choose another --run-dir")
        if resume and not existing.exists():
            raise UserError(f"{self.dir}: nothing to resume (no config.json)")
        # resuming a run killed before its first checkpoint starts it over, with its own config
        self.dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            _write_atomic(existing, json.dumps(cfg, indent=2) + "\n")
        else:
            saved = json.loads(existing.read_text(encoding="utf-8")) if existing.exists() else {}
            new, old = _leaves(cfg), _leaves(saved)
            for key in new:
                if key in old and key.split(".")[0] not in changeable and new[key] != old[key]:
                    raise UserError(f"{self.dir}: the resumed run's {key} would be {new[key]!r}, but it was started "
                                    f"with {old[key]!r}; resume with the run's own config or start a new run")
            if saved != {**saved, **cfg}:
                _write_atomic(existing, json.dumps({**saved, **cfg}, indent=2) + "\n")
            last = self.last_checkpoint()
            keep_until = last["step"] if last else -1
            _rewrite(self.metrics_path, [m for m in read_jsonl(self.metrics_path) if m.get("step", -1) <= keep_until])
            _rewrite(self.ckpt_path, read_jsonl(self.ckpt_path))

    @property
    def config(self) -> dict:
        return json.loads((self.dir / "config.json").read_text())

    def append_line(self, path: Path, row: dict) -> None:
        """One JSON line, flushed and fsynced (a killed run leaves at most a torn last line)."""
        line = json.dumps(row, default=float) + "\n"
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def log_metrics(self, step: int, metrics: dict) -> None:
        self.append_line(self.metrics_path, {"step": int(step), **metrics})

    def log_checkpoint(self, step: int, name: str, path: str, **extra) -> None:
        """One checkpoint line; local paths (``path`` and any ``*_path`` extra) are stored relative
        to the run folder, so a moved or copied run still resolves; URIs are stored as given."""
        extra = {k: (self.relative(v) if k.endswith("_path") and v is not None else v) for k, v in extra.items()}
        self.append_line(self.ckpt_path, {"name": name, "step": int(step), "path": self.relative(path), **extra})

    def relative(self, path: str | os.PathLike) -> str:
        """``path`` relative to the run folder when it lies inside it; URIs and outside paths unchanged."""
        return relative_to_run(self.dir, path)

    def resolve(self, stored: str) -> str:
        """A stored checkpoint path as a usable one (see :func:`resolve_stored`)."""
        return resolve_stored(self.dir, stored)

    def drop_checkpoints(self, which) -> None:
        """Remove the checkpoint lines ``which(row)`` selects (before their files are deleted)."""
        _rewrite(self.ckpt_path, [r for r in self.checkpoints() if not which(r)])

    def metrics(self) -> list[dict]:
        return read_jsonl(self.metrics_path)

    def checkpoints(self) -> list[dict]:
        return read_jsonl(self.ckpt_path)

    def last_checkpoint(self) -> dict | None:
        c = self.checkpoints()
        return c[-1] if c else None


FINAL = "final"  # the name of the checkpoint row a finished run ends with
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(path: str | os.PathLike) -> bool:
    """``tinker://...`` and other scheme-qualified locations: opaque strings, never ``Path`` objects
    (``Path("tinker://a/b")`` collapses the double slash and breaks the URI)."""
    return isinstance(path, str) and bool(_URI.match(path))


def relative_to_run(run_dir: str | Path, path: str | os.PathLike) -> str:
    if is_uri(path):
        return str(path)
    absolute = os.path.abspath(path)
    root = os.path.abspath(run_dir)
    if os.path.commonpath([absolute, root]) == root:
        return Path(os.path.relpath(absolute, root)).as_posix()
    return absolute


def resolve_stored(run_dir: str | Path, stored: str) -> str:
    """A path from ``checkpoints.jsonl``: URIs and absolute paths as they are, relative ones against
    the run folder. Rows written before paths were run-relative held working-directory-relative
    paths; such a path is used when only it exists."""
    if is_uri(stored) or os.path.isabs(stored):
        return stored
    inside = Path(run_dir) / stored
    if not inside.exists() and Path(stored).exists():
        return stored
    return str(inside)


@dataclass(frozen=True)
class Checkpoint:
    """A resolved checkpoint: ``path`` (weights + optimizer, or the compact file) and ``sampler_path``
    (weights only, where the trainer exported one) are usable as they are: local paths or URIs."""

    path: str
    name: str | None = None
    step: int | None = None
    sampler_path: str | None = None
    run_dir: Path | None = None
    row: dict | None = None

    def pick(self, want: str = "state") -> str:
        """``"sampler"``: the weights-only export when there is one; ``"state"``: the full state."""
        return (self.sampler_path if want == "sampler" else None) or self.path


def final_checkpoint(run_dir: str | Path) -> Checkpoint:
    """A run folder's ``final`` checkpoint. A run without one (interrupted, or still running) is
    refused: evaluating or training on a warm start or an intermediate checkpoint must be asked for
    by its path, which the message gives."""
    run = Path(run_dir)
    rows = read_jsonl(run / "checkpoints.jsonl")
    if not rows:
        raise UserError(f"{run}: no checkpoints recorded in checkpoints.jsonl, so there is nothing to load")
    last = rows[-1]
    if last.get("name") != FINAL:  # interrupted, still running, or being extended with --resume
        raise UserError(f"{run} has no final checkpoint (the run stopped after its {last.get('name')!r} checkpoint "
                        f"at step {last.get('step')}); finish it with --resume, or pass that checkpoint itself: "
                        f"{resolve_stored(run, last['path'])}")
    row = last
    sampler = row.get("sampler_path")
    return Checkpoint(path=resolve_stored(run, row["path"]), name=row.get("name"), step=row.get("step"),
                      sampler_path=resolve_stored(run, sampler) if sampler else None, run_dir=run, row=dict(row))


def resolve_checkpoint(spec: str | os.PathLike) -> Checkpoint:
    """The one checkpoint resolver of every trainer and loader: a URI (kept as given), a run folder
    (its ``final`` row, see :func:`final_checkpoint`), or a checkpoint file/folder itself."""
    if is_uri(spec):
        return Checkpoint(path=str(spec))
    p = Path(spec)
    if (p / "checkpoints.jsonl").is_file():
        return final_checkpoint(p)
    if not p.exists():
        raise UserError(f"{spec}: no such checkpoint, checkpoint folder or run folder")
    return Checkpoint(path=str(p))
