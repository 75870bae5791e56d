"""Leaf f1_misleading: Original run 2: pure F1 reward; uninformative status line."""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Original run 2: pure F1 reward; uninformative status line."


def configure(cfg):
    return replace(cfg, reward=RewardConfig(name="f1"), honest_status=False)
