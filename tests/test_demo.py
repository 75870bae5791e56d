"""`tinker-explorer demo` (the README's main job) on tiny built task directories: the table it
prints, its records, reuse of a finished compact run only when its config hash (config, training
tasks, package code) matches and it finished, retraining (never overwriting) otherwise, a fixed
number of GRPO steps with a reported safety stop, and its data in its own folder."""

from __future__ import annotations

import json

import pytest

from conftest import make_task
from tinker_explorer.cli import main
from tinker_explorer.data.schema import save_tasks

torch = pytest.importorskip("torch")


def _data(path, prefix, n=6):
    path.mkdir()
    save_tasks([make_task(f"{prefix}{i}", qtype="compositional") for i in range(n)], path / "train.jsonl")
    save_tasks([make_task(f"va{i}", qtype="compositional") for i in range(3)], path / "val.jsonl")
    return path


def _stale(out):
    return sorted(p for p in out.iterdir() if p.name.startswith("compact_run.stale-"))


def test_demo_reuses_only_the_same_finished_run(tmp_path, capsys, one_torch_thread):
    a, b = _data(tmp_path / "a", "tr"), _data(tmp_path / "b", "other", n=7)
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--n-val", "3", "--grpo-steps", "2"]
    assert main(args + ["--data", str(a)]) == 0
    text = capsys.readouterr().out
    for name in ("random", "heuristic", "compact"):
        assert f"| {name}" in text and (out / f"eval_{name}.json").is_file()
    assert "2 GRPO steps" in text and "compact - heuristic, F1:" in text
    rows = [json.loads(x) for x in (out / "compact_run" / "checkpoints.jsonl").read_text().splitlines()]
    assert rows[-1]["name"] == "final" and rows[-1]["step"] == 2 and "stopped" not in rows[-1]

    # the same call: reused, and it says so
    before = (out / "compact_run" / "checkpoints.jsonl").read_text()
    assert main(args + ["--data", str(a)]) == 0
    assert "reused the finished compact run" in capsys.readouterr().out
    assert (out / "compact_run" / "checkpoints.jsonl").read_text() == before

    # another seed, other training data: trained again, the old run moved aside
    assert main(args + ["--data", str(a), "--seed", "5"]) == 0
    text = capsys.readouterr().out
    assert "reused the finished" not in text and "cannot be reused (another config" in text and len(_stale(out)) == 1
    assert json.loads((out / "compact_run" / "config.json").read_text())["seed"] == 5
    assert main(args + ["--data", str(b), "--seed", "5"]) == 0
    assert "cannot be reused (another config" in capsys.readouterr().out and len(_stale(out)) == 2

    # an interrupted run (no final row) is not reused
    ck = out / "compact_run" / "checkpoints.jsonl"
    ck.write_text("".join(x + "\n" for x in ck.read_text().splitlines()[:-1]))
    assert main(args + ["--data", str(b), "--seed", "5"]) == 0
    assert "cannot be reused (unfinished)" in capsys.readouterr().out and len(_stale(out)) == 3


def test_demo_safety_stop_is_reported_and_its_run_not_reused(tmp_path, capsys, one_torch_thread):
    a = _data(tmp_path / "a", "tr")
    out = tmp_path / "demo"
    args = ["demo", "--data", str(a), "--out", str(out), "--n-val", "3", "--grpo-steps", "50",
            "--train-minutes", "0.0001"]
    assert main(args) == 0
    assert "safety stop: time limit" in capsys.readouterr().out
    row = json.loads((out / "compact_run" / "checkpoints.jsonl").read_text().splitlines()[-1])
    assert row["name"] == "final" and row["step"] == 1 and "time limit" in row["stopped"]
    assert main(args) == 0
    assert "cannot be reused (cut short" in capsys.readouterr().out


def test_demo_builds_its_data_in_its_own_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    user = tmp_path / "data_out" / "synthetic"
    user.mkdir(parents=True)
    (user / "train.jsonl").write_text("a user's 5,000-task build\n")
    assert main(["demo", "--out", "d", "--n-train", "20", "--n-val", "5", "--skip-compact"]) == 0
    assert (user / "train.jsonl").read_text() == "a user's 5,000-task build\n"
    assert (tmp_path / "d" / "data" / "val.jsonl").is_file()
