"""The compact learned policy: a tiny open/stop scorer + a hashed-feature answer scorer (torch, CPU).

``load_compact_policy(checkpoint)`` accepts a checkpoint file or a run directory (its
``final`` checkpoint, via :func:`tinker_explorer.records.resolve_checkpoint`). Training lives in
:mod:`tinker_explorer.train.compact` (warm start + GRPO).
"""

from __future__ import annotations

from pathlib import Path

from tinker_explorer.errors import UserError


def compact_checkpoint(checkpoint: str | Path) -> Path:
    """A checkpoint file, or a run folder's ``final`` checkpoint (the shared resolver's rules)."""
    from tinker_explorer.records import is_uri
    from tinker_explorer.records import resolve_checkpoint as resolve
    if is_uri(str(checkpoint)):
        raise UserError(f"{checkpoint}: the compact policy loads local checkpoint files, not URIs")
    ck = resolve(str(checkpoint))
    p = Path(ck.path)
    if not p.is_file():
        where = f" (recorded in {ck.run_dir}/checkpoints.jsonl)" if ck.run_dir else ""
        raise UserError(f"{p}: no such compact checkpoint file{where}")
    return p


def load_compact_policy(checkpoint: str | Path | None = None, **kwargs):
    """The compact policy from a checkpoint file or run directory (greedy, for evaluation)."""
    if checkpoint is None:
        raise UserError("the compact policy needs --checkpoint (a checkpoint file or a run directory)")
    from tinker_explorer.policies.compact.model import CompactPolicy
    return CompactPolicy.load(compact_checkpoint(checkpoint), **kwargs)


__all__ = ["compact_checkpoint", "load_compact_policy"]
