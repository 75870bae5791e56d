"""Task and chunk records, and their JSONL (de)serialisation.

One task per line. Every line carries ``"schema": SCHEMA_VERSION``; a file from another
version, or a malformed line, raises :class:`TaskFileError` naming the file and line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tinker_explorer.data.tokens import count_tokens, first_tokens
from tinker_explorer.errors import UserError

SCHEMA_VERSION = 1
DEFAULT_PREVIEW_TOKENS = 12


class TaskFileError(UserError):
    """A task file that cannot be read: missing, malformed, or of another schema version."""


@dataclass(frozen=True)
class Chunk:
    """One evidence paragraph in a task's pool."""

    id: int  # position in the pool, what OPEN refers to
    title: str
    text: str
    preview: str  # title + first few tokens of text: what a policy sees before opening
    n_tokens: int  # reading cost of opening it (see data.tokens)
    is_gold: bool = False  # a supporting paragraph; never shown to policies

    @classmethod
    def make(cls, id: int, title: str, text: str, is_gold: bool = False,
             preview_tokens: int = DEFAULT_PREVIEW_TOKENS) -> "Chunk":
        head = first_tokens(text, preview_tokens)
        preview = f"{title}: {head}" + (" ..." if len(head) < len(text) else "")
        return cls(id=id, title=title, text=text, preview=preview,
                   n_tokens=count_tokens(text), is_gold=is_gold)


@dataclass(frozen=True)
class Task:
    """A question, its gold answer and a pool of chunks to read from."""

    id: str
    question: str
    answer: str
    type: str  # compositional | comparison | inference | bridge_comparison | (other datasets: their own)
    chunks: tuple[Chunk, ...]
    source: str = ""
    # Extra gold information for learning and inspection (e.g. 2Wiki evidence triples,
    # answer aliases). Never shown to policies at evaluation time.
    meta: dict = field(default_factory=dict)

    @property
    def gold_ids(self) -> list[int]:
        return [c.id for c in self.chunks if c.is_gold]

    def to_json(self) -> dict:
        d = asdict(self)
        d["chunks"] = [asdict(c) for c in self.chunks]
        return {"schema": SCHEMA_VERSION, **d}

    @classmethod
    def from_json(cls, d: dict) -> "Task":
        d = dict(d)
        d.pop("schema", None)
        chunks = tuple(Chunk(**c) for c in d.pop("chunks"))
        for i, c in enumerate(chunks):
            if c.id != i:
                raise ValueError(f"chunk ids must be 0..n-1 in order, found {c.id} at position {i}")
            # n_tokens is the reading cost every budget is charged: it must be the text's own count
            if c.n_tokens != count_tokens(c.text):
                raise ValueError(f"chunk {i} says n_tokens {c.n_tokens} but its text has {count_tokens(c.text)} "
                                 "tokens")
        return cls(chunks=chunks, **d)


def dumps_task(task: Task) -> str:
    """One canonical JSON line (sorted keys, no spaces): byte-identical across runs."""
    return json.dumps(task.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def tasks_sha256(tasks: Iterable[Task]) -> str:
    """sha256 of the tasks as :func:`save_tasks` writes them (so, of a file it wrote): what identifies
    the training data of a run and of every cache built from it."""
    import hashlib
    h = hashlib.sha256()
    for t in tasks:
        h.update((dumps_task(t) + "\n").encode("utf-8"))
    return h.hexdigest()


def save_tasks(tasks: Iterable[Task], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for t in tasks:
            f.write(dumps_task(t) + "\n")
            n += 1
    tmp.replace(path)  # never leave a half-written task file behind
    return n


def json_lines(path: Path, error: type[Exception] = UserError,
               whole_file: Callable[[Path], str | None] | None = None) -> Iterator[tuple[int, object]]:
    """(1-based line number, value) per non-blank line of a JSON-lines file; a line that is not JSON
    raises ``error`` naming the file and line (or ``whole_file(path)``'s message, when it has one)."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise error((whole_file and whole_file(path)) or f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            yield lineno, value


def load_tasks(path: str | Path, limit: int | None = None) -> list[Task]:
    """Read a task JSONL file; errors name the file and the 1-based line."""
    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: no such task file (build one with `tinker-explorer data build`)")
    tasks: list[Task] = []
    for lineno, d in json_lines(path, TaskFileError):
        if not isinstance(d, dict):
            raise TaskFileError(f"{path}:{lineno}: expected a JSON object per line")
        version = d.get("schema")
        if version != SCHEMA_VERSION:
            raise TaskFileError(
                f"{path}:{lineno}: task schema version {version!r}, this version of "
                f"tinker-explorer reads {SCHEMA_VERSION}; rebuild the tasks with `tinker-explorer data build`")
        try:
            tasks.append(Task.from_json(d))
        except (TypeError, ValueError, KeyError) as e:
            raise TaskFileError(f"{path}:{lineno}: not a valid task ({e})") from None
        if limit is not None and len(tasks) >= limit:
            break
    return tasks
