"""Leaf f1_honest: Original run 3 (baseline): pure F1 reward; honest status line."""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Original run 3 (baseline): pure F1 reward; honest status line."


def configure(cfg):
    return replace(cfg, reward=RewardConfig(name="f1"), honest_status=True)
