"""Engines: datum alignment and engine selection (the local engine: test_local_engine.py; the tinker
engine: test_tinker_engine.py and, against a real server, test_tinker_server.py)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tinker_explorer.engines import Datum, make_datum, make_engine  # noqa: E402
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


