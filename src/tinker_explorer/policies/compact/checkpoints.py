"""Crash-safe checkpoints of compact training: every file is written whole (temporary file, then
rename) before the line that points at it is appended to ``checkpoints.jsonl``, and a superseded
checkpoint's line is removed before its file is deleted, so the records only ever name files that
exist and a run killed at any instant resumes from its last recorded state.

- ``warm_parts/<part>.pt``: finished pieces of the warm start (each fold's answer scorer, the second
  stage, the final answer scorer), recorded as ``warm_part`` rows (step -1), so an interrupted warm
  start resumes after its last finished piece instead of starting over.
- ``steps/step_NNNNNN.pt``: policy + optimizer after a GRPO step (rolling: the previous one is
  removed once the next is recorded); ``final.pt``: the same for the last step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tinker_explorer.records import RunRecords

WARM_PART = "warm_part"


def save_atomic(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


class WarmParts:
    """The warm start's finished pieces of one run (none without records: nothing is saved)."""

    def __init__(self, rec: RunRecords | None):
        self.rec = rec
        self.done = ({r["part"]: rec.resolve(r["path"]) for r in rec.checkpoints() if r.get("name") == WARM_PART}
                     if rec is not None else {})

    def get(self, part: str) -> dict | None:
        return torch.load(self.done[part], map_location="cpu", weights_only=True) if part in self.done else None

    def put(self, part: str, value: dict) -> None:
        if self.rec is None:
            return
        path = save_atomic(value, self.rec.dir / "warm_parts" / f"{part}.pt")
        self.rec.log_checkpoint(-1, WARM_PART, path, part=part)
        self.done[part] = str(path)


def set_answer_weights(net, w: torch.Tensor) -> None:
    with torch.no_grad():
        net.emb.weight.copy_(w.to(torch.float32)[:, None])


def answer_weights(net) -> torch.Tensor:
    return net.emb.weight.detach().squeeze(-1).to(torch.float32).clone()


def save_step(rec: RunRecords, policy, opt: torch.optim.Optimizer, step: int, name: str, path: Path,
              previous: str | None, **extra) -> str:
    """Save policy + optimizer to ``path``, record it, then retire ``previous`` (a rolling checkpoint's
    stored path): its line goes first, its file second. Returns the new line's stored path."""
    policy.save(path, extra={"optimizer": opt.state_dict(), "step": step})
    rec.log_checkpoint(step, name, path, **extra)
    stored = rec.relative(path)
    if previous and previous != stored:
        rec.drop_checkpoints(lambda row: row.get("path") == previous)
        Path(rec.resolve(previous)).unlink(missing_ok=True)
    return stored


def load_optimizer(opt: torch.optim.Optimizer, path: str) -> bool:
    """The optimizer state saved beside the policy in a step checkpoint; False when there is none."""
    st = torch.load(path, map_location="cpu", weights_only=True)
    if "optimizer" not in st:
        return False
    opt.load_state_dict(st["optimizer"])
    return True
