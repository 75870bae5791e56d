"""Leaf compact_default: the compact trainer's own defaults (shaped reward, 0.0006 per token read)."""

from dataclasses import replace

from tinker_explorer.policies.compact.train import DEFAULT_REWARD

DESCRIPTION = "Compact trainer default: shaped reward with token cost 0.0006 (3x the env default); honest status."


def configure(cfg):
    return replace(cfg, reward=DEFAULT_REWARD, honest_status=True)
