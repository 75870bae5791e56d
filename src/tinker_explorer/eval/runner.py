"""The one episode runner: every policy, for evaluation, GRPO rollouts and oracle walks.

``run_lockstep`` steps every live episode of a batch together, so a model-backed actor gets one
batched call per turn. Episode ``i`` draws from ``default_rng([*seed, key_i])`` (``key_i`` = ``i``
unless given): a policy that samples only from each episode's own generator gives the same
episodes whatever the batch size. An engine-backed sampler that takes one seed per call (the LLM)
derives it from ``(seed, turn)`` through the ``turn`` the actor is given.

``run_episodes`` is evaluation's view of it: a :class:`Policy` in, :class:`Trajectory` rows out;
``summarize`` turns them into the metrics JSON (:mod:`tinker_explorer.eval.aggregate`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from tinker_explorer.data.answers import best_em, best_f1
from tinker_explorer.data.schema import Task
from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv, gold_answers
from tinker_explorer.env.types import Action, Observation, StepResult, Trajectory, Transition
from tinker_explorer.eval.aggregate import TaskResult, aggregate, metrics_json
from tinker_explorer.eval.metrics import chunk_precision_recall
from tinker_explorer.policies.base import Policy

# (episode indices, their observations, their generators, turn) -> one action per episode, or
# (action, record) pairs: the record (an LLM turn, a compact decision) is kept with the step
Actor = Callable[[Sequence[int], Sequence[Observation], Sequence[np.random.Generator], int], Sequence[Any]]


@dataclass
class Step:
    observation: Observation  # what the action was chosen on
    action: Action
    result: StepResult
    seconds: float  # the actor's time for this step (its batched call, shared evenly)
    record: Any = None


@dataclass
class Episode:
    index: int  # position in the task list given to the runner
    task: Task
    env: ExplorerEnv  # its final state: answer, opened, tokens_read, ...
    steps: list[Step] = field(default_factory=list)

    @property
    def reward(self) -> float:
        return float(self.steps[-1].result.reward) if self.steps else 0.0

    @property
    def records(self) -> list:
        return [s.record for s in self.steps]

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def f1_em(self) -> tuple[float, float]:
        golds = gold_answers(self.task)
        return best_f1(self.env.answer, golds), best_em(self.env.answer, golds)

    def result(self) -> TaskResult:
        env, task = self.env, self.task
        f1, em = self.f1_em()
        p, r = chunk_precision_recall(env.opened, task.gold_ids)
        return TaskResult(task.id, task.type, f1, em, env.answer, task.answer, len(env.opened), env.tokens_read,
                          self.reward, len(self.steps), env.n_parse_errors, p, r)

    def trajectory(self, policy: str, seed: int, keep_text: bool = True) -> Trajectory:
        env, task = self.env, self.task
        f1, em = self.f1_em()
        steps = [Transition.record(s.observation, s.action, s.result, s.seconds, keep_text=keep_text)
                 for s in self.steps]
        return Trajectory(
            task_id=task.id, task_type=task.type, policy=policy, question=task.question, gold_answer=task.answer,
            gold_ids=task.gold_ids, steps=steps, answer=env.answer, stop_reason=env.stop_reason.value,
            opened=list(env.opened), tokens_read=env.tokens_read, n_parse_errors=env.n_parse_errors,
            reward=self.reward, f1=f1, em=em, seed=seed, budget=env.config.budget, seconds=self.seconds,
            pool=env.pool(), texts=env.read_texts())


def policy_actor(policy: Policy) -> Actor:
    """A :class:`Policy` as an actor: its ``act_batch``, no records."""
    return lambda idx, obs, rngs, turn: policy.act_batch(obs, rngs)


def _seed_list(seed: int | Sequence[int]) -> list[int]:
    return [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]


def run_lockstep(actor: Actor, tasks: Sequence[Task], env_config: EnvConfig | Sequence[EnvConfig] | None = None,
                 seed: int | Sequence[int] = 0, keys: Sequence[int] | None = None, batch_size: int | None = None,
                 on_done: Callable[[Episode], None] | None = None) -> list[Episode]:
    """Run one episode per task (repeat a task for a group), ``batch_size`` at a time (all: None);
    ``env_config``: one for all, or one per task. Returns the episodes in task order."""
    n = len(tasks)
    cfgs = ([env_config or EnvConfig()] * n if env_config is None or isinstance(env_config, EnvConfig)
            else list(env_config))
    keys = list(range(n)) if keys is None else [int(k) for k in keys]
    if len(cfgs) != n or len(keys) != n:
        raise ValueError(f"{n} tasks need {n} env configs and keys, got {len(cfgs)} and {len(keys)}")
    prefix = _seed_list(seed)
    out: list[Episode] = []
    size = batch_size or max(1, n)
    for start in range(0, n, size):
        idx = list(range(start, min(n, start + size)))
        eps = [Episode(i, tasks[i], ExplorerEnv(cfgs[i])) for i in idx]
        rngs = [np.random.default_rng([*prefix, keys[i]]) for i in idx]
        obs = [e.env.reset(e.task) for e in eps]
        live = list(range(len(idx)))
        turn = 0
        while live:
            t0 = time.perf_counter()
            acts = actor([idx[j] for j in live], [obs[j] for j in live], [rngs[j] for j in live], turn)
            dt = (time.perf_counter() - t0) / len(live)
            still = []
            for j, a in zip(live, acts):
                action, record = a if isinstance(a, tuple) else (a, None)
                res = eps[j].env.step(action)
                eps[j].steps.append(Step(obs[j], action, res, dt, record))
                obs[j] = res.observation
                if res.done:
                    if on_done is not None:
                        on_done(eps[j])
                else:
                    still.append(j)
            live, turn = still, turn + 1
        out += eps
    return out


def run_episodes(policy: Policy, tasks: Sequence[Task], env_config: EnvConfig | None = None,
                 seed: int = 0, batch_size: int = 64, progress: bool = False,
                 record_observations: bool = True) -> list[Trajectory]:
    """Evaluate ``policy``: one trajectory per task, in task order."""
    name = getattr(policy, "name", "policy")
    bar = None
    if progress:
        from tinker_explorer.console import tqdm
        bar = tqdm(total=len(tasks), desc=f"eval {name}", unit="task")
    eps = run_lockstep(policy_actor(policy), tasks, env_config, seed=seed, batch_size=batch_size,
                       on_done=(lambda e: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    return [e.trajectory(name, seed, keep_text=record_observations) for e in eps]


def summarize(trajs: Sequence[Trajectory], policy: str = "", extra: dict | None = None) -> dict:
    """The eval JSON of trajectories (see :func:`tinker_explorer.eval.aggregate.metrics_json`)."""
    return metrics_json([TaskResult.from_trajectory(t) for t in trajs],
                        policy or (trajs[0].policy if trajs else ""), extra)


def validation_metrics(policy: Policy, tasks: Sequence[Task], env_config: EnvConfig, seed: int = 0,
                       batch_size: int = 64) -> dict:
    """A training run's ``val_*`` metrics: greedy episodes on held-out tasks, aggregated without CIs."""
    trajs = run_episodes(policy, tasks, env_config, seed=seed, batch_size=batch_size, record_observations=False)
    agg = aggregate([TaskResult.from_trajectory(t) for t in trajs], ci=False)
    return {"val_f1": agg["f1"], "val_em": agg["em"], "val_reward": agg["reward"],
            "val_answer_rate": agg["answer_rate"], "val_tokens_read": agg["avg_tokens_read"]}
