"""Run records: checkpoint paths stored relative to the run folder, URIs kept opaque, one resolver
that loads a run's ``final`` checkpoint and refuses (naming the checkpoint) when there is none."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tinker_explorer.errors import UserError
from tinker_explorer.records import RunRecords, final_checkpoint, resolve_checkpoint


def _rows(run):
    return [json.loads(x) for x in (run / "checkpoints.jsonl").read_text().splitlines()]


def test_paths_are_stored_relative_to_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rec = RunRecords("runs/a", {"x": 1})
    (tmp_path / "runs/a/checkpoints/final").mkdir(parents=True)
    # what the local engine returns: a path relative to the working directory, or an absolute one
    rec.log_checkpoint(0, "final", "runs/a/checkpoints/final", sampler_path=str(tmp_path / "runs/a/checkpoints/final"))
    row = _rows(tmp_path / "runs/a")[0]
    assert row["path"] == "checkpoints/final" and row["sampler_path"] == "checkpoints/final"
    # the run moves; it still resolves, from any working directory
    shutil.move(str(tmp_path / "runs/a"), str(tmp_path / "moved"))
    monkeypatch.chdir(tmp_path / "moved" / "checkpoints")
    ck = resolve_checkpoint(str(tmp_path / "moved"))
    assert ck.path == str(tmp_path / "moved" / "checkpoints" / "final") and os.path.isdir(ck.path)
    assert ck.pick("sampler") == ck.path and ck.name == "final" and ck.step == 0


def test_uris_stay_opaque(tmp_path):
    rec = RunRecords(tmp_path / "run", {})
    uri = "tinker://8a2f-run/weights/step_000003"
    rec.log_checkpoint(3, "final", uri, sampler_path=uri + "_sampler")
    row = _rows(tmp_path / "run")[0]
    assert row["path"] == uri and row["sampler_path"] == uri + "_sampler"  # not "tinker:/8a2f-run/..."
    ck = final_checkpoint(tmp_path / "run")
    assert ck.path == uri and ck.pick("sampler") == uri + "_sampler"
    assert resolve_checkpoint(uri).path == uri


def test_a_run_without_a_final_row_is_refused_naming_its_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    rec = RunRecords(run, {})
    (run / "warm.pt").write_bytes(b"x")
    (run / "latest.pt").write_bytes(b"x")
    rec.log_checkpoint(0, "warm", str(run / "warm.pt"))
    rec.log_checkpoint(20, "latest", str(run / "latest.pt"))
    with pytest.raises(UserError) as e:
        resolve_checkpoint(str(run))
    msg = str(e.value)
    assert "no final checkpoint" in msg and "'latest'" in msg and "step 20" in msg and str(run / "latest.pt") in msg
    assert "\n" not in msg
    # the named checkpoint loads when given itself
    assert resolve_checkpoint(str(run / "latest.pt")).path == str(run / "latest.pt")
    rec.log_checkpoint(30, "final", str(run / "latest.pt"))
    assert final_checkpoint(run).step == 30


def test_compact_and_llm_loaders_use_the_final_row(tmp_path):
    from tinker_explorer.policies.compact import compact_checkpoint as compact_resolve
    from tinker_explorer.policies.llm import llm_checkpoint as llm_resolve
    run = tmp_path / "run"
    rec = RunRecords(run, {"system_prompt": "short"})
    for name in ("warm", "final"):
        (run / f"{name}.pt").write_bytes(b"x")
    rec.log_checkpoint(0, "warm", str(run / "warm.pt"))
    with pytest.raises(UserError, match="no final checkpoint"):
        compact_resolve(run)
    rec.log_checkpoint(5, "final", str(run / "final.pt"))
    assert compact_resolve(run) == run / "final.pt"
    llm = tmp_path / "llm"
    rec = RunRecords(llm, {"system_prompt": "short"})
    for name in ("step_000000", "step_000001"):
        (llm / "checkpoints" / name).mkdir(parents=True)
        (llm / "checkpoints" / name / "engine.json").write_text('{"base_model": "tiny", "lora_rank": 8}')
    rec.log_checkpoint(0, "step_000000", str(llm / "checkpoints" / "step_000000"))
    with pytest.raises(UserError, match="step_000000"):
        llm_resolve(str(llm))
    rec.log_checkpoint(1, "final", str(llm / "checkpoints" / "step_000001"))
    path, meta = llm_resolve(str(llm))
    assert path == str(llm / "checkpoints" / "step_000001")
    assert meta["base_model"] == "tiny" and meta["system_prompt"] == "short"
    uri, meta = llm_resolve("tinker://abc/sampler_weights/x")
    assert uri == "tinker://abc/sampler_weights/x"


def test_a_missing_checkpoint_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match="no such checkpoint"):
        resolve_checkpoint(str(tmp_path / "nothing"))
    run = tmp_path / "run"
    RunRecords(run, {}).log_checkpoint(0, "final", str(run / "final.pt"))  # recorded, then deleted
    from tinker_explorer.policies.compact import compact_checkpoint as compact_resolve
    with pytest.raises(UserError, match="no such compact checkpoint file"):
        compact_resolve(run)


def test_resuming_a_run_killed_before_its_first_checkpoint_starts_it_over(tmp_path):
    run = tmp_path / "run"
    rec = RunRecords(run, {"lr": 0.1})
    rec.log_metrics(0, {"loss": 1.0})  # step 0 logged, killed before its checkpoint line
    with pytest.raises(UserError, match="already holds a run"):
        RunRecords(run, {"lr": 0.1})
    rec = RunRecords(run, {"lr": 0.1}, resume=True)
    assert rec.metrics() == [] and rec.last_checkpoint() is None
    with pytest.raises(UserError, match="nothing to resume"):
        RunRecords(tmp_path / "never", {"lr": 0.1}, resume=True)


def test_a_resume_with_another_config_is_refused_in_one_sentence(tmp_path):
    run = tmp_path / "run"
    RunRecords(run, {"lr": 0.1, "reward": {"name": "f1"}, "steps": 5}).log_checkpoint(0, "step", str(run / "x"))
    RunRecords(run, {"lr": 0.1, "reward": {"name": "f1"}, "steps": 9}, resume=True)  # more steps: allowed
    assert json.loads((run / "config.json").read_text())["steps"] == 9
    with pytest.raises(UserError, match=r"reward.name would be 'shaped', but it was started with 'f1'"):
        RunRecords(run, {"lr": 0.1, "reward": {"name": "shaped"}, "steps": 9}, resume=True)
