"""The ablation harness: ledger rows per seed, a warm start shared across leaves, crashes recorded,
paired summary. Tiny made-up tasks and a few GRPO steps (seconds)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from test_compact import TINY, make_task  # noqa: E402

from tinker_explorer.errors import UserError  # noqa: E402
from tinker_explorer.experiments import ledger as ledger_mod  # noqa: E402
from tinker_explorer.experiments.leaves import Harness, read_ledger, run_leaf, summary  # noqa: E402

LEAF = """from dataclasses import replace
from tinker_explorer.env.rewards import RewardConfig
DESCRIPTION = "{desc}"
def configure(cfg):
    return replace(cfg, reward=RewardConfig(name="{reward}"), {extra}**{tiny!r})
"""


@pytest.fixture()
def harness(tmp_path):
    tasks = tmp_path / "train.jsonl"
    tasks.write_text("".join(json.dumps(make_task(k).to_json()) + "\n" for k in range(12)))
    leaves = tmp_path / "leaves"
    leaves.mkdir()
    for name, reward, extra in (("base", "f1", ""), ("shaped", "shaped", "")):
        (leaves / f"{name}.py").write_text(LEAF.format(desc=f"leaf {name}", reward=reward, extra=extra, tiny=TINY))
    (leaves / "crash.py").write_text("DESCRIPTION = 'raises'\ndef configure(cfg):\n    raise RuntimeError('boom')\n")
    return Harness(train_tasks=str(tasks), leaves_dir=str(leaves), baseline_leaf="base", grpo_steps=2,
                   holdout_from=9)


def test_leaves_ledger_shared_warm_start_and_summary(harness, tmp_path, monkeypatch):
    from tinker_explorer.experiments import leaves as lv
    monkeypatch.setattr(lv, "current_commit", lambda: "ccccccc")  # clean code, whatever the checkout's state
    run_leaf("base", [0], harness, progress=False)
    run_leaf("shaped", [0], harness, progress=False)
    ledger = read_ledger(harness)
    assert [r["leaf"] for r in ledger] == ["base", "shaped"]
    for r in ledger:
        assert r["status"] in ("keep", "discard") and 0.0 <= float(r["f1"]) <= 1.0
        assert float(r["f1_ci_low"]) <= float(r["f1"]) <= float(r["f1_ci_high"])
        assert r["description"] == f"leaf {r['leaf']}"
        assert r["steps_done"] == "2" and int(r["seconds"]) >= 0  # every leaf: the harness's fixed steps
    # the two leaves differ only in the GRPO reward: one warm start serves both
    warm = [p for p in (tmp_path / "leaves" / "runs" / "_warm").iterdir() if p.is_dir()]
    assert len(warm) == 1 and (warm[0] / "warm.pt").is_file()
    # per-task rows pair the leaves without carrying dataset content into the repository
    res = (tmp_path / "leaves" / "results" / "base_s0.json").read_text()
    assert '"per_task"' in res and "Where was" not in res and "t1" not in res and "Missoula" not in res
    table, rows = summary(harness)
    assert f"| shaped | ccccccc | {ledger[0]['src_hash']} | 1 |" in table and "baseline" in table
    assert "diff_vs_baseline" in next(r for r in rows if r["leaf"] == "shaped")


def test_a_leaf_may_not_change_the_fixed_number_of_steps(harness):
    leaf = harness.leaves_dir + "/short.py"
    with open(leaf, "w") as f:
        f.write("from dataclasses import replace\nDESCRIPTION = 'fewer steps'\n"
                "def configure(cfg):\n    return replace(cfg, time_limit_s=5.0)\n")
    with pytest.raises(UserError, match="the harness fixes 2 GRPO steps"):
        run_leaf("short", [0], harness, progress=False)


def test_crashing_leaf_is_recorded_not_hidden(harness):
    run_leaf("crash", [0], harness, progress=False)
    (row,) = read_ledger(harness)
    assert row["status"] == "crash" and "boom" in row["description"]


def test_unknown_leaf_and_too_few_tasks_are_user_errors(harness):
    import dataclasses
    with pytest.raises(UserError, match="leaves here: .*base"):
        run_leaf("nope", [0], harness, progress=False)
    with pytest.raises(UserError, match="holds out records 50"):
        run_leaf("base", [0], dataclasses.replace(harness, holdout_from=50), progress=False)


def test_rerun_after_a_code_change_counts_only_the_newest_rows(harness, monkeypatch):
    """Re-running leaves after a change of the package's code appends rows; the summary uses each
    leaf's newest code version, one row per seed, and pairs only leaves run on the same code as the
    baseline."""
    from tinker_explorer.experiments import leaves as lv
    monkeypatch.setattr(lv, "current_commit", lambda: "aaaaaaa")
    monkeypatch.setattr(lv, "src_hash", lambda: "code_a")
    run_leaf("base", [0], harness, progress=False)
    run_leaf("shaped", [0], harness, progress=False)
    monkeypatch.setattr(lv, "current_commit", lambda: "bbbbbbb")
    monkeypatch.setattr(lv, "src_hash", lambda: "code_b")
    run_leaf("base", [0], harness, progress=False)
    assert [r["commit"] for r in read_ledger(harness)] == ["aaaaaaa", "aaaaaaa", "bbbbbbb"]
    table, rows = summary(harness)
    by = {r["leaf"]: r for r in rows}
    assert by["base"]["seeds"] == 1 and by["base"]["commit"] == "bbbbbbb"
    assert "diff_vs_baseline" not in by["shaped"] and "- (baseline's code is code_b)" in table
    run_leaf("shaped", [0], harness, progress=False)
    _, rows = summary(harness)
    shaped = next(r for r in rows if r["leaf"] == "shaped")
    assert shaped["seeds"] == 1 and shaped["commit"] == "bbbbbbb" and "diff_vs_baseline" in shaped


def test_a_commit_that_leaves_the_package_code_unchanged_still_pairs(harness, monkeypatch):
    """Rows pair by the hash of src/, so a commit touching only docs or tests
    does not force re-running the baseline; a changed leaf file starts that leaf's new version."""
    from tinker_explorer.experiments import leaves as lv
    monkeypatch.setattr(lv, "src_hash", lambda: "code_a")
    monkeypatch.setattr(lv, "current_commit", lambda: "aaaaaaa")
    run_leaf("base", [0], harness, progress=False)
    monkeypatch.setattr(lv, "current_commit", lambda: "bbbbbbb")  # a docs-only commit
    run_leaf("shaped", [0], harness, progress=False)
    _, rows = summary(harness)
    shaped = next(r for r in rows if r["leaf"] == "shaped")
    assert shaped["commit"] == "bbbbbbb" and shaped["code"] == "code_a" and "diff_vs_baseline" in shaped
    leaf = harness.leaves_dir + "/shaped.py"
    with open(leaf, "a") as f:
        f.write("# edited\n")
    run_leaf("shaped", [1], harness, progress=False)  # new leaf version: its seed-0 row no longer counts
    _, rows = summary(harness)
    assert next(r for r in rows if r["leaf"] == "shaped")["seeds"] == 1
    assert [r["seed"] for r in lv.current_rows(read_ledger(harness), "shaped")] == ["1"]


def test_src_hash_matches_git_and_an_old_ledger_is_upgraded_in_place(harness, monkeypatch):
    """src_hash of the working tree equals the one recomputed from git's tree listing of a commit whose
    package code is the same (how old rows get theirs); an old-header ledger keeps every row."""
    import subprocess

    from tinker_explorer.experiments import leaves as lv
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ledger_mod.PACKAGE_DIR)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], capture_output=True, text=True,
                           cwd=ledger_mod.PACKAGE_DIR)
    if head.returncode != 0 or dirty.stdout.strip():
        pytest.skip("needs a git checkout whose package code is committed")
    assert ledger_mod.src_hash_at(head.stdout.strip()) == lv.src_hash()
    assert ledger_mod.src_hash_at("0" * 40) == ""  # unknown commit: no hash, rows pair by commit as before
    ledger = lv.Path(harness.leaves_dir) / "results.tsv"
    old_cols = ledger_mod.LEDGER_COLUMNS[:-2]
    ledger.write_text("\t".join(old_cols) + "\n" + "\t".join(
        ["deadbee+dirty", "base", "0", "0.5", "0.4", "0.6", "0.4", "100.0", "9", "keep", "old row"]) + "\n")
    assert read_ledger(harness)[0]["src_hash"] == ""
    monkeypatch.setattr(lv, "current_commit", lambda: "ccccccc")
    run_leaf("base", [1], harness, progress=False)
    rows = read_ledger(harness)
    assert ledger.read_text().splitlines()[0].split("\t") == list(ledger_mod.LEDGER_COLUMNS)
    assert [(r["commit"], r["description"]) for r in rows][0] == ("deadbee+dirty", "old row")
    assert rows[1]["src_hash"] == lv.src_hash() and len(rows) == 2


def test_parallel_leaves_train_a_shared_warm_start_once(harness):
    """Two leaves started together (two processes, here two threads with their own lock files) wait
    for one warm start instead of deleting each other's half-written run."""
    import threading
    import time

    from tinker_explorer.experiments.leaves import shared_warm_start
    from tinker_explorer.train.compact import CompactTrainConfig
    calls = []

    def slow_trainer(cfg, train, val, run_dir, resume, progress):
        calls.append(run_dir)
        run_dir.mkdir(parents=True)
        time.sleep(0.3)
        (run_dir / "warm.pt").write_text("weights")

    out = []
    threads = [threading.Thread(target=lambda: out.append(shared_warm_start(CompactTrainConfig(), [], slow_trainer,
                                                                            harness, progress=False)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and out[0] == out[1] and (out[0] / "warm.pt").read_text() == "weights"


def test_every_leaf_in_the_repository_configures_the_trainer():
    """The committed leaves stay runnable: each loads, describes itself and returns a trainer config."""
    import dataclasses
    from pathlib import Path

    from tinker_explorer.experiments.leaves import HARNESS, load_leaf
    from tinker_explorer.train.compact import CompactTrainConfig
    leaves_dir = Path(__file__).resolve().parents[1] / "leaves"
    names = sorted(p.stem for p in leaves_dir.glob("*.py"))
    assert {"f1_honest", "shaped_honest", "f1_misleading", "shaped_misleading", "compact_default"} <= set(names)
    h = dataclasses.replace(HARNESS, leaves_dir=str(leaves_dir))
    for name in names:
        leaf = load_leaf(name, h)
        cfg = leaf.configure(CompactTrainConfig(seed=1))
        assert isinstance(cfg, CompactTrainConfig) and cfg.seed == 1 and leaf.DESCRIPTION, name
