"""Leaf folds3_p00025: three answer folds (leaf folds3) with a dearer read, 0.00025 per token: can
the extra F1 of three folds be kept under the 250-token reading target?"""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Three answer folds (default 2); shaped reward 0.00025 per token; honest status."


def configure(cfg):
    return replace(cfg, answer_folds=3, reward=RewardConfig(name="shaped", token_cost=0.00025), honest_status=True)
