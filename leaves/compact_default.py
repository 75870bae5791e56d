"""Leaf compact_default: the compact trainer's default when this leaf was run (shaped reward, 0.0006
per token read). The ledger's rows for it led to the default's change to 0.0002 (the shaped_honest leaf)."""

from dataclasses import replace

from tinker_explorer.env.rewards import RewardConfig

DESCRIPTION = "Compact trainer default until 2026-11-27: shaped reward with token cost 0.0006 (3x the env default); honest status."


def configure(cfg):
    return replace(cfg, reward=RewardConfig(name="shaped", token_cost=0.0006), honest_status=True)
