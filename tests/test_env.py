import pytest
from hypothesis import given, settings, strategies as st

from conftest import make_task
from tinker_explorer.env import Action, EnvConfig, ExplorerEnv, RewardConfig
from tinker_explorer.env.rewards import EpisodeOutcome, reward_f1, reward_shaped


def test_open_pays_and_reopen_is_free(task):
    env = ExplorerEnv(EnvConfig(budget=2000))
    env.reset(task)
    r = env.step(Action.open(1))
    assert r.info["cost"] == task.chunks[1].n_tokens and not r.done and not (r.terminated or r.truncated)
    assert task.chunks[1].text in r.observation.text
    r = env.step(Action.open(1))
    assert r.info["cost"] == 0 and "already opened" in r.observation.status
    assert env.tokens_read == task.chunks[1].n_tokens


def test_over_budget_open_is_refused_not_truncated(task):
    env = ExplorerEnv(EnvConfig(budget=task.chunks[1].n_tokens + 3))
    env.reset(task)
    env.step(Action.open(1))
    r = env.step(Action.open(0))
    assert r.info["cost"] == 0 and "Refused" in r.observation.status
    assert task.chunks[0].text not in r.observation.text
    assert r.observation.budget_left == 3


def test_invalid_id_and_parse_error_cost_a_step(task):
    env = ExplorerEnv(EnvConfig(max_steps=3))
    env.reset(task)
    r = env.step(Action.open(99))
    assert "no chunk 99" in r.observation.status and r.observation.steps_left == 2
    r = env.step(Action.parse_error("garbage"))
    assert env.n_parse_errors == 1 and not r.done
    r = env.step(Action.open(0))
    assert r.done and r.info["stop_reason"] == "max_steps" and r.reward == 0.0
    assert r.truncated and not r.terminated  # cut off by the step limit, not ended by an answer


def test_pool_and_read_texts_are_what_a_policy_saw_and_paid_for(task):
    env = ExplorerEnv()
    env.reset(task)
    assert env.pool() == [{"id": c.id, "title": c.title, "tokens": c.n_tokens, "preview": c.preview}
                          for c in task.chunks]
    env.step(Action.open(2))
    env.step(Action.summarize("notes"))  # out of view, but paid for: still read
    env.step(Action.open(0))
    assert env.read_texts() == {"2": task.chunks[2].text, "0": task.chunks[0].text}


def test_summarize_replaces_opened_text_with_notes(task):
    env = ExplorerEnv()
    env.reset(task)
    env.step(Action.open(0))
    r = env.step(Action.summarize("director: Orin Vasko"))
    assert task.chunks[0].text not in r.observation.text
    assert "Notes: director: Orin Vasko" in r.observation.text
    assert r.info["cost"] == 0 and r.observation.chunks[0].opened
    r = env.step(Action.open(0))  # brought back free
    assert r.info["cost"] == 0 and task.chunks[0].text in r.observation.text


def test_answer_ends_with_f1_reward(task):
    env = ExplorerEnv(EnvConfig(reward=RewardConfig(name="f1")))
    env.reset(task)
    r = env.step(Action.answer("Kessa"))
    assert r.done and r.info["stop_reason"] == "answered"
    assert r.terminated and not r.truncated
    assert r.reward == pytest.approx(2 / 3)
    with pytest.raises(RuntimeError):
        env.step(Action.answer("again"))


def test_observation_hides_gold(task):
    obs = ExplorerEnv().reset(task)
    assert "Kessa, Norland" not in obs.text.split("Chunks")[0]
    assert not hasattr(obs.chunks[0], "is_gold")


def test_dishonest_status_only_changes_status(task):
    honest = ExplorerEnv(EnvConfig(honest_status=True)); honest.reset(task)
    liar = ExplorerEnv(EnvConfig(honest_status=False)); liar.reset(task)
    a, b = honest.step(Action.open(99)), liar.step(Action.open(99))
    assert "no chunk" in a.observation.status and b.observation.status == "OK."


def test_rewards_are_pure_functions():
    o = EpisodeOutcome(answer="Kessa, Norland", gold_answers=("Kessa, Norland",), tokens_read=500, budget=2000,
                       n_steps=3, n_parse_errors=1, n_opens=2)
    cfg = RewardConfig(name="shaped", token_cost=0.0002, parse_error_penalty=0.1, no_answer_penalty=0.1)
    assert reward_f1(o, cfg) == 1.0
    assert reward_shaped(o, cfg) == pytest.approx(1.0 - 0.1 - 0.1)
    none = EpisodeOutcome(None, ("x",), 0, 2000, 10, 0, 0)
    assert reward_shaped(none, cfg) == pytest.approx(-0.1)


actions = st.one_of(
    st.builds(Action.open, st.integers(-2, 8)),
    st.builds(Action.summarize, st.text(max_size=20)),
    st.builds(Action.parse_error, st.just("bad")),
    st.builds(Action.answer, st.sampled_from(["Kessa", "no idea"])),
)


@settings(max_examples=200, deadline=None)
@given(budget=st.integers(0, 400), max_steps=st.integers(1, 12), seq=st.lists(actions, max_size=15))
def test_budget_and_step_cap_are_never_exceeded(budget, max_steps, seq):
    task = make_task()
    env = ExplorerEnv(EnvConfig(budget=budget, max_steps=max_steps))
    env.reset(task)
    spent = 0
    for k, a in enumerate(seq):
        r = env.step(a)
        spent += r.info["cost"]
        assert 0 <= env.tokens_read == spent <= budget
        assert r.observation.budget_left == budget - spent >= 0
        assert len(set(env.opened)) == len(env.opened)
        if r.done:
            assert k + 1 <= max_steps
            break
        assert k + 1 < max_steps


def test_trajectory_json_round_trip_and_older_files_with_titles_only():
    from tinker_explorer.env.types import Trajectory, Transition
    step = Transition(observation="", action=Action.open(0).to_json(), cost=5, status="Opened chunk 0 (5 tokens).",
                      reward=0.0, seconds=0.0, opened=[], visible=[], budget_left=10, steps_left=3)
    t = Trajectory(task_id="t", task_type="x", policy="p", question="q?", gold_answer="a", gold_ids=[0],
                   steps=[step], answer=None, stop_reason="max_steps", opened=[0], tokens_read=5, n_parse_errors=0,
                   reward=0.0, f1=0.0, em=0.0, seed=0, budget=15, seconds=0.0,
                   pool=[{"id": 0, "title": "A", "tokens": 5, "preview": "A: a"}], texts={"0": "a"})
    assert Trajectory.from_json(t.to_json()) == t
    old = t.to_json()
    del old["pool"], old["texts"]
    for s in old["steps"]:
        for k in ("opened", "visible", "budget_left", "steps_left"):
            del s[k]
    back = Trajectory.from_json({**old, "chunk_titles": ["A"]})
    assert back.pool == [{"id": 0, "title": "A", "tokens": None, "preview": ""}] and back.steps[0].visible == []
