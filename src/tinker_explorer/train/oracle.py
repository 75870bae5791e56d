"""The oracle reader's walk, whose states teach the compact policy's warm start.

An oracle that knows the gold chunks opens them one by one (question-named chunks first, then the
bridge chunk named earliest in what was read) and records, at every state, the answer candidates
with their F1 against the gold answer. It is one more actor on the episode runner: it answers
(ending the episode) once nothing gold is left, the step limit is near, or the next gold chunk
does not fit the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tinker_explorer.data.answers import best_f1
from tinker_explorer.data.schema import Task
from tinker_explorer.env.explorer import EnvConfig, gold_answers
from tinker_explorer.env.types import Action
from tinker_explorer.eval.runner import run_lockstep


@dataclass
class OracleState:
    task_idx: int
    obs: object
    n_opened: int
    remaining_gold: list[int]
    targets: list[int]  # chunk ids the oracle would open next (any of them)
    cand_f1: np.ndarray
    remaining_tokens: int
    info: object = None  # the observation's ObsInfo, parsed once (the stop rows reuse it)


class OracleActor:
    """Per episode: the gold chunks not yet opened; per observation: one :class:`OracleState`."""

    def __init__(self, policy, tasks: Sequence[Task]):
        self.policy, self.tasks = policy, tasks
        self.remaining = {i: list(t.gold_ids) for i, t in enumerate(tasks)}

    def state(self, i: int, obs) -> OracleState:
        task, remaining = self.tasks[i], self.remaining[i]
        info = self.policy.analyse(obs)
        q_first = [c for c in remaining if c in info.qchunks]
        if q_first:
            targets = q_first
        else:  # bridge chunks: the one named earliest in what was read first
            targets = sorted(remaining, key=lambda c: (info.first_mention[c], c))[:1] if remaining else []
        golds = gold_answers(task)
        f1 = np.array([best_f1(t, golds) for t in self.policy.candidates(obs, info).texts], dtype=np.float32)
        return OracleState(i, obs, len(task.gold_ids) - len(remaining), list(remaining), targets, f1,
                           sum(task.chunks[c].n_tokens for c in remaining), info)

    def __call__(self, idx, observations, rngs, turn):
        out = []
        for i, obs in zip(idx, observations):
            s = self.state(i, obs)
            remaining = self.remaining[i]
            if not remaining or obs.steps_left <= 1 or self.tasks[i].chunks[s.targets[0]].n_tokens > obs.budget_left:
                out.append((Action.answer(""), s))
            else:
                remaining.remove(s.targets[0])
                out.append((Action.open(s.targets[0]), s))
        return out


def oracle_states(policy, tasks: Sequence[Task], budget: int, max_steps: int,
                  progress: bool = False) -> list[OracleState]:
    """Walk each task through the oracle reading order; every state, task by task, in reading order."""
    if policy.syntax() is not None:  # the oracle opens the gold chunks: parse them in batches first
        policy.syntax().parse_many(t.chunks[i].text for t in tasks for i in t.gold_ids)
    bar = None
    if progress:
        from tinker_explorer.console import tqdm
        bar = tqdm(total=len(tasks), desc="warm start: oracle states", unit="task")
    eps = run_lockstep(OracleActor(policy, tasks), tasks, EnvConfig(budget=budget, max_steps=max_steps),
                       on_done=(lambda e: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    return [s for e in eps for s in e.records]
