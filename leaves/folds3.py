"""Leaf folds3: three cross-fitted answer scorers instead of two. They set the warm start's stop
targets and answer during GRPO rollouts; trained on 2/3 of the tasks instead of 1/2 they are closer
to the final answer scorer. On the dev-like split (tinker-explorer bench devlike-holdout, seed 0) this read
more on bridge-comparison questions: +0.014 F1 for +23 tokens. Does it hold over seeds, and does it
stay under the 250-token reading target?"""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Three answer folds (default 2); shaped reward 0.0002 per token; honest status."


def configure(cfg):
    return replace(cfg, answer_folds=3, reward=RewardConfig(name="shaped", token_cost=0.0002), honest_status=True)
