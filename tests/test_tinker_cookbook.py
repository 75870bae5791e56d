"""ExplorerEnv through tinker-cookbook's RL types: an episode in tokens, and the cookbook's own
training loop (``tinker_cookbook.rl.train``) for one step against the real Tinker-API server."""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("tinker_cookbook.rl.train", reason="tinker-cookbook is not installed (extra: cookbook)")

from llm_helpers import tiny_tasks  # noqa: E402
from tinker_server import API_KEY, tinker_server  # noqa: E402,F401

from tinker_explorer.data.schema import save_tasks  # noqa: E402
from tinker_explorer.integrations.cookbook import ExplorerDatasetBuilder  # noqa: E402
from tinker_explorer.policies.prompts import SYSTEM_PROMPT_SHORT  # noqa: E402


def test_an_episode_in_tokens_reads_then_answers(tmp_path):
    from tinker_explorer.engines.tiny import tiny_tokenizer
    tok = tiny_tokenizer()
    tok.save_pretrained(tmp_path / "tok")
    save_tasks(tiny_tasks(2), tmp_path / "tasks.jsonl")
    builder = ExplorerDatasetBuilder(tasks_path=str(tmp_path / "tasks.jsonl"), model_name=str(tmp_path / "tok"),
                                     system_prompt=SYSTEM_PROMPT_SHORT, batch_size=1, group_size=2, max_steps=3)

    async def episode():
        data, test = await builder()
        assert len(data) == 2 and test is None
        (group,) = data.get_batch(0)
        envs = await group.make_envs()
        assert len(envs) == 2
        env = envs[0]
        ob, stop = await env.initial_observation()
        assert "Car of Ada?" in tok.decode(ob.to_ints()) and stop == [tok.eos_token_id]
        first = await env.step(tok.encode("OPEN 0", add_special_tokens=False) + [tok.eos_token_id])
        assert not first.episode_done and first.reward == 0.0
        assert "The car of Ada is red" in tok.decode(first.next_observation.to_ints())
        last = await env.step(tok.encode("ANSWER: red", add_special_tokens=False))
        return last
    last = asyncio.run(episode())
    assert last.episode_done and last.reward == 1.0 and last.metrics["stop/completed"] == 1.0


@pytest.mark.slow
def test_the_cookbook_rl_loop_trains_a_step_on_our_env(tinker_server, tmp_path, monkeypatch):
    from tinker_cookbook.rl.train import Config, main
    monkeypatch.setenv("TINKER_API_KEY", API_KEY)
    save_tasks(tiny_tasks(2), tmp_path / "tasks.jsonl")
    model = str(tinker_server.model_dir)
    builder = ExplorerDatasetBuilder(tasks_path=str(tmp_path / "tasks.jsonl"), model_name=model,
                                     system_prompt=SYSTEM_PROMPT_SHORT, batch_size=1, group_size=2, max_steps=1)
    cfg = Config(learning_rate=1e-4, dataset_builder=builder, model_name=model, recipe_name="tinker-explorer",
                 max_tokens=6, log_path=str(tmp_path / "log"), base_url=tinker_server.url, lora_rank=8,
                 max_steps=1, eval_every=0, save_every=0, temperature=1.0)
    asyncio.run(main(cfg))
    lines = [json.loads(x) for x in (Path(cfg.log_path) / "metrics.jsonl").read_text().splitlines() if x.strip()]
    shown = {k: v for k, v in lines[0].items() if k.startswith(("optim/", "env/all/reward"))}
    print(f"\ncookbook step metrics: {shown}", file=sys.stderr)
    assert lines[0]["step"] == 0 and all(x["step"] <= 1 for x in lines)  # one training step (plus totals)
    assert lines[0]["optim/lr"] == pytest.approx(1e-4)  # the loop reached its optimizer step
    assert abs(lines[0]["optim/kl_sample_train_v1"]) < 1e-3  # the server's sampler and learner agree
    assert all(math.isfinite(v) for v in lines[0].values() if isinstance(v, float))
