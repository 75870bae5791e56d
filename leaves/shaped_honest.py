"""Leaf shaped_honest: Completes the 2x2: shaped reward with the honest status line."""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Completes the 2x2: shaped reward with the honest status line."


def configure(cfg):
    return replace(cfg, reward=RewardConfig(name="shaped"), honest_status=True)
