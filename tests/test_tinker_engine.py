"""The tinker engine against a fake SDK (tests/fake_tinker.py) and, for connection failures, the real SDK."""

from __future__ import annotations

import json
import socket
import time

import pytest

tinker = pytest.importorskip("tinker")

from fake_tinker import FakeFuture, FakeSampler, FakeService, Result, failed  # noqa: E402

from tinker_explorer.engines.base import AdamParams, make_datum  # noqa: E402
from tinker_explorer.engines.tinker_engine import SEED_LIMIT, TinkerEngine, checkpoint_kind  # noqa: E402
from tinker_explorer.errors import UserError  # noqa: E402


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("TINKER_API_KEY", "tml-test")
    monkeypatch.delenv("TINKER_BASE_URL", raising=False)
    monkeypatch.delenv("TINKER_CREDENTIAL_CMD", raising=False)
    for k, v in {"loss_sum": False, "hang_step": False, "sample_failures": 0, "sampler_cls": FakeSampler}.items():
        monkeypatch.setattr(FakeService, k, v)


def engine(**kw):
    return TinkerEngine(model="Qwen/Qwen3-8B", lora_rank=32, service_factory=FakeService, sleep=lambda s: None, **kw)


def test_creates_trainee_and_sampler_with_a_32_bit_seed():
    e = engine(base_url="http://fake", seed=2 ** 40 + 5)
    calls = [c for c in e.service.log if c[0] == "call"]
    assert e.service.kwargs == {"api_key": "tml-test", "base_url": "http://fake"}
    assert calls[0][:4] == ("call", "create_lora_training_client", "Qwen/Qwen3-8B", 32)
    assert 0 <= calls[0][4] < SEED_LIMIT
    assert calls[1] == ("call", "save_weights_and_get_sampling_client")
    assert e.tokenizer == "TOK"


def test_submits_fwd_bwd_and_optim_before_waiting():
    e = engine()
    d = make_datum([1, 2, 3, 4], [0, 0, 1, 1], "importance_sampling", [0, 0, -0.5, -0.7], 0.5)
    e.service.log.clear()
    fb, op = e.forward_backward_optim([d], "importance_sampling", AdamParams(learning_rate=5e-6))
    names = [(c[0], c[1]) for c in e.service.log]
    assert names[:4] == [("call", "forward_backward"), ("call", "optim_step"), ("wait", "forward_backward"),
                         ("wait", "optim_step")]
    assert ("call", "optim_step", 5e-6, 0.95) in e.service.log
    sent = e.training.datums[0]
    assert isinstance(sent, tinker.types.Datum) and sent.model_input.to_ints() == [1, 2, 3]
    assert sent.loss_fn_inputs["target_tokens"].dtype == "int64"
    assert sent.loss_fn_inputs["advantages"].to_numpy().tolist() == [0.0, 0.5, 0.5]
    assert op == {"grad_norm": 1.0} and fb.n_tokens == 2


def test_loss_is_computed_from_per_token_losses_when_the_server_reports_no_sum():
    """A SkyRL-like server returns loss_fn_outputs and empty metrics: the loss must not be NaN."""
    e = engine()
    d1 = make_datum([1, 2, 3, 4], [0, 1, 1, 1], "cross_entropy")
    d2 = make_datum([5, 6, 7], [0, 0, 1], "cross_entropy")
    one = e.forward_backward([d1], "cross_entropy").loss
    both = e.forward_backward([d1, d2], "cross_entropy").loss
    assert one == pytest.approx(3 * 3.912, rel=1e-3)  # three trained tokens at -log(50) each
    assert both == pytest.approx(one * 4 / 3, rel=1e-6)  # a sum over tokens, not a mean


def test_loss_sum_metric_is_used_when_present(monkeypatch):
    monkeypatch.setattr(FakeService, "loss_sum", True)
    e = engine()
    e.training.service.loss_sum = True
    fb = e.forward_backward([make_datum([1, 2, 3], [0, 1, 1], "cross_entropy")], "cross_entropy")
    assert fb.metrics["loss:sum"] == fb.loss and fb.loss == pytest.approx(2 * 3.912, rel=1e-3)


def test_empty_batch_and_server_failures_are_one_sentence():
    e = engine()
    with pytest.raises(UserError, match="No data provided"):
        e.forward_backward([], "cross_entropy")
    e.training.save_state = lambda name, **kw: FakeFuture([], "save", failed("disk full"))
    with pytest.raises(UserError, match="cannot save state: .*disk full"):
        e.save_state("x")


def test_a_training_step_is_never_resubmitted():
    """The step reached the server but its wait failed: resubmitting would apply it twice."""
    e = engine()
    req = __import__("httpx").Request("POST", "http://fake")
    e.training.forward_backward = lambda *a, **k: (e.service.log.append(("call", "fb")),
                                                   FakeFuture(e.service.log, "fb",
                                                              tinker.APIConnectionError(request=req)))[1]
    with pytest.raises(UserError, match="resume the run from its last checkpoint"):
        e.forward_backward_optim([make_datum([1, 2, 3], [0, 1, 1], "cross_entropy")], "cross_entropy",
                                 AdamParams(1e-4))
    assert [c for c in e.service.log if c[:2] == ("call", "fb")] == [("call", "fb")]
    assert e.training.steps == 1  # optim_step submitted once, never again


def test_sampling_is_retried_after_a_transient_failure():
    e = engine()
    e.service.sample_failures = 1
    out = e.sample([[1, 2]], 2, 8)
    assert [s.tokens for s in out[0]] == [[7, 8], [7, 8]]
    assert sum(1 for c in e.service.log if c[:2] == ("call", "sample")) == 2


def test_sampling_seeds_stay_below_2_31():
    e = engine()
    out = e.sample([[1]], 1, 4, seed=2 ** 31 + 7)  # the fake refuses int32-overflowing seeds, like SkyRL
    assert out[0][0].tokens == [7, 8]


def test_keys_and_credential_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TINKER_API_KEY", "sk-abc")
    with pytest.raises(UserError, match="must start with 'tml-'"):
        engine()
    monkeypatch.delenv("TINKER_API_KEY")
    with pytest.raises(UserError, match="TINKER_API_KEY"):
        engine()
    monkeypatch.setenv("TINKER_CREDENTIAL_CMD", "echo tml-from-cmd")
    assert engine().service.kwargs["api_key"] is None  # the SDK runs the command itself


def test_unknown_options_are_refused():
    with pytest.raises(UserError, match="no option max_retries"):
        engine(max_retries=3)


def test_checkpoint_kinds_do_not_depend_on_a_sampler_weights_folder():
    assert checkpoint_kind("tinker://run/weights/step_1") == "state"
    assert checkpoint_kind("tinker://run/sampler_weights/step_1") == "sampler"
    assert checkpoint_kind("tinker://model_ab12/step_1_sampler") == "sampler"
    with pytest.raises(UserError):
        checkpoint_kind("runs/x/checkpoints/final")


def test_server_style_sampler_path_opens_a_sampler_and_a_state_path_a_trainee():
    e = engine(checkpoint="tinker://model_x/final_sampler")
    assert e.training is None and ("call", "create_sampling_client", "tinker://model_x/final_sampler") in e.service.log
    first = engine()
    path = first.save_state("final")
    assert checkpoint_kind(path) == "state"
    e2 = engine(checkpoint=path)
    assert e2.training is not None
    assert ("call", "create_training_client_from_state_with_optimizer", path) in e2.service.log


def test_save_overwrites_and_rolling_states_expire_and_load_replaces_the_trainee():
    e = engine()
    p = e.save_state("runs/x/checkpoints/step_000003")
    assert p.endswith("/weights/step_000003")
    assert e.save_state("step_000003") == p  # the same name again: overwritten, not refused
    e.save_state("step_000004", rolling=True)
    assert ("call", "save_state", "step_000004", 7 * 24 * 3600, True) in e.service.log
    old = e.training
    e.load_state(p)
    assert e.training is not old and e.training.steps == old.steps
    e.delete_checkpoint(p)
    assert ("call", "delete", p) in e.service.log
    with pytest.raises(UserError, match="sampler weights only"):
        e.load_state("tinker://model_x/final_sampler")


def test_local_model_folder_tokenizer_never_asks_the_service(tmp_path):
    from tinker_explorer.engines.tiny import tiny_tokenizer
    tiny_tokenizer().save_pretrained(tmp_path)
    e = TinkerEngine(model=str(tmp_path), service_factory=FakeService, sleep=lambda s: None)
    assert e.tokenizer.encode("ab") == tiny_tokenizer().encode("ab")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_base_url_fails_in_one_sentence_quickly_with_the_real_sdk():
    t = time.monotonic()
    with pytest.raises(UserError, match="did not answer within") as err:
        TinkerEngine(model="Qwen/Qwen3-8B", base_url=f"http://127.0.0.1:{_closed_port()}", connect_timeout_s=3)
    assert time.monotonic() - t < 30 and "\n" not in str(err.value)


def test_bad_key_is_one_sentence_with_the_real_sdk(monkeypatch):
    monkeypatch.setenv("TINKER_API_KEY", "not-a-key")
    with pytest.raises(UserError, match="must start with 'tml-'"):
        TinkerEngine(base_url=f"http://127.0.0.1:{_closed_port()}")


def test_grpo_loop_runs_on_the_tinker_engine_fake(tmp_path):
    """The one GRPO loop drives the tinker engine: datums reach forward_backward, states are URIs."""
    from llm_helpers import tiny_tasks

    from tinker_explorer.engines.tiny import tiny_tokenizer
    from tinker_explorer.train.grpo import GRPOConfig, run_grpo
    tok = tiny_tokenizer()
    answers = iter(["ANSWER: red", "ANSWER: blue"] * 100)

    class AnsweringSampler(FakeSampler):
        def sequences(self, prompt, num_samples, params):
            out = []
            for _ in range(num_samples):
                ids = tok.encode(next(answers), add_special_tokens=False) + [tok.eos_token_id]
                out.append(Result(tokens=ids, logprobs=[-0.5] * len(ids), stop_reason="stop"))
            return out

    class Service(FakeService):
        tokenizer = tok
        sampler_cls = AnsweringSampler

    eng = TinkerEngine(model="Qwen/Qwen3-8B", service_factory=Service, sleep=lambda s: None)
    cfg = GRPOConfig(run_dir=str(tmp_path / "run"), engine="tinker", steps=2, batch_size=2, group_size=2,
                     save_every=2, max_steps=2)
    tasks = [t for t in tiny_tasks(8) if t.answer in ("red", "blue")]
    metrics = run_grpo(cfg, tasks=tasks, engine=eng, progress=False)
    assert [m["skipped_groups"] for m in metrics] == [0, 0] and metrics[0]["answer_rate"] == 1.0
    assert all(m["loss"] == m["loss"] for m in metrics)  # finite, not NaN
    sent = eng.training.datums
    assert len(sent) == 4 and all(set(d.loss_fn_inputs) == {"target_tokens", "logprobs", "advantages"} for d in sent)
    advs = sorted(float(d.loss_fn_inputs["advantages"].to_numpy().max() + d.loss_fn_inputs["advantages"].to_numpy().min())
                  for d in sent)
    assert advs == [-0.5, -0.5, 0.5, 0.5]  # "red" vs "blue" answers, one right: +-0.5 on action tokens
    ck = [json.loads(x) for x in (tmp_path / "run" / "checkpoints.jsonl").read_text().splitlines()]
    assert [(c["name"], checkpoint_kind(c["path"])) for c in ck] == [("final", "state")]
    assert checkpoint_kind(ck[-1]["sampler_path"]) == "sampler"
    rolling = [c for c in eng.service.log if c[:3] == ("call", "save_state", "step_000000")]
    assert rolling and rolling[0][3] is not None  # the rolling state carried a TTL ...
    deleted = [c[2] for c in eng.service.log if c[:2] == ("call", "delete")]
    assert len(deleted) == 1 and deleted[0].endswith("/weights/step_000000")  # ... and was deleted once superseded


def test_base_url_is_refused_for_another_engine_and_passed_to_the_tinker_one():
    from tinker_explorer.engines.registry import engine_options
    with pytest.raises(UserError, match="--base-url is an option of --engine tinker"):
        engine_options("local", "http://127.0.0.1:8000")
    assert engine_options("tinker", "http://h:1") == {"base_url": "http://h:1"}
    assert engine_options("local", None) == {}
    with pytest.raises(UserError, match="--dtype is an option of --engine local"):
        engine_options("tinker", None, "bfloat16")
    assert engine_options("local", None, "bfloat16") == {"dtype": "bfloat16"}
    assert engine_options("tinker", None, "auto") == {}
