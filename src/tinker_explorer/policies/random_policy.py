"""Random baseline: keeps opening a random unopened chunk with probability 0.6 (at most
``max_opens``), then answers with a random capitalised phrase from what it read (or from
the question when it read nothing). Stateless: all randomness comes from the episode rng."""

from __future__ import annotations

import re

import numpy as np

from tinker_explorer.env.types import Action, Observation
from tinker_explorer.policies.base import SimplePolicy

_CAPS = re.compile(r"[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")


class RandomPolicy(SimplePolicy):
    name = "random"

    def __init__(self, max_opens: int = 3):
        self.max_opens = max_opens

    def act(self, obs: Observation, rng: np.random.Generator) -> Action:
        opened = obs.opened_ids
        closed = [c for c in obs.chunks if not c.opened and c.n_tokens <= obs.budget_left]
        if len(opened) < self.max_opens and closed and obs.steps_left > 1 and rng.random() < 0.6:
            return Action.open(int(rng.choice([c.id for c in closed])))
        text = " ".join(c.text for c in obs.chunks if c.text) or obs.question
        cands = _CAPS.findall(text) or ["yes", "no"]
        return Action.answer(str(rng.choice(cands)))
