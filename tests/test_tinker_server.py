"""The tinker engine against a real Tinker-API server (SkyRL's, CPU, SmolLM2-135M), through the CLI.

SFT for a few steps -> GRPO ``--init`` that SFT run, killed after its first checkpoint and
``--resume``d -> eval of the GRPO run; and the local engine and the server agree on logprobs and
per-token losses. Sampling runs at about a token a second on a CPU, so every size is tiny.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("tinker")

from tinker_server import API_KEY, ROOT, tinker_server  # noqa: E402,F401

from tinker_explorer.engines.base import AdamParams, make_datum  # noqa: E402
from tinker_explorer.engines.tinker_engine import checkpoint_kind  # noqa: E402

pytestmark = pytest.mark.slow
LOGPROB_TOL = 1e-4  # fp32 on both sides, JAX and torch summing in different orders (largest seen: 1.5e-5)


def cli(*args, check=True, background=False):
    env = {**os.environ, "TINKER_API_KEY": API_KEY, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "tinker_explorer.cli", *map(str, args)]
    if background:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if check and out.returncode:
        raise AssertionError(f"{' '.join(cmd[3:])} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def runs(tinker_server, tmp_path_factory):
    """SFT -> GRPO --init (killed after its first checkpoint, then --resume) -> eval; timings kept."""
    from llm_helpers import tiny_tasks

    from tinker_explorer.data.schema import save_tasks
    d = tmp_path_factory.mktemp("tinker_runs")
    tasks = d / "tasks.jsonl"
    save_tasks(tiny_tasks(2), tasks)
    common = ["--engine", "tinker", "--base-url", tinker_server.url, "--model", tinker_server.model_dir,
              "--tasks", tasks, "--lora-rank", 8, "--system-prompt", "short", "--max-steps", 1]
    times = {}
    t = time.perf_counter()
    cli("train", "sft", *common, "--run-dir", d / "sft", "--episodes", 2, "--batch-size", 4, "--lr", 1e-4)
    times["sft_s"] = time.perf_counter() - t
    grpo = ["train", "grpo", *common, "--run-dir", d / "grpo", "--init", d / "sft", "--steps", 2, "--group-size", 4,
            "--batch-size", 1, "--max-tokens", 6, "--save-every", 2, "--temperature", 1.0, "--lr", 1e-4,
            "--reward", "shaped"]  # shaped: a parse error and a valid OPEN differ, so groups can train
    t = time.perf_counter()
    proc = cli(*grpo, background=True)
    ck = d / "grpo" / "checkpoints.jsonl"
    while proc.poll() is None and not (ck.exists() and rows(ck)):
        time.sleep(0.5)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first_log = proc.stdout.read()
    assert killed, f"the GRPO run ended before it could be killed:\n{first_log[-3000:]}"
    after_kill = rows(ck)
    resumed = cli(*grpo, "--resume")
    times["grpo_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ev = cli("eval", "--policy", "llm", "--engine", "tinker", "--base-url", tinker_server.url,
             "--model", tinker_server.model_dir, "--checkpoint", d / "grpo", "--tasks", tasks, "--n-tasks", 1,
             "--max-steps", 1, "--json", d / "eval.json", "--quiet")
    times["eval_s"] = time.perf_counter() - t
    print(f"\ntinker server runs: {({k: round(v) for k, v in times.items()})}", file=sys.stderr)
    return {"dir": d, "after_kill": after_kill, "resumed": resumed, "eval": ev, "times": times}


def test_sft_losses_are_finite_and_its_uris_round_trip(runs):
    d = runs["dir"]
    losses = [m["loss"] for m in rows(d / "sft" / "metrics.jsonl")]
    assert losses and all(math.isfinite(x) and x > 0 for x in losses)
    (final,) = rows(d / "sft" / "checkpoints.jsonl")
    assert final["name"] == "final" and final["path"].startswith("tinker://")
    assert checkpoint_kind(final["path"]) == "state" and checkpoint_kind(final["sampler_path"]) == "sampler"


def test_grpo_init_from_the_sft_run_resumes_from_its_last_saved_state(runs):
    d = runs["dir"]
    assert [r["step"] for r in runs["after_kill"]] == [0]
    first = runs["after_kill"][0]
    assert first["path"].startswith("tinker://") and checkpoint_kind(first["path"]) == "state"
    assert f"resumed from {first['path']} (step 0)" in runs["resumed"].stdout + runs["resumed"].stderr
    metrics = rows(d / "grpo" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [0, 1]
    assert all(math.isfinite(m["loss"]) for m in metrics if "loss" in m)
    print(f"\ngrpo: {[(m['step'], m['n_datums'], m.get('loss')) for m in metrics]} (step, datums, loss)",
          file=sys.stderr)
    ck = rows(d / "grpo" / "checkpoints.jsonl")
    assert [(r["step"], r["name"]) for r in ck] == [(1, "final")]  # the rolling step-0 state was superseded
    assert checkpoint_kind(ck[-1]["path"]) == "state" and checkpoint_kind(ck[-1]["sampler_path"]) == "sampler"


def test_eval_samples_from_the_trained_grpo_weights(runs):
    d = runs["dir"]
    res = json.loads((d / "eval.json").read_text())
    final = rows(d / "grpo" / "checkpoints.jsonl")[-1]
    assert res["checkpoint_used"] == final["sampler_path"]
    assert len(res["per_task"]) == 1


def test_local_engine_and_server_agree_on_logprobs_and_token_losses(tinker_server):
    """Same base weights, zero-initialised LoRA, same datums: the engine protocol means the same thing."""
    os.environ["TINKER_API_KEY"] = API_KEY
    from tinker_explorer.engines.local import LocalEngine
    from tinker_explorer.engines.tinker_engine import TinkerEngine
    remote = TinkerEngine(model=str(tinker_server.model_dir), base_url=tinker_server.url, lora_rank=8)
    local = LocalEngine(model=str(tinker_server.model_dir), lora_rank=8)
    tok = local.tokenizer
    texts = ["The car of Ada is red.", "OPEN 0\nANSWER: blue", "Where was the director of Blue Harbor born?"]
    datums = []
    for i, t in enumerate(texts):
        ids = tok.encode(t, add_special_tokens=False)
        datums.append(make_datum(ids, [0] * (1 + i) + [1] * (len(ids) - 1 - i), "cross_entropy"))
    lp_remote = remote.logprobs(datums)
    lp_local = [x.tolist() for x in local.logprobs(datums)]
    diffs = [abs(a - b) for r, lo in zip(lp_remote, lp_local) for a, b in zip(r, lo)]
    assert len(diffs) == sum(len(d.model_input) for d in datums)
    out = remote._call("forward", lambda: remote.training.forward([remote.to_sdk(x) for x in datums], "cross_entropy"))
    el = [o["elementwise_loss"].to_numpy().tolist() for o in out.loss_fn_outputs]
    want = [[-w * lp for w, lp in zip(x.loss_fn_inputs["weights"], lo)] for x, lo in zip(datums, lp_local)]
    loss_diffs = [abs(a - b) for r, w in zip(el, want) for a, b in zip(r, w)]
    fb_remote = remote.forward_backward(datums, "cross_entropy").loss
    fb_local = local.forward_backward(datums, "cross_entropy").loss
    print(f"\nlargest logprob difference {max(diffs):.2e}, per-token loss {max(loss_diffs):.2e}, "
          f"summed loss server {fb_remote:.5f} local {fb_local:.5f}", file=sys.stderr)
    assert max(diffs) < LOGPROB_TOL and max(loss_diffs) < LOGPROB_TOL
    assert fb_remote == pytest.approx(fb_local, rel=1e-3)
    # a GRPO step (importance sampling, then AdamW) on the server: the sampler's logprobs are the
    # learner's, so every ratio is 1 and the loss is minus the sum of the advantages
    ids = tok.encode(texts[1], add_special_tokens=False)
    mask = [0] + [1] * (len(ids) - 1)
    lps = [0.0] + lp_local[1]
    step = [make_datum(ids, mask, "importance_sampling", lps, a) for a in (0.5, -0.25)]
    fb, op = remote.forward_backward_optim(step, "importance_sampling", AdamParams(learning_rate=1e-4))
    assert fb.loss == pytest.approx(-(0.5 - 0.25) * (len(ids) - 1), abs=1e-3) and fb.n_tokens == 2 * (len(ids) - 1)
    assert remote.logprobs(step[:1])[0] != lp_remote[1]  # the optimizer step changed the weights
