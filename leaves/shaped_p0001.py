"""Leaf shaped_p0001: the shaped reward at 0.0001 per token read, between pure F1 (0 per token, 309 tokens read)
and the default 0.0002 (263): how much F1 does reading more buy, and does it stay under the
250-token reading target?"""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Shaped reward with token cost 0.0001 (default 0.0002); honest status."


def configure(cfg):
    return replace(cfg, reward=RewardConfig(name="shaped", token_cost=0.0001), honest_status=True)
