"""The environment: ExplorerEnv, its protocol types, the action parser and reward functions."""

from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv, gold_answers
from tinker_explorer.env.parser import parse_action
from tinker_explorer.env.rewards import REWARDS, EpisodeOutcome, RewardConfig, get_reward
from tinker_explorer.env.types import (Action, ActionKind, ChunkView, Observation, StepResult, StopReason,
                                       Trajectory, Transition)

__all__ = ["EnvConfig", "ExplorerEnv", "gold_answers", "parse_action", "REWARDS", "EpisodeOutcome",
           "RewardConfig", "get_reward", "Action", "ActionKind", "ChunkView", "Observation", "StepResult",
           "StopReason", "Trajectory", "Transition"]
