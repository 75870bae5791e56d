"""Reward functions: pure functions of a finished episode.

Each takes an :class:`EpisodeOutcome` and returns a float. Select one by name with
:func:`get_reward`.

- ``f1``: token F1 of the answer against the gold answer (0 without an answer). Nothing else.
- ``em``: exact match (0/1).
- ``shaped``: F1 - ``token_cost`` x tokens read - ``parse_error_penalty`` x parse errors
  - ``no_answer_penalty`` if the episode ended without an answer. The original system's
  run 1 used such a shaped reward; with defaults 0.0002/token, a full 2,000-token budget
  costs 0.4 F1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tinker_explorer.data.answers import best_em, best_f1


@dataclass(frozen=True)
class EpisodeOutcome:
    answer: str | None
    gold_answers: tuple[str, ...]  # first is the canonical answer; others are aliases
    tokens_read: int
    budget: int
    n_steps: int
    n_parse_errors: int
    n_opens: int


@dataclass(frozen=True)
class RewardConfig:
    name: str = "f1"
    token_cost: float = 0.0002
    parse_error_penalty: float = 0.1
    no_answer_penalty: float = 0.1


RewardFn = Callable[[EpisodeOutcome, RewardConfig], float]


def reward_f1(o: EpisodeOutcome, cfg: RewardConfig) -> float:
    return best_f1(o.answer, o.gold_answers)


def reward_em(o: EpisodeOutcome, cfg: RewardConfig) -> float:
    return best_em(o.answer, o.gold_answers)


def reward_shaped(o: EpisodeOutcome, cfg: RewardConfig) -> float:
    r = best_f1(o.answer, o.gold_answers)
    r -= cfg.token_cost * o.tokens_read
    r -= cfg.parse_error_penalty * o.n_parse_errors
    if o.answer is None:
        r -= cfg.no_answer_penalty
    return r


REWARDS: dict[str, RewardFn] = {"f1": reward_f1, "em": reward_em, "shaped": reward_shaped}


def get_reward(name: str) -> RewardFn:
    try:
        return REWARDS[name]
    except KeyError:
        from tinker_explorer.errors import UserError
        raise UserError(f"unknown reward {name!r}; choose one of {', '.join(REWARDS)}") from None
