"""The fixed harness every ablation leaf is measured by, the leaf files, and the slim per-task
results (hashed task ids only) that leaves and variants pair by."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tinker_explorer.errors import UserError


@dataclass(frozen=True)
class Harness:
    """The fixed evaluation every leaf is measured by. Do not edit per experiment."""

    train_tasks: str = "data_out/2wiki/train.jsonl"
    # records [holdout_from:] of the training file are held out for the leaf metric. The builder keeps
    # the source order: 600 official-train questions, then 749 official-dev ones like our dev split.
    # Records 1000+ are dev-like and were never used to write the heuristic's rules (a random holdout
    # mixed in the much easier official-train questions: heuristic 0.907 there vs 0.726 here).
    holdout_from: int = 1000
    budget: int = 2000
    grpo_steps: int = 80  # per experiment (one seed), after the shared warm start; no leaf may change it
    baseline_leaf: str = "f1_honest"
    leaves_dir: str = "leaves"


HARNESS = Harness()


def split_train(tasks: list, h: Harness = HARNESS) -> tuple[list, list]:
    """(training part, held-out part) of the harness's task file."""
    if not 0 < h.holdout_from < len(tasks):
        raise UserError(f"{h.train_tasks}: {len(tasks)} tasks; the harness holds out records {h.holdout_from}+, "
                        "so it needs more (build the 2Wiki tasks as the README says)")
    return list(tasks[:h.holdout_from]), list(tasks[h.holdout_from:])


def load_leaf(name: str, h: Harness = HARNESS):
    path = Path(h.leaves_dir) / f"{name}.py"
    if not path.is_file():
        have = sorted(p.stem for p in Path(h.leaves_dir).glob("*.py") if not p.stem.startswith("_"))
        raise UserError(f"no leaf {name!r} ({path}); leaves here: {', '.join(have) or 'none'}")
    spec = importlib.util.spec_from_file_location(f"leaf_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not callable(getattr(mod, "configure", None)):
        raise UserError(f"{path}: a leaf must define configure(cfg) -> cfg")
    return mod

def task_key(task_id: str) -> str:
    """A task's id, hashed: the ledger's per-task rows pair leaves task by task without carrying
    dataset content (ids, questions, answers) into the repository."""
    return hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:16]


def slim_result(res: dict) -> dict:
    """An eval result without dataset content: aggregates, and per task only a hashed id, the type,
    F1, EM and tokens read (what the paired comparisons need)."""
    keep = ("task_id", "type", "f1", "em", "tokens_read")
    out = {k: v for k, v in res.items() if k != "per_task"}
    out["per_task"] = [{**{k: r[k] for k in keep if k in r}, "task_id": task_key(str(r["task_id"]))}
                       for r in res.get("per_task", [])]
    return out

