"""Policies by name. Kept apart from the protocol (``base``) so that the protocol module imports
nothing concrete; heavy dependencies (torch, engines) load only with the policy that needs them."""

from __future__ import annotations

from tinker_explorer.errors import UserError
from tinker_explorer.policies.base import Policy


POLICY_NAMES = ("random", "heuristic", "compact", "llm")


def get_policy(name: str, **kwargs) -> Policy:
    """Build a policy by name. ``compact`` takes ``checkpoint=``; ``llm`` takes engine options."""
    if name == "random":
        from tinker_explorer.policies.random_policy import RandomPolicy
        return RandomPolicy(**kwargs)
    if name == "heuristic":
        from tinker_explorer.policies.heuristic import HeuristicPolicy
        return HeuristicPolicy(**kwargs)
    if name == "compact":
        from tinker_explorer.policies.compact import load_compact_policy
        return load_compact_policy(**kwargs)
    if name == "llm":
        from tinker_explorer.policies.llm import load_llm_policy
        return load_llm_policy(**kwargs)
    raise UserError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_NAMES)}")
