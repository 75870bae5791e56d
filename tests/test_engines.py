"""Engines: datum alignment, engine selection, and the tinker engine's exact SDK calls against a
fake at the client boundary (the local engine: test_local_engine.py)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tinker_explorer.engines.base import AdamParams, Datum, make_datum, make_engine  # noqa: E402
from tinker_explorer.errors import UserError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

def test_make_datum_shifts_by_one_and_zeroes_prompt_positions():
    toks = [10, 11, 12, 20, 21]  # prompt 10 11 12, action 20 21
    mask = [0, 0, 0, 1, 1]
    lps = [0, 0, 0, -0.5, -0.25]
    d = make_datum(toks, mask, "importance_sampling", lps, advantage=2.0)
    assert d.model_input == [10, 11, 12, 20]
    assert d.loss_fn_inputs["target_tokens"] == [11, 12, 20, 21]
    assert d.loss_fn_inputs["advantages"] == [0, 0, 2.0, 2.0]  # position 2 predicts the first action token
    assert d.loss_fn_inputs["logprobs"] == [0, 0, -0.5, -0.25]
    ce = make_datum(toks, mask, "cross_entropy")
    assert set(ce.loss_fn_inputs) == {"target_tokens", "weights"} and ce.loss_fn_inputs["weights"] == [0, 0, 1, 1]
    assert ce.n_trained == 2


def test_datum_rejects_misaligned_arrays_and_unknown_loss():
    with pytest.raises(ValueError):
        Datum([1, 2, 3], {"target_tokens": [2, 3]})
    with pytest.raises(UserError):
        make_datum([1, 2], [0, 1], "dpo")
    with pytest.raises(ValueError):
        make_datum([1, 2], [0, 1], "ppo")  # needs sampler logprobs


def test_unknown_engine():
    with pytest.raises(UserError, match="unknown engine"):
        make_engine("vllm")


# ---- tinker engine against a fake SDK client ---------------------------------------------------
class FakeFuture:
    def __init__(self, log, name, value):
        self.log, self.name, self.value = log, name, value

    def result(self):
        self.log.append(("wait", self.name))
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class FakeTraining:
    def __init__(self, log, tokenizer):
        self.log, self.tok = log, tokenizer
        self.datums = None

    def get_tokenizer(self):
        return self.tok

    def save_weights_and_get_sampling_client(self, name=None):
        self.log.append(("call", "save_weights_and_get_sampling_client"))
        return FakeFuture(self.log, "sampler", FakeSampler(self.log))

    def forward_backward(self, data, loss_fn, loss_fn_config=None):
        self.log.append(("call", "forward_backward", loss_fn))
        self.datums = data
        out = type("FB", (), {"metrics": {"loss:sum": 1.25}, "loss_fn_outputs": []})()
        return FakeFuture(self.log, "forward_backward", out)

    def optim_step(self, params):
        self.log.append(("call", "optim_step", params.learning_rate, params.beta2))
        return FakeFuture(self.log, "optim_step", type("O", (), {"metrics": {}})())

    def save_state(self, name):
        self.log.append(("call", "save_state", name))
        return FakeFuture(self.log, "save_state", type("R", (), {"path": f"tinker://run/weights/{name}"})())

    def save_weights_for_sampler(self, name):
        self.log.append(("call", "save_weights_for_sampler", name))
        return FakeFuture(self.log, "sfs", type("R", (), {"path": f"tinker://run/sampler_weights/{name}"})())


class FakeSampler:
    def __init__(self, log):
        self.log = log

    def sample(self, prompt, num_samples, sampling_params):
        self.log.append(("call", "sample", prompt.to_ints(), num_samples, sampling_params.max_tokens))
        seq = type("S", (), {"tokens": [7, 8], "logprobs": [-0.1, -0.2], "stop_reason": "stop"})()
        return FakeFuture(self.log, "sample", type("R", (), {"sequences": [seq] * num_samples})())


class FakeService:
    instances: list = []

    def __init__(self, api_key=None, base_url=None, fail_times=0, exc=None):
        self.log = []
        self.kwargs = {"api_key": api_key, "base_url": base_url}
        FakeService.instances.append(self)

    def create_lora_training_client(self, base_model, rank=32, seed=None):
        self.log.append(("call", "create_lora_training_client", base_model, rank))
        return FakeFuture(self.log, "training", FakeTraining(self.log, "TOK"))

    def create_training_client_from_state_with_optimizer(self, path):
        self.log.append(("call", "create_training_client_from_state_with_optimizer", path))
        return FakeFuture(self.log, "training", FakeTraining(self.log, "TOK"))

    def create_training_client_from_state(self, path):
        self.log.append(("call", "create_training_client_from_state", path))
        return FakeFuture(self.log, "training", FakeTraining(self.log, "TOK"))


@pytest.fixture
def tinker_engine(monkeypatch):
    pytest.importorskip("tinker")
    from tinker_explorer.engines.tinker_engine import TinkerEngine
    monkeypatch.setenv("TINKER_API_KEY", "tml-test")
    monkeypatch.setenv("TINKER_BASE_URL", "http://fake")
    return TinkerEngine(model="Qwen/Qwen3-8B", lora_rank=32, service_factory=FakeService, sleep=lambda s: None)


def test_tinker_engine_creates_trainee_and_sampler(tinker_engine):
    svc = tinker_engine.service
    assert svc.kwargs == {"api_key": "tml-test", "base_url": "http://fake"}
    calls = [c for c in svc.log if c[0] == "call"]
    assert calls[0] == ("call", "create_lora_training_client", "Qwen/Qwen3-8B", 32)
    assert calls[1] == ("call", "save_weights_and_get_sampling_client")
    assert tinker_engine.tokenizer == "TOK"


def test_tinker_engine_submits_fwd_bwd_and_optim_before_waiting(tinker_engine):
    import tinker
    svc = tinker_engine.service
    d = make_datum([1, 2, 3, 4], [0, 0, 1, 1], "importance_sampling", [0, 0, -0.5, -0.7], 0.5)
    svc.log.clear()
    fb, op = tinker_engine.forward_backward_optim([d], "importance_sampling", AdamParams(learning_rate=5e-6))
    names = [(c[0], c[1]) for c in svc.log]
    assert names[:4] == [("call", "forward_backward"), ("call", "optim_step"), ("wait", "forward_backward"),
                         ("wait", "optim_step")]
    assert ("call", "optim_step", 5e-6, 0.95) in svc.log
    assert fb.loss == 1.25 and fb.n_tokens == 2
    sent = tinker_engine.training.datums[0]
    assert isinstance(sent, tinker.types.Datum)
    assert sent.model_input.to_ints() == [1, 2, 3]
    assert set(sent.loss_fn_inputs) == {"target_tokens", "logprobs", "advantages"}
    assert sent.loss_fn_inputs["target_tokens"].dtype == "int64"
    assert sent.loss_fn_inputs["advantages"].to_numpy().tolist() == [0.0, 0.5, 0.5]


def test_tinker_engine_sample_state_and_resume(tinker_engine):
    out = tinker_engine.sample([[1, 2], [3]], 2, 16, temperature=1.0)
    assert [[s.tokens for s in g] for g in out] == [[[7, 8]] * 2] * 2
    assert out[0][0].logprobs == [-0.1, -0.2] and out[0][0].stop_reason == "stop"
    assert tinker_engine.save_state("runs/x/checkpoints/step_000003") == "tinker://run/weights/step_000003"
    tinker_engine.load_state("tinker://run/weights/step_000003")
    assert ("call", "create_training_client_from_state_with_optimizer",
            "tinker://run/weights/step_000003") in tinker_engine.service.log
    tinker_engine.load_state("tinker://run/weights/sft", optimizer=False)
    assert ("call", "create_training_client_from_state", "tinker://run/weights/sft") in tinker_engine.service.log


def test_tinker_engine_missing_key_is_one_sentence(monkeypatch, tmp_path):
    pytest.importorskip("tinker")
    from tinker_explorer.engines.tinker_engine import TinkerEngine
    monkeypatch.delenv("TINKER_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(UserError, match="TINKER_API_KEY"):
        TinkerEngine(service_factory=FakeService)


def test_tinker_engine_retries_transient_errors_then_gives_up(monkeypatch):
    tinker = pytest.importorskip("tinker")
    import httpx

    from tinker_explorer.engines.tinker_engine import TinkerEngine
    monkeypatch.setenv("TINKER_API_KEY", "k")
    req = httpx.Request("POST", "http://fake")
    attempts = []

    def flaky(**kw):
        attempts.append(1)
        if len(attempts) < 3:
            raise tinker.APIConnectionError(request=req)
        return FakeService(**kw)
    slept = []
    e = TinkerEngine(service_factory=flaky, sleep=slept.append, backoff_s=1.0)
    assert len(attempts) == 3 and slept == [1.0, 2.0] and e.tokenizer == "TOK"

    def down(**kw):
        raise tinker.APIConnectionError(request=req)
    with pytest.raises(UserError, match="unreachable"):
        TinkerEngine(service_factory=down, sleep=lambda s: None, max_retries=2)


def test_grpo_loop_runs_on_the_tinker_engine_fake(monkeypatch, tmp_path):
    """The one GRPO loop drives the tinker engine: datums reach forward_backward, state goes to tinker://."""
    pytest.importorskip("tinker")
    import json

    from llm_helpers import tiny_tasks

    from tinker_explorer.engines.tiny import tiny_tokenizer
    from tinker_explorer.engines.tinker_engine import TinkerEngine
    from tinker_explorer.train.grpo import GRPOConfig, run_grpo
    tok = tiny_tokenizer()
    answers = iter(["ANSWER: red", "ANSWER: blue"] * 100)

    class AnsweringSampler(FakeSampler):
        def sample(self, prompt, num_samples, sampling_params):
            seqs = []
            for _ in range(num_samples):
                ids = tok.encode(next(answers), add_special_tokens=False) + [tok.eos_token_id]
                seqs.append(type("S", (), {"tokens": ids, "logprobs": [-0.5] * len(ids), "stop_reason": "stop"})())
            return FakeFuture(self.log, "sample", type("R", (), {"sequences": seqs})())

    class Training(FakeTraining):
        def save_weights_and_get_sampling_client(self, name=None):
            return FakeFuture(self.log, "sampler", AnsweringSampler(self.log))

    class Service(FakeService):
        def create_lora_training_client(self, base_model, rank=32, seed=None):
            return FakeFuture(self.log, "training", Training(self.log, tok))

    monkeypatch.setenv("TINKER_API_KEY", "k")
    eng = TinkerEngine(model="Qwen/Qwen3-8B", service_factory=Service, sleep=lambda s: None)
    cfg = GRPOConfig(run_dir=str(tmp_path / "run"), engine="tinker", steps=2, batch_size=2, group_size=2,
                     save_every=2, max_steps=2)
    tasks = [t for t in tiny_tasks(8) if t.answer in ("red", "blue")]
    metrics = run_grpo(cfg, tasks=tasks, engine=eng, progress=False)
    assert [m["skipped_groups"] for m in metrics] == [0, 0] and metrics[0]["answer_rate"] == 1.0
    sent = eng.training.datums
    assert len(sent) == 4 and all(set(d.loss_fn_inputs) == {"target_tokens", "logprobs", "advantages"} for d in sent)
    advs = sorted(float(d.loss_fn_inputs["advantages"].to_numpy().max() + d.loss_fn_inputs["advantages"].to_numpy().min())
                  for d in sent)
    assert advs == [-0.5, -0.5, 0.5, 0.5]  # "red" vs "blue" answers, one right: +-0.5 on action tokens
    ck = [json.loads(x) for x in (tmp_path / "run" / "checkpoints.jsonl").read_text().splitlines()]
    assert [c["path"] for c in ck] == ["tinker://run/weights/step_000000", "tinker://run/weights/step_000001"]
    assert ck[-1]["sampler_path"] == "tinker://run/sampler_weights/step_000001_sampler"
