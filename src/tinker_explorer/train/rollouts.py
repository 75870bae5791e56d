"""Multi-turn rollouts of the LLM policy and their conversion to training datums.

Rollout: every episode of a batch (``batch x group`` copies of tasks) runs in lockstep; each
step makes one batched ``engine.sample`` call for all live episodes and records, per turn,
the prompt tokens, the sampled tokens and their sampler logprobs.

Episode -> datums (Tinker cookbook's rule): walk the turns in order and keep a running
sequence ``prompt_1 + action_1``. If the next turn's prompt *extends* that sequence (starts
with it token for token), the new observation tokens are appended (weight/advantage 0) and
the next action follows in the same datum; otherwise the datum is closed and a new one starts
from the new prompt. With ExplorerEnv's full-state rendering every prompt is a fresh document,
so each turn becomes its own datum; with a chat-history prompt format consecutive turns merge,
and a SUMMARIZE (which rewrites the context) breaks the prefix and starts a new datum.
Every action token of an episode carries the episode's advantage; prompt tokens carry 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tinker_explorer.data.schema import Task
from tinker_explorer.engines.base import Datum, make_datum
from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv, gold_answers
from tinker_explorer.env.types import ActionKind
from tinker_explorer.data.answers import best_em, best_f1
from tinker_explorer.policies.llm import LLMPolicy, Turn


@dataclass
class Episode:
    task_id: str
    turns: list[Turn] = field(default_factory=list)
    reward: float = 0.0
    f1: float = 0.0
    em: float = 0.0
    answered: bool = False
    opens: int = 0
    tokens_read: int = 0
    n_parse_errors: int = 0

    @property
    def n_sampled_tokens(self) -> int:
        return sum(len(t.tokens) for t in self.turns)


def turn_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def rollout(policy: LLMPolicy, tasks: Sequence[Task], env_config: EnvConfig, seed: int = 0,
            temperature: float = 1.0) -> list[Episode]:
    """Run one episode per task (repeat a task G times for a group), all in lockstep."""
    envs = [ExplorerEnv(env_config) for _ in tasks]
    obs = [e.reset(t) for e, t in zip(envs, tasks)]
    eps = [Episode(task_id=t.id) for t in tasks]
    live = list(range(len(tasks)))
    turn = 0
    while live:
        turns = policy.sample_turns([obs[i] for i in live], seed=turn_seed(seed, turn), temperature=temperature)
        still = []
        for i, tr in zip(live, turns):
            eps[i].turns.append(tr)
            res = envs[i].step(tr.action)
            obs[i] = res.observation
            if res.done:
                _finish(eps[i], envs[i], tasks[i], res.reward)
            else:
                still.append(i)
        live, turn = still, turn + 1
    return eps


def _finish(ep: Episode, env: ExplorerEnv, task: Task, reward: float) -> None:
    golds = gold_answers(task)
    ep.reward = float(reward)
    ep.f1, ep.em = best_f1(env.answer, golds), best_em(env.answer, golds)
    ep.answered = env.answer is not None
    ep.opens, ep.tokens_read, ep.n_parse_errors = len(env.opened), env.tokens_read, env.n_parse_errors


def episode_sequences(turns: Sequence[Turn]) -> list[tuple[list[int], list[float], list[float]]]:
    """Merge turns into (tokens, action mask, sampler logprobs) sequences (see module doc)."""
    seqs: list[tuple[list[int], list[float], list[float]]] = []
    toks: list[int] = []
    mask: list[float] = []
    lps: list[float] = []
    for t in turns:
        if toks and len(t.prompt) >= len(toks) and t.prompt[:len(toks)] == toks:
            ext = t.prompt[len(toks):]
        else:
            if toks:
                seqs.append((toks, mask, lps))
            toks, mask, lps, ext = [], [], [], list(t.prompt)
        toks = toks + list(ext) + list(t.tokens)
        mask = mask + [0.0] * len(ext) + [1.0] * len(t.tokens)
        lps = lps + [0.0] * len(ext) + list(t.logprobs)
    if toks:
        seqs.append((toks, mask, lps))
    return [s for s in seqs if len(s[0]) >= 2 and any(s[1])]


def episode_datums(turns: Sequence[Turn], loss: str, advantage: float = 0.0) -> list[Datum]:
    return [make_datum(toks, mask, loss, lps, advantage) for toks, mask, lps in episode_sequences(turns)]


def episode_stats(eps: Sequence[Episode]) -> dict:
    """The per-step episode metrics of a GRPO metrics line."""
    n_turns = sum(len(e.turns) for e in eps)
    r = np.array([e.reward for e in eps], dtype=float)
    return {
        "reward_mean": float(r.mean()), "reward_std": float(r.std()),
        "f1": float(np.mean([e.f1 for e in eps])), "em": float(np.mean([e.em for e in eps])),
        "answer_rate": float(np.mean([e.answered for e in eps])),
        "avg_opens": float(np.mean([e.opens for e in eps])),
        "avg_tokens_read": float(np.mean([e.tokens_read for e in eps])),
        "parse_error_rate": sum(e.n_parse_errors for e in eps) / max(1, n_turns),
        "avg_turns": n_turns / max(1, len(eps)),
        "sampled_tokens": int(sum(e.n_sampled_tokens for e in eps)),
        "truncated_rate": sum(t.stop_reason == "length" for e in eps for t in e.turns) / max(1, n_turns),
        "summarize_rate": sum(t.action.kind is ActionKind.SUMMARIZE for e in eps for t in e.turns) / max(1, n_turns),
    }
