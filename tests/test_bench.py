"""The benchmarks (`tinker-explorer bench`): the policy-spec parser, the log-log slope fit, the timing
proxy, the command line, and tiny end-to-end runs on made-up tasks (seconds)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import make_task
from tinker_explorer.bench import common
from tinker_explorer.bench import cross_dataset as cross
from tinker_explorer.bench import devlike_holdout as dev
from tinker_explorer.bench import pool_scaling as pool
from tinker_explorer.cli import main as cli_main
from tinker_explorer.data.schema import save_tasks
from tinker_explorer.errors import UserError

SECRET_ANSWER = "Kessa, Norland"  # make_task's gold answer
SECRET_QUESTION = "Where was the director of film Blue Harbor born?"


def _write_tasks(path: Path, prefix: str, n: int = 6, n_chunks: int = 6) -> Path:
    tasks = [make_task(id=f"{prefix}-secret-id-{i}", n_chunks=n_chunks,
                       qtype="comparison" if i % 2 else "compositional") for i in range(n)]
    save_tasks(tasks, path)
    return path


def _assert_no_dataset_content(text: str, prefix: str) -> None:
    assert f"{prefix}-secret-id" not in text
    assert SECRET_ANSWER not in text and "Kessa" not in text
    assert SECRET_QUESTION not in text and "Blue Harbor" not in text
    assert '"per_task"' not in text and "task_id" not in text


# ---- policy specs
def test_policy_spec_forms():
    assert cross.parse_policy_spec("heuristic") == cross.PolicySpec("heuristic", "heuristic", None)
    assert cross.parse_policy_spec("rnd=random") == cross.PolicySpec("rnd", "random", None)
    s = cross.parse_policy_spec("compact (2wiki)=compact:runs/compact_2wiki")
    assert (s.label, s.name, s.checkpoint) == ("compact (2wiki)", "compact", "runs/compact_2wiki")
    unlabelled = cross.parse_policy_spec("compact:runs/x")
    assert unlabelled.name == "compact" and unlabelled.checkpoint == "runs/x" and "runs/x" in unlabelled.label


def test_policy_spec_data_substitution():
    s = cross.parse_policy_spec("compact (own)=compact:runs/compact_{data}")
    assert s.checkpoint_for("hotpotqa") == "runs/compact_hotpotqa"
    assert s.checkpoint_for("musique") == "runs/compact_musique"
    assert cross.parse_policy_spec("heuristic").checkpoint_for("musique") is None


@pytest.mark.parametrize("bad", ["nope", "x=nope:ckpt", "compact", "c=compact", "compact:", "heuristic:runs/x", "x="])
def test_bad_policy_spec_is_a_user_error(bad):
    with pytest.raises(UserError):
        cross.parse_policy_spec(bad)


def test_data_spec():
    assert cross.parse_data_spec("hotpotqa=data_out/hotpotqa/val.jsonl") == ("hotpotqa", "data_out/hotpotqa/val.jsonl")
    assert cross.parse_data_spec("data_out/musique/val.jsonl") == ("musique", "data_out/musique/val.jsonl")
    with pytest.raises(UserError):
        cross.parse_data_spec("=x.jsonl")


# ---- slope fit and timing proxy
def test_loglog_slope_linear_and_quadratic():
    sizes = [10, 20, 50, 100]
    assert pool.loglog_slope(sizes, [0.3 * s for s in sizes]) == pytest.approx(1.0, abs=1e-9)
    assert pool.loglog_slope(sizes, [0.002 * s ** 2 for s in sizes]) == pytest.approx(2.0, abs=1e-9)
    noisy = [0.3 * s * f for s, f in zip(sizes, (1.05, 0.97, 1.02, 0.99))]
    assert pool.loglog_slope(sizes, noisy) == pytest.approx(1.0, abs=0.05)
    assert math.isnan(pool.loglog_slope([10], [1.0]))


def test_pool_spec():
    assert pool.parse_pool_spec("20=data_out/2wiki_pool20/val.jsonl") == (20, "data_out/2wiki_pool20/val.jsonl")
    for bad in ("x=a.jsonl", "0=a.jsonl", "20", "20="):
        with pytest.raises(UserError):
            pool.parse_pool_spec(bad)


def test_timed_policy_forwards_and_counts():
    from tinker_explorer.eval.runner import run_episodes
    from tinker_explorer.policies import get_policy
    tasks = [make_task(id=f"t{i}") for i in range(4)]
    base = get_policy("heuristic")
    timed = pool.TimedPolicy(base)
    a = run_episodes(timed, tasks, seed=1)
    b = run_episodes(base, tasks, seed=1)
    assert [t.answer for t in a] == [t.answer for t in b] and a[0].policy == "heuristic"
    assert timed.calls == max(len(t.steps) for t in a) and timed.seconds > 0
    assert timed.seconds == pytest.approx(sum(t.seconds for t in a), rel=0.5, abs=1e-3)


# ---- end to end, random + heuristic only
def test_cross_dataset_end_to_end(tmp_path, capsys):
    a = _write_tasks(tmp_path / "a" / "val.jsonl", "dsa")
    b = _write_tasks(tmp_path / "b" / "val.jsonl", "dsb", n=4, n_chunks=5)
    out = tmp_path / "out" / "cross"
    rc = common.main(cross, ["--data", f"alpha={a}", "--data", str(b), "--policy", "random", "--policy", "heur=heuristic",
                     "--limit", "5", "--out", str(out), "--quiet"])
    assert rc == 0
    md, js = out.with_suffix(".md").read_text(), out.with_suffix(".json").read_text()
    assert md.startswith("Command: `python -m tinker_explorer.bench.cross_dataset --data") and "| alpha | heur |" in md
    assert md in capsys.readouterr().out
    for prefix in ("dsa", "dsb"):
        _assert_no_dataset_content(md + js, prefix)
    res = json.loads(js)
    assert res["datasets"]["alpha"]["n_tasks"] == 5 and res["datasets"]["b"]["n_tasks"] == 4
    rows = {(r["dataset"], r["policy"]): r for r in res["rows"]}
    assert set(rows) == {("alpha", "random"), ("alpha", "heur"), ("b", "random"), ("b", "heur")}
    assert "f1_vs_heuristic" not in rows[("alpha", "heur")] and rows[("alpha", "heur")]["n_tasks"] == 5
    d = rows[("alpha", "random")]["f1_vs_heuristic"]
    assert d["n"] == 5 and d["diff"] == pytest.approx(rows[("alpha", "random")]["f1"] - rows[("alpha", "heur")]["f1"])
    assert "per_type" in rows[("b", "random")] and len(rows[("b", "random")]["f1_ci"]) == 2


def test_cross_dataset_missing_inputs_are_one_line_errors(tmp_path, capsys):
    a = _write_tasks(tmp_path / "val.jsonl", "dsa", n=2)
    out = str(tmp_path / "x")
    assert common.main(cross, ["--data", f"a={tmp_path / 'missing.jsonl'}", "--policy", "random", "--out", out]) == 2
    assert common.main(cross, ["--data", f"a={a}", "--policy", f"c=compact:{tmp_path}/runs_{{data}}", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.jsonl" in err[0] and "runs_a" in err[1] and "Traceback" not in err[1]
    assert common.main(cross, ["--data", f"a={a}", "--policy", "bogus", "--out", out]) == 2
    assert not Path(out + ".json").exists()


def test_pool_scaling_end_to_end(tmp_path, capsys):
    p5 = _write_tasks(tmp_path / "p5.jsonl", "pa", n=4, n_chunks=5)
    p6 = _write_tasks(tmp_path / "p6.jsonl", "pb", n=4, n_chunks=6)
    out = tmp_path / "out" / "scaling"
    rc = common.main(pool, ["--pool", f"6={p6}", "--pool", f"5={p5}", "--policies", "random", "heuristic",
                    "--repeats", "2", "--out", str(out), "--quiet"])
    assert rc == 0
    md, js = out.with_suffix(".md").read_text(), out.with_suffix(".json").read_text()
    assert md.startswith("Command: `python -m tinker_explorer.bench.pool_scaling --pool") and "Machine:" in md
    assert out.with_suffix(".png").stat().st_size > 1000
    capsys.readouterr()
    for prefix in ("pa", "pb"):
        _assert_no_dataset_content(md + js, prefix)
    res = json.loads(js)
    assert [r["pool_size"] for r in res["rows"]] == [5, 5, 6, 6]
    assert set(res["loglog_slope"]) == {"random", "heuristic"}
    for r in res["rows"]:
        assert len(r["decision_ms_per_task_runs"]) == 2 and r["decision_ms_per_task"] > 0
        assert r["decision_ms_per_task"] == pytest.approx(np.median(r["decision_ms_per_task_runs"]))
        assert r["decision_ms_per_task_per_chunk"] == pytest.approx(r["decision_ms_per_task"] / r["pool_size"])
    assert res["machine"]["cpu_count"] and "compact" not in md
    assert common.main(pool, ["--pool", f"5={tmp_path / 'nope.jsonl'}", "--policies", "random", "--out", str(out)]) == 2
    assert common.main(pool, ["--pool", f"5={p5}", "--policies", "compact", "--checkpoint", str(tmp_path / "none"),
                      "--out", str(out)]) == 2


TINY_SETS = ["--set", "answer_epochs=2", "--set", "warm_epochs=5", "--set", "steps=1", "--set", "group_size=2",
             "--set", "batch_size=2", "--set", "budget_mix=[60]", "--set", "answer_folds=2", "--quiet"]


def test_devlike_holdout_trains_evaluates_and_pairs(tmp_path, capsys, one_torch_thread):
    """The dev-like benchmark end to end on made-up tasks with a tiny trainer config; the JSON it
    writes pairs two variants and holds hashed task ids only."""
    tasks = _write_tasks(tmp_path / "train.jsonl", "t", n=10)
    args = ["--tasks", str(tasks), "--holdout-from", "6", "--out", str(tmp_path / "dl"), *TINY_SETS]
    assert common.main(dev, ["--name", "a", *args]) == 0
    assert common.main(dev, ["--name", "b", "--against", str(tmp_path / "dl" / "a.json"), *args]) == 0
    out = capsys.readouterr().out
    assert "b final.pt - a final.pt: f1 +0.000" in out  # same code, same seed: identical decisions
    text = (tmp_path / "dl" / "b.json").read_text()
    assert SECRET_ANSWER not in text and "secret-id" not in text
    assert set(json.loads(text)["checkpoints"]) == {"heuristic", "warm.pt", "final.pt"}
    assert common.main(dev, ["--name", "c", "--tasks", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such task file" in capsys.readouterr().err
    assert common.main(dev, ["--name", "c", *args, "--set", "bogus=1"]) == 2
    assert "expected FIELD=JSON" in capsys.readouterr().err
    from tinker_explorer.policies.compact.config import CompactTrainConfig
    tiny = CompactTrainConfig(steps=1)
    assert dev.override(tiny, ["steps=3", "budget_mix=[]"]) == dataclasses.replace(tiny, steps=3, budget_mix=())
    assert dev.override(tiny, ["parser=null"]).parser is None

    # --oracle-state: the answer scorer alone; pairs only with another --oracle-state result
    assert common.main(dev, ["--name", "o", "--oracle-state", *args]) == 0
    assert common.main(dev, ["--name", "p", "--oracle-state", "--against", str(tmp_path / "dl" / "o.oracle.json"),
                             *args]) == 0
    out = capsys.readouterr().out
    assert "answer scorer at the oracle's final state" in out and "p - o: f1 +0.000" in out
    res = json.loads((tmp_path / "dl" / "p.oracle.json").read_text())
    assert len(res["per_task"]) == 4 and 0 <= res["f1"] <= 1 and SECRET_ANSWER not in json.dumps(res)
    # where F1 is lost, by the asked relation: the two compositional held-out tasks ask "place of birth"
    n, f1, lost = res["per_relation"]["place of birth"]
    assert list(res["per_relation"]) == ["place of birth"] and n == 2 and lost == pytest.approx(2 * (1 - f1), abs=0.1)
    assert common.main(dev, ["--name", "q", "--oracle-state", "--against", str(tmp_path / "dl" / "a.json"), *args]) == 2
    assert "not an --oracle-state result" in capsys.readouterr().err

    # --measure-on: fit on the whole training file, measure on another task file (oracle states only)
    other = _write_tasks(tmp_path / "dev.jsonl", "d", n=3)
    assert common.main(dev, ["--name", "m", "--oracle-state", "--measure-on", str(other), *args]) == 0
    assert len(json.loads((tmp_path / "dl" / "m.oracle.json").read_text())["per_task"]) == 3
    capsys.readouterr()
    assert common.main(dev, ["--name", "m", "--measure-on", str(other), *args]) == 2
    assert "goes with --oracle-state" in capsys.readouterr().err
    # --train-n: a learning-curve point fits on that many training records
    assert common.main(dev, ["--name", "n3", "--oracle-state", "--train-n", "3", *args]) == 0
    assert json.loads((tmp_path / "dl" / "n3.oracle.json").read_text())["n_train"] == 3
    assert common.main(dev, ["--name", "n7", "--oracle-state", "--train-n", "7", *args]) == 2
    assert "--train-n 7: the training part has 6 records" in capsys.readouterr().err


def test_bench_command_line_lists_and_runs_benchmarks(tmp_path, capsys):
    """`tinker-explorer bench` names every benchmark; one runs through the CLI, records the command it
    ran and writes under --out only; a user mistake is one line, exit 2."""
    with pytest.raises(SystemExit):
        cli_main(["bench", "--help"])
    text = capsys.readouterr().out
    assert all(n in text for n in ("compact-acceptance", "budget-sweep", "cross-dataset", "pool-scaling",
                                   "fault-injection", "devlike-holdout"))
    a = _write_tasks(tmp_path / "val.jsonl", "dsa", n=3)
    out = tmp_path / "o" / "sweep"
    argv = ["bench", "budget-sweep", "--tasks", str(a), "--policies", "random", "heuristic", "--budgets", "100",
            "--out", str(out)]
    assert cli_main(argv) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["sweep.json", "sweep.md", "sweep.png"]
    assert "| heuristic | 100 |" in out.with_suffix(".md").read_text()
    capsys.readouterr()
    assert cli_main(["bench", "compact-acceptance", "--tasks", str(a), "--run", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]


def test_bench_defaults_write_outside_docs():
    """No benchmark writes into docs/ unless told to."""
    import argparse

    from tinker_explorer.bench import BENCHMARKS, configure
    for name in BENCHMARKS:
        mod = __import__(f"tinker_explorer.bench.{name}", fromlist=["run"])
        p = configure(argparse.ArgumentParser(), mod)
        outs = [a.default for a in p._actions if a.dest in ("out", "json")]
        assert not any(str(o).startswith("docs") for o in outs if o), name
