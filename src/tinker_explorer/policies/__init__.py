"""Policies: random, heuristic, compact (learned, torch), llm (engine-backed).

Use :func:`get_policy` to build one by name; heavy dependencies are imported lazily.
"""

from tinker_explorer.policies.base import Policy, SimplePolicy, get_policy

__all__ = ["Policy", "SimplePolicy", "get_policy"]
