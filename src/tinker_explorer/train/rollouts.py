"""Multi-turn rollouts of the LLM policy and their conversion to training datums.

Rollout: every episode of a batch (``batch x group`` copies of tasks) runs in lockstep on the
one episode runner (:func:`tinker_explorer.eval.runner.run_lockstep`); each step makes one
batched ``engine.sample`` call for all live episodes and records, per turn, the prompt tokens,
the sampled tokens and their sampler logprobs.

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
from tinker_explorer.env.explorer import EnvConfig
from tinker_explorer.env.types import ActionKind
from tinker_explorer.eval.aggregate import TaskResult, aggregate
from tinker_explorer.eval.runner import run_lockstep
from tinker_explorer.policies.llm import LLMPolicy, Turn


@dataclass
class Episode:
    task_id: str
    turns: list[Turn] = field(default_factory=list)
    result: TaskResult | None = None  # how it scored (set when it ends)

    @property
    def reward(self) -> float:
        return self.result.reward if self.result else 0.0

    @property
    def n_sampled_tokens(self) -> int:
        return sum(len(t.tokens) for t in self.turns)


def turn_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def rollout(policy: LLMPolicy, tasks: Sequence[Task], env_config: EnvConfig, seed: int = 0,
            temperature: float = 1.0) -> list[Episode]:
    """Run one episode per task (repeat a task G times for a group), all in lockstep; turn k of
    every live episode is one ``sample_turns`` call seeded ``turn_seed(seed, k)``."""
    def actor(idx, obs, rngs, turn):
        turns = policy.sample_turns(obs, seed=turn_seed(seed, turn), temperature=temperature)
        return [(t.action, t) for t in turns]

    eps = run_lockstep(actor, tasks, env_config, seed=seed)
    return [Episode(e.task.id, list(e.records), e.result()) for e in eps]


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
    agg = aggregate([e.result for e in eps], ci=False)
    return {
        "reward_mean": agg["reward"], "reward_std": agg["reward_std"], "f1": agg["f1"], "em": agg["em"],
        "answer_rate": agg["answer_rate"], "avg_opens": agg["avg_opens"], "avg_tokens_read": agg["avg_tokens_read"],
        "parse_error_rate": agg["parse_error_rate"], "avg_turns": agg["avg_steps"],
        "sampled_tokens": int(sum(e.n_sampled_tokens for e in eps)),
        "truncated_rate": sum(t.stop_reason == "length" for e in eps for t in e.turns) / max(1, n_turns),
        "summarize_rate": sum(t.action.kind is ActionKind.SUMMARIZE for e in eps for t in e.turns) / max(1, n_turns),
    }
