"""The policy protocol.

A policy maps observations to actions. It is called on a *batch* of live episodes at once
(``act_batch``) so that model-backed policies can batch their forward passes; each episode
has its own seeded random generator, so trajectories do not depend on the batch size.
Policies never see gold information: only :class:`Observation`.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from tinker_explorer.env.types import Action, Observation


@runtime_checkable
class Policy(Protocol):
    name: str

    def act_batch(self, observations: Sequence[Observation],
                  rngs: Sequence[np.random.Generator]) -> list[Action]:
        ...


class SimplePolicy:
    """Base for policies that decide one observation at a time."""

    name = "simple"

    def act(self, obs: Observation, rng: np.random.Generator) -> Action:
        raise NotImplementedError

    def act_batch(self, observations, rngs):
        return [self.act(o, r) for o, r in zip(observations, rngs)]
