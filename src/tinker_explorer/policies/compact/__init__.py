"""The compact learned policy: a tiny open/stop scorer + a hashed-feature answer scorer (torch, CPU).

``load_compact_policy(checkpoint)`` accepts a checkpoint file or a run directory (its final
checkpoint, via :func:`tinker_explorer.train.records.final_checkpoint`). Training lives in
:mod:`tinker_explorer.policies.compact.train` (warm start + GRPO).
"""

from __future__ import annotations

from pathlib import Path

from tinker_explorer.errors import UserError


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    p = Path(checkpoint)
    if p.is_dir():
        from tinker_explorer.train.records import final_checkpoint
        row = final_checkpoint(p)
        cp = Path(row["path"])
        return cp if cp.is_file() else p / cp.name
    if not p.is_file():
        raise UserError(f"{p}: no such compact checkpoint file or run directory")
    return p


def load_compact_policy(checkpoint: str | Path | None = None, **kwargs):
    """The compact policy from a checkpoint file or run directory (greedy, for evaluation)."""
    if checkpoint is None:
        raise UserError("the compact policy needs --checkpoint (a checkpoint file or a run directory)")
    from tinker_explorer.policies.compact.model import CompactPolicy
    return CompactPolicy.load(resolve_checkpoint(checkpoint), **kwargs)


__all__ = ["load_compact_policy", "resolve_checkpoint"]
