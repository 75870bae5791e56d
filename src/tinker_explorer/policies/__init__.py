"""Policies: random, heuristic, compact (learned, torch), llm (engine-backed).

Use :func:`get_policy` to build one by name; heavy dependencies are imported lazily.
"""

from tinker_explorer.policies.base import Policy, SimplePolicy
from tinker_explorer.policies.registry import POLICY_NAMES, get_policy

__all__ = ["POLICY_NAMES", "Policy", "SimplePolicy", "get_policy"]
