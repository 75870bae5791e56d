"""`tinker-explorer view`: trajectory JSONL files -> one self-contained static HTML page.

The page embeds its data as JSON inside ``<script type="application/json">`` (with ``<``, ``>``
and ``&`` escaped as ``\\u003c`` etc., so no data can close the tag) and renders it with
``textContent`` only: a question or answer containing markup is shown, never executed.
Page state lives in the URL hash (``#task=ID&policy=P&type=T&wrong=1&a=P1&b=P2``), so a view
can be linked to and the headless-browser test can open a given state.

The chunk pool (ids, token costs, previews) and the texts the policy paid for are read from the
trajectory's ``pool`` and ``texts`` fields; trajectory files written before those fields existed
still show titles, costs of the opens, actions and scores.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from tinker_explorer.data.schema import json_lines
from tinker_explorer.errors import UserError
from tinker_explorer.report.viewer_page import PAGE

TRAJ_KEYS = ("task_id", "policy", "question", "steps")


@dataclass
class ViewerData:
    tasks: dict  # task_id -> question, gold answer, type, gold ids, chunk pool
    episodes: list  # one per trajectory, compact
    policies: list
    types: list
    files: list


def _read_trajectories(path: Path) -> list[dict]:
    if not path.is_file():
        raise UserError(f"{path}: no such trajectory file (write one with `tinker-explorer eval --trajectories`)")
    out = []
    for lineno, d in json_lines(path, UserError, _not_jsonl):
        if not isinstance(d, dict) or any(k not in d for k in TRAJ_KEYS):
            raise UserError(f"{path}:{lineno}: {_kind_of(d)}, not a trajectory; {EXPECTED}")
        out.append(d)
    return out


EXPECTED = (f"the viewer reads trajectory JSONL files (one episode per line, with {', '.join(TRAJ_KEYS)}), "
            "written by `tinker-explorer eval --trajectories FILE`")


def _kind_of(d) -> str:
    """What a JSON value that is no trajectory looks like, in words."""
    if isinstance(d, dict) and "per_task" in d:
        return "an evaluation result (`eval --json`)"
    if isinstance(d, dict) and "chunks" in d and "question" in d:
        return "a task (`data build` writes task files)"
    if isinstance(d, dict) and "files" in d and "schema" in d:
        return "a build manifest (`data build`)"
    if isinstance(d, dict):
        return "a JSON object without " + ", ".join(k for k in TRAJ_KEYS if k not in d)
    return f"a JSON {type(d).__name__}"


def _not_jsonl(path: Path) -> str | None:
    """The message for a file that is one JSON document over several lines (an eval result, a
    manifest) rather than JSON lines; None when it is not valid JSON either."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return f"{path}: {_kind_of(d)}, not trajectories; {EXPECTED}"


def _policy_labels(files: list[tuple[Path, list[dict]]]) -> list[str]:
    """Per file: its policy name, or 'policy [file stem]' when two files share a policy name."""
    names = [(rows[0].get("policy") if rows else None) or p.stem for p, rows in files]
    labels = [n if names.count(n) == 1 else f"{n} [{p.stem}]" for n, (p, _) in zip(names, files)]
    return [lab if labels.count(lab) == 1 else f"{lab} #{k + 1}" for k, lab in enumerate(labels)]


def _pool(d: dict) -> list[dict]:
    if d.get("pool"):
        return [{"id": c["id"], "title": c.get("title", ""), "tokens": c.get("tokens"), "preview": c.get("preview", "")}
                for c in d["pool"]]
    return [{"id": i, "title": t, "tokens": None, "preview": ""} for i, t in enumerate(d.get("chunk_titles") or [])]


def _episode(d: dict, label: str) -> tuple[dict, dict]:
    steps = d.get("steps") or []
    task = {"question": d.get("question", ""), "gold": d.get("gold_answer", ""), "type": d.get("task_type", ""),
            "gold_ids": list(d.get("gold_ids") or []), "pool": _pool(d)}
    texts = {str(k): v for k, v in (d.get("texts") or {}).items()}
    ep_steps = []
    for s in steps:
        a = s.get("action") or {}
        ep_steps.append({"kind": a.get("kind"), "chunk": a.get("chunk"), "text": a.get("text"), "raw": a.get("raw"),
                         "cost": s.get("cost", 0), "status": s.get("status", "")})
    ep = {"task_id": str(d["task_id"]), "policy": label, "answer": d.get("answer"), "f1": d.get("f1"),
          "em": d.get("em"), "reward": d.get("reward"), "stop_reason": d.get("stop_reason"),
          "opened": list(d.get("opened") or []), "tokens_read": d.get("tokens_read"), "budget": d.get("budget"),
          "n_parse_errors": d.get("n_parse_errors", 0), "steps": ep_steps, "texts": texts}
    return task, ep


def load_viewer_data(paths: list[str | Path]) -> ViewerData:
    if not paths:
        raise UserError("give at least one trajectory file (from `tinker-explorer eval --trajectories`)")
    files = [(Path(p), _read_trajectories(Path(p))) for p in paths]
    labels = _policy_labels(files)
    tasks: dict[str, dict] = {}
    episodes = []
    for (p, rows), label in zip(files, labels):
        for d in rows:
            task, ep = _episode(d, label)
            prev = tasks.get(ep["task_id"])
            if prev is None or (not any(c.get("tokens") for c in prev["pool"]) and task["pool"]):
                tasks[ep["task_id"]] = task
            episodes.append(ep)
    types = sorted({t["type"] for t in tasks.values()})
    return ViewerData(tasks=tasks, episodes=episodes, policies=labels, types=types, files=[str(p) for p, _ in files])


def _json_for_script(obj) -> str:
    """JSON that cannot end a <script> element or start a comment: escape <, >, & (and U+2028/9)."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_page(data: ViewerData, title: str = "Tinker-Explorer trajectories") -> str:
    payload = {"tasks": data.tasks, "episodes": data.episodes, "policies": data.policies, "types": data.types,
               "files": data.files}
    return (PAGE.replace("__TITLE__", html.escape(title))
            .replace("__DATA__", _json_for_script(payload)))


def write_page(paths: list[str | Path], out: str | Path) -> tuple[Path, ViewerData]:
    data = load_viewer_data(paths)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(data), encoding="utf-8")
    return out, data
