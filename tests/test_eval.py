import json

import pytest

from conftest import make_task
from tinker_explorer.cli import main
from tinker_explorer.data.schema import save_tasks
from tinker_explorer.env import EnvConfig
from tinker_explorer.eval.runner import run_episodes, summarize
from tinker_explorer.policies import get_policy


def _tasks(n=12):
    return [make_task(id=f"t{i}", qtype=("comparison" if i % 3 == 0 else "compositional")) for i in range(n)]


def test_identical_seeds_identical_trajectories_whatever_the_batch():
    tasks = _tasks()
    pol = get_policy("random")
    a = run_episodes(pol, tasks, seed=3, batch_size=5)
    b = run_episodes(pol, tasks, seed=3, batch_size=64)
    strip = lambda ts: [dict(t.to_json(), seconds=0, steps=[dict(s.__dict__, seconds=0) for s in t.steps]) for t in ts]
    assert strip(a) == strip(b)
    c = run_episodes(pol, tasks, seed=4)
    assert strip(a) != strip(c)


def test_summary_keys_and_per_type():
    trajs = run_episodes(get_policy("random"), _tasks(), EnvConfig(budget=50), seed=0)
    res = summarize(trajs)
    for k in ("n_tasks", "f1", "em", "answer_rate", "avg_opens", "avg_tokens_read", "f1_ci", "per_type", "per_task"):
        assert k in res
    assert 0 <= res["answer_rate"] <= 1 and len(res["f1_ci"]) == 2
    assert set(res["per_type"]) == {"comparison", "compositional"}
    assert all(t.tokens_read <= 50 for t in trajs)


def test_eval_cli_writes_json_and_compares(tmp_path, capsys):
    tf = tmp_path / "tasks.jsonl"
    save_tasks(_tasks(), tf)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["eval", "--policy", "random", "--tasks", str(tf), "--json", str(a), "--quiet",
                 "--trajectories", str(tmp_path / "tr.jsonl")]) == 0
    assert main(["eval", "--policy", "random", "--seed", "1", "--tasks", str(tf), "--json", str(b), "--quiet"]) == 0
    res = json.loads(a.read_text())
    assert res["n_tasks"] == 12 and len(res["per_task"]) == 12
    assert len((tmp_path / "tr.jsonl").read_text().splitlines()) == 12
    capsys.readouterr()
    assert main(["eval", "--compare", str(a), str(b)]) == 0
    assert "95% CI" in capsys.readouterr().out
    assert main(["eval", "--policy", "nope", "--tasks", str(tf)]) == 2


def test_inspect_prints_observation_then_gold(tmp_path, capsys):
    tf = tmp_path / "tasks.jsonl"
    save_tasks(_tasks(2), tf)
    assert main(["inspect", "--tasks", str(tf), "--id", "1", "--step", "OPEN 1", "--step", "ANSWER: Kessa, Norland"]) == 0
    out = capsys.readouterr().out
    assert out.index("Question:") < out.index("=== gold") and "reward 1.000" in out
    assert main(["inspect", "--tasks", str(tf), "--id", "7"]) == 2


def _result(policy, f1s, tokens):
    rows = [{"task_id": f"t{i}", "f1": f, "em": float(f == 1.0), "tokens_read": t} for i, (f, t) in enumerate(zip(f1s, tokens))]
    return {"policy": policy, "f1": sum(f1s) / len(f1s), "per_task": rows}


def test_compare_counts_reading_fewer_tokens_as_a_win(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_result("thrifty", [1, 1, 1], [50, 60, 300])))
    b.write_text(json.dumps(_result("greedy", [1, 1, 1], [200, 200, 200])))
    assert main(["eval", "--compare", str(a), str(b)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("tokens_read"))
    assert "wins 2, losses 1" in line and "fewer is better" in line


def test_inspect_stops_asking_for_an_action_once_the_episode_is_over(tmp_path, capsys):
    tf = tmp_path / "tasks.jsonl"
    save_tasks(_tasks(2), tf)
    assert main(["inspect", "--tasks", str(tf), "--id", "1", "--step", "OPEN 1", "--step", "ANSWER: Kessa, Norland"]) == 0
    out = capsys.readouterr().out
    after_answer = out[out.index("'ANSWER: Kessa, Norland'"):]
    assert "Reply with exactly one action" not in after_answer and "Episode over" in after_answer
    assert out.count("Reply with exactly one action") == 2  # the start and after OPEN 1


def test_eval_and_inspect_require_a_task_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--policy", "random"]) == 2
    assert "give --tasks FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["inspect", "--id", "0"])
    assert e.value.code == 2 and "--tasks" in capsys.readouterr().err
