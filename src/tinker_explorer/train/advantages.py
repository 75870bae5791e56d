"""GRPO advantages: reward minus the group mean, optionally divided by the group std.

Pure functions over a ``[n_groups, group_size]`` reward array. Groups whose rewards are
all equal carry no learning signal and are reported as skipped.
"""

from __future__ import annotations

import numpy as np


def grpo_advantages(rewards, normalize_std: bool = False, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(advantages [B, G], skipped [B] bool)``. Skipped groups get all-zero advantages."""
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 2:
        raise ValueError(f"rewards must be [n_groups, group_size], got shape {r.shape}")
    adv = r - r.mean(axis=1, keepdims=True)
    std = r.std(axis=1, keepdims=True)
    skipped = (std[:, 0] <= eps)
    if normalize_std:
        adv = adv / np.maximum(std, eps)
    adv[skipped] = 0.0
    return adv, skipped
