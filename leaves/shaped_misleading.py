"""Leaf shaped_misleading: Original run 1: shaped reward (F1 - token cost - format penalties); uninformative status line."""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Original run 1: shaped reward (F1 - token cost - format penalties); uninformative status line."


def configure(cfg):
    return replace(cfg, reward=RewardConfig(name="shaped"), honest_status=False)
