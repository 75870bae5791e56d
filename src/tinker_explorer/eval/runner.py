"""Run a policy over tasks in lockstep batches and summarise the results.

``run_episodes`` steps every live episode of a batch together, so a model-backed policy
gets one batched call per step. Episode ``i`` draws from ``default_rng([seed, i])``:
identical seeds give identical trajectories whatever the batch size.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from tinker_explorer.data.schema import Task
from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv, gold_answers
from tinker_explorer.env.types import Trajectory, Transition
from tinker_explorer.eval.metrics import best_em, best_f1, bootstrap_ci, chunk_precision_recall
from tinker_explorer.policies.base import Policy


def run_episodes(policy: Policy, tasks: Sequence[Task], env_config: EnvConfig | None = None,
                 seed: int = 0, batch_size: int = 64, progress: bool = False,
                 record_observations: bool = True) -> list[Trajectory]:
    env_config = env_config or EnvConfig()
    out: list[Trajectory] = []
    bar = None
    if progress:
        from tinker_explorer.console import tqdm
        bar = tqdm(total=len(tasks), desc=f"eval {getattr(policy, 'name', 'policy')}", unit="task")
    for start in range(0, len(tasks), batch_size):
        batch = list(tasks[start:start + batch_size])
        envs = [ExplorerEnv(env_config) for _ in batch]
        rngs = [np.random.default_rng([seed, start + j]) for j in range(len(batch))]
        obs = [e.reset(t) for e, t in zip(envs, batch)]
        steps: list[list[Transition]] = [[] for _ in batch]
        seconds = [0.0] * len(batch)
        live = list(range(len(batch)))
        while live:
            t0 = time.perf_counter()
            actions = policy.act_batch([obs[j] for j in live], [rngs[j] for j in live])
            dt = (time.perf_counter() - t0) / len(live)
            still = []
            for j, a in zip(live, actions):
                res = envs[j].step(a)
                seconds[j] += dt
                steps[j].append(Transition(observation=obs[j].text if record_observations else "",
                                           action=a.to_json(), cost=res.info["cost"],
                                           status=res.info["status"], reward=res.reward, seconds=dt))
                obs[j] = res.observation
                if res.done:
                    out.append(_trajectory(policy, batch[j], envs[j], steps[j], res.reward, seed, seconds[j]))
                    if bar is not None:
                        bar.update(1)
                else:
                    still.append(j)
            live = still
    if bar is not None:
        bar.close()
    order = {t.id: k for k, t in enumerate(tasks)}
    out.sort(key=lambda tr: order[tr.task_id])
    return out


def _trajectory(policy, task: Task, env: ExplorerEnv, steps, reward, seed, seconds) -> Trajectory:
    golds = gold_answers(task)
    return Trajectory(
        task_id=task.id, task_type=task.type, policy=getattr(policy, "name", "policy"),
        question=task.question, gold_answer=task.answer, gold_ids=task.gold_ids, steps=steps,
        answer=env.answer, stop_reason=env.stop_reason.value, opened=list(env.opened),
        tokens_read=env.tokens_read, n_parse_errors=env.n_parse_errors, reward=float(reward),
        f1=best_f1(env.answer, golds), em=best_em(env.answer, golds), seed=seed,
        budget=env.config.budget, seconds=seconds, chunk_titles=[c.title for c in task.chunks])


def _group(trajs: Sequence[Trajectory]) -> dict:
    n = len(trajs)
    if n == 0:
        return {"n_tasks": 0}
    f1 = [t.f1 for t in trajs]
    pr = [chunk_precision_recall(t.opened, t.gold_ids) for t in trajs]
    return {
        "n_tasks": n,
        "f1": float(np.mean(f1)),
        "em": float(np.mean([t.em for t in trajs])),
        "answer_rate": float(np.mean([t.answer is not None for t in trajs])),
        "avg_opens": float(np.mean([len(t.opened) for t in trajs])),
        "avg_tokens_read": float(np.mean([t.tokens_read for t in trajs])),
        "avg_steps": float(np.mean([len(t.steps) for t in trajs])),
        "parse_error_rate": float(np.sum([t.n_parse_errors for t in trajs]) / max(1, sum(len(t.steps) for t in trajs))),
        "chunk_precision": float(np.mean([p for p, _ in pr])),
        "chunk_recall": float(np.mean([r for _, r in pr])),
        "reward": float(np.mean([t.reward for t in trajs])),
        "f1_ci": list(bootstrap_ci(f1)),
        "em_ci": list(bootstrap_ci([t.em for t in trajs])),
    }


def summarize(trajs: Sequence[Trajectory], policy: str = "", extra: dict | None = None) -> dict:
    """The eval JSON: top-level metrics, per-type breakdown, and per-task rows (for paired tests)."""
    res = {"policy": policy or (trajs[0].policy if trajs else ""), **_group(trajs)}
    types = sorted({t.task_type for t in trajs})
    res["per_type"] = {ty: _group([t for t in trajs if t.task_type == ty]) for ty in types}
    res["per_task"] = [
        {"task_id": t.task_id, "type": t.task_type, "f1": t.f1, "em": t.em, "answered": t.answer is not None,
         "answer": t.answer, "gold": t.gold_answer, "opens": len(t.opened), "tokens_read": t.tokens_read,
         "reward": t.reward}
        for t in trajs]
    if extra:
        res.update(extra)
    return res
