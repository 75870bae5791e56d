"""The one episode runner (lockstep batches, seeds per episode, per-step records), the one
aggregation of per-task results, and the two trainers' walks built on them: LLM rollouts and the
oracle reader."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_task
from tinker_explorer.env.explorer import EnvConfig
from tinker_explorer.env.types import Action, ActionKind
from tinker_explorer.eval.aggregate import TaskResult, aggregate, metrics_json
from tinker_explorer.eval.runner import policy_actor, run_lockstep
from tinker_explorer.policies import get_policy


def _tasks(n=8):
    return [make_task(id=f"t{i}", qtype=("comparison" if i % 2 else "compositional")) for i in range(n)]


def _summary(eps):
    return [(e.index, e.task.id, [s.action for s in e.steps], e.env.answer, e.env.tokens_read, e.reward) for e in eps]


class RandomOpener:
    """Opens random chunks, answers after a random number of steps: every choice from the episode's rng."""

    def __call__(self, idx, obs, rngs, turn):
        out = []
        for o, r in zip(obs, rngs):
            if r.random() < 0.25 or o.steps_left <= 1:
                out.append(Action.answer(f"x{int(r.integers(100))}"))
            else:
                out.append(Action.open(int(r.integers(len(o.chunks)))))
        return out


def test_episodes_do_not_depend_on_the_batch_size():
    tasks = _tasks()
    one = run_lockstep(RandomOpener(), tasks, EnvConfig(budget=120), seed=5, batch_size=1)
    eight = run_lockstep(RandomOpener(), tasks, EnvConfig(budget=120), seed=5, batch_size=8)
    three = run_lockstep(RandomOpener(), tasks, EnvConfig(budget=120), seed=5, batch_size=3)
    assert _summary(one) == _summary(eight) == _summary(three)
    assert len({len(e.steps) for e in eight}) > 1  # episodes of different lengths ran side by side
    assert _summary(run_lockstep(RandomOpener(), tasks, EnvConfig(budget=120), seed=6)) != _summary(eight)


def test_keys_name_the_generators_so_a_subset_replays_its_episodes():
    """A trainer that runs a subset of its episodes (one fold's) gets the episodes of the full run."""
    tasks = _tasks()
    full = run_lockstep(RandomOpener(), tasks, seed=(1, 4))
    part = run_lockstep(RandomOpener(), tasks[2:5], seed=(1, 4), keys=[2, 3, 4])
    assert [s[2:] for s in _summary(part)] == [s[2:] for s in _summary(full)[2:5]]
    unkeyed = run_lockstep(RandomOpener(), tasks[2:5], seed=(1, 4))
    assert [s[2:] for s in _summary(unkeyed)] != [s[2:] for s in _summary(full)[2:5]]


def test_one_actor_call_per_turn_with_every_live_episode_and_records_kept():
    calls = []

    def actor(idx, obs, rngs, turn):
        calls.append((list(idx), turn))
        return [(Action.answer("Kessa, Norland") if i == turn else Action.open(turn), f"r{i}.{turn}") for i in idx]

    eps = run_lockstep(actor, _tasks(3))
    assert calls == [([0, 1, 2], 0), ([1, 2], 1), ([2], 2)]
    assert [e.records for e in eps] == [["r0.0"], ["r1.0", "r1.1"], ["r2.0", "r2.1", "r2.2"]]
    assert [e.steps[-1].action.kind for e in eps] == [ActionKind.ANSWER] * 3
    assert eps[2].steps[1].observation.opened_ids == [0]  # each step keeps the observation it was chosen on


def test_one_env_config_per_episode():
    eps = run_lockstep(RandomOpener(), _tasks(4), [EnvConfig(budget=b, max_steps=3) for b in (0, 40, 80, 2000)])
    assert [e.env.config.budget for e in eps] == [0, 40, 80, 2000]
    assert all(e.env.tokens_read <= e.env.config.budget and len(e.steps) <= 3 for e in eps)
    with pytest.raises(ValueError):
        run_lockstep(RandomOpener(), _tasks(4), [EnvConfig()] * 3)


def test_a_policy_runs_as_an_actor():
    eps = run_lockstep(policy_actor(get_policy("heuristic")), _tasks(2))
    assert [e.env.answer for e in eps] == ["Kessa"] * 2 and [e.result().f1 for e in eps] == [2 / 3] * 2


# ---- aggregation ------------------------------------------------------------------------------------
def _result(i, f1, answer, opens, tokens, ty="a", steps=2, errors=0):
    return TaskResult(f"t{i}", ty, f1, float(f1 == 1.0), answer, "gold", opens, tokens, f1, steps, errors, 0.5, 1.0)


def test_aggregate_means_rates_and_cis():
    rs = [_result(0, 1.0, "gold", 2, 100, errors=1), _result(1, 0.5, "go", 1, 50, steps=3),
          _result(2, 0.0, None, 3, 300, ty="b", steps=5, errors=2)]
    agg = aggregate(rs)
    assert agg["n_tasks"] == 3 and agg["f1"] == pytest.approx(0.5) and agg["em"] == pytest.approx(1 / 3)
    assert agg["answer_rate"] == pytest.approx(2 / 3) and agg["avg_opens"] == pytest.approx(2.0)
    assert agg["avg_tokens_read"] == pytest.approx(150.0) and agg["avg_steps"] == pytest.approx(10 / 3)
    assert agg["parse_error_rate"] == pytest.approx(3 / 10)  # per step, not per task
    assert agg["reward_std"] == pytest.approx(np.std([1.0, 0.5, 0.0]))
    assert agg["f1_ci"][0] <= 0.5 <= agg["f1_ci"][1]
    assert "f1_ci" not in aggregate(rs, ci=False) and aggregate([]) == {"n_tasks": 0}
    js = metrics_json(rs, "p", {"seed": 1})
    assert js["policy"] == "p" and js["seed"] == 1 and set(js["per_type"]) == {"a", "b"}
    assert js["per_type"]["b"]["f1"] == 0.0 and "reward_std" not in js


def test_per_task_rows_read_back_to_the_same_means():
    rs = [_result(0, 1.0, "gold", 2, 100), _result(1, 0.25, None, 1, 50), _result(2, 0.5, "", 0, 0)]
    back = [TaskResult.from_row(r) for r in metrics_json(rs)["per_task"]]
    keys = ("f1", "em", "answer_rate", "avg_opens", "avg_tokens_read", "reward", "f1_ci")
    assert {k: aggregate(back)[k] for k in keys} == {k: aggregate(rs)[k] for k in keys}
    assert TaskResult.from_row({"task_id": 3, "answered": True}).answered  # rows that kept no answer text


# ---- LLM rollouts -----------------------------------------------------------------------------------
class SeedRecordingLLM:
    """Stands in for LLMPolicy.sample_turns: answers on turn 1 for even tasks, turn 2 for odd ones."""

    def __init__(self):
        self.calls = []

    def sample_turns(self, observations, seed=None, temperature=None):
        from tinker_explorer.policies.llm import Turn
        self.calls.append((len(observations), seed))
        out = []
        for o in observations:
            done = o.step >= (1 if "even" in o.question else 2)
            act = Action.answer("Kessa, Norland") if done else Action.open(o.step)
            out.append(Turn([1, 2], [3] * (o.step + 1), [-0.5] * (o.step + 1), act.to_text(), act))
        return out


def test_llm_rollout_one_sample_call_per_turn_seeded_by_seed_and_turn():
    from dataclasses import replace
    from tinker_explorer.train.rollouts import episode_stats, rollout, turn_seed
    tasks = [replace(t, question=t.question + (" even" if i % 2 == 0 else " odd")) for i, t in enumerate(_tasks(4))]
    pol = SeedRecordingLLM()
    eps = rollout(pol, tasks, EnvConfig(), seed=9)
    assert pol.calls == [(4, turn_seed(9, 0)), (4, turn_seed(9, 1)), (2, turn_seed(9, 2))]
    assert [len(e.turns) for e in eps] == [2, 3, 2, 3] and all(e.result.f1 == 1.0 for e in eps)
    stats = episode_stats(eps)
    assert stats["avg_turns"] == 2.5 and stats["sampled_tokens"] == 2 * (1 + 2) + 2 * (1 + 2 + 3)
    assert stats["reward_mean"] == 1.0 and stats["avg_opens"] == 1.5


# ---- oracle reader ----------------------------------------------------------------------------------
def test_oracle_opens_question_chunk_then_bridge_and_stops_where_the_budget_ends():
    pytest.importorskip("torch")
    from tinker_explorer.policies.compact.features import build_ctxvocab, build_lexicon, build_qvocab
    from tinker_explorer.policies.compact.model import new_policy
    from tinker_explorer.train.oracle import oracle_states
    tasks = _tasks(2)
    pol = new_policy(build_lexicon(tasks), build_qvocab(tasks), build_ctxvocab(tasks), 8, 0, parser=None)
    states = oracle_states(pol, tasks, budget=2000, max_steps=10)
    assert [(s.task_idx, s.n_opened, s.remaining_gold, s.targets) for s in states] == [
        (0, 0, [0, 1], [0]), (0, 1, [1], [1]), (0, 2, [], []),
        (1, 0, [0, 1], [0]), (1, 1, [1], [1]), (1, 2, [], [])]
    assert states[2].obs.opened_ids == [0, 1] and states[2].remaining_tokens == 0
    assert states[2].cand_f1.max() == 1.0 > states[0].cand_f1.max()  # the answer is readable at the end only
    cost0 = tasks[0].chunks[0].n_tokens
    short = oracle_states(pol, tasks[:1], budget=cost0, max_steps=10)  # room for the first gold chunk only
    assert [s.n_opened for s in short] == [0, 1]
    assert [s.n_opened for s in oracle_states(pol, tasks[:1], budget=2000, max_steps=2)] == [0, 1]


def test_aggregate_gives_a_ci_for_any_mean_it_is_asked_for():
    rs = [_result(i, i / 4, "a" if i else None, i, 10 * i) for i in range(5)]
    agg = aggregate(rs, ci=("answer_rate", "avg_tokens_read"))
    assert set(k for k in agg if k.endswith("_ci")) == {"answer_rate_ci", "avg_tokens_read_ci"}
    lo, hi = agg["avg_tokens_read_ci"]
    assert lo < agg["avg_tokens_read"] == 20.0 < hi
