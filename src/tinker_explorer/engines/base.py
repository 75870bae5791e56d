"""The engine protocol: the minimal Tinker training/sampling surface a GRPO trainer needs.

One trainer loop drives two engines: ``tinker`` (the cloud SDK) and ``local`` (torch + peft
in-process). Both expose the same calls, with Tinker's semantics:

- ``sample(prompts, num_samples, max_tokens, temperature, stop, seed)``: completions from the
  *sampler weights* (the weights as of the last ``refresh_sampler``), each with its tokens,
  one logprob per sampled token and a stop reason ("stop" or "length").
- ``forward_backward(datums, loss)``: accumulate gradients of a **token-sum** loss (Tinker's
  convention: the loss of a batch is the sum over every datum and every target position,
  never a mean; normalise the weights/advantages on the client if a mean is wanted).
- ``optim_step(AdamParams)``: one AdamW step on the accumulated gradients, then clear them.
- ``save_state(name)`` / ``load_state(path)``: weights *and* optimizer state (resume).
- ``save_sampler_weights(name)``: weights only, for evaluation.

Datum alignment (Tinker's): position i of ``model_input`` predicts token i+1, so for a full
sequence ``full`` the input is ``full[:-1]`` and every ``loss_fn_inputs`` array has length
``len(full) - 1``. Prompt positions carry weight 0 / advantage 0, so only action tokens learn.

Losses (per target position t, summed over positions and datums; ``lp`` = learner logprob of
the target token, ``q`` = the sampler's logprob recorded at sampling time):

- ``cross_entropy``   inputs target_tokens, weights:            ``-w_t * lp_t``
- ``importance_sampling`` target_tokens, logprobs, advantages:  ``-exp(lp_t - q_t) * A_t``
- ``ppo``             target_tokens, logprobs, advantages:      ``-min(r_t A_t, clip(r_t, lo, hi) A_t)``
  with ``r_t = exp(lp_t - q_t)`` and ``lo, hi = 0.8, 1.2`` unless ``loss_config`` overrides
  ``clip_low_threshold`` / ``clip_high_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

from tinker_explorer.errors import UserError

LOSSES = ("cross_entropy", "importance_sampling", "ppo")
LOSS_INPUTS = {
    "cross_entropy": ("target_tokens", "weights"),
    "importance_sampling": ("target_tokens", "logprobs", "advantages"),
    "ppo": ("target_tokens", "logprobs", "advantages"),
}
PPO_CLIP = (0.8, 1.2)


@dataclass(frozen=True)
class AdamParams:
    """Tinker's AdamParams (AdamW); its defaults, which differ from torch's (beta2, eps, no decay)."""

    learning_rate: float
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-12
    weight_decay: float = 0.0
    grad_clip_norm: float = 0.0  # 0 = no clipping


@dataclass
class Datum:
    """One training sequence: ``model_input`` tokens and per-position ``loss_fn_inputs`` arrays."""

    model_input: list[int]
    loss_fn_inputs: dict[str, list[float] | list[int]]

    def __post_init__(self):
        n = len(self.model_input)
        for k, v in self.loss_fn_inputs.items():
            if len(v) != n:
                raise ValueError(f"loss_fn_inputs[{k!r}] has length {len(v)}, model_input {n}")

    @property
    def trained(self) -> list[bool]:
        """Per position: does it carry a learning signal (a non-zero weight or advantage)?"""
        w = self.loss_fn_inputs.get("weights") or self.loss_fn_inputs.get("advantages") or []
        return [x != 0 for x in w]

    @property
    def n_trained(self) -> int:
        return sum(self.trained)


def make_datum(tokens: Sequence[int], mask: Sequence[float], loss: str,
               logprobs: Sequence[float] | None = None, advantage: float | Sequence[float] = 0.0) -> Datum:
    """Build a shifted datum from a full sequence and per-token arrays of ``len(tokens)``.

    ``mask[i]`` is 1 for tokens the model produced (actions), 0 for prompt tokens;
    ``logprobs[i]`` is the sampler's logprob of token i (ignored where mask is 0);
    ``advantage`` is the episode's advantage (scalar, or one per token).
    Position j of the datum predicts ``tokens[j + 1]``, so every array drops its first entry.
    """
    if loss not in LOSSES:
        raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    n = len(tokens)
    if n < 2 or len(mask) != n or (logprobs is not None and len(logprobs) != n):
        raise ValueError(f"need >= 2 tokens and arrays of equal length (tokens {n}, mask {len(mask)})")
    adv = [float(advantage)] * n if isinstance(advantage, (int, float)) else [float(a) for a in advantage]
    target = [int(t) for t in tokens[1:]]
    m = [float(x) for x in mask[1:]]
    if loss == "cross_entropy":
        return Datum(list(map(int, tokens[:-1])), {"target_tokens": target, "weights": m})
    if logprobs is None:
        raise ValueError(f"loss {loss!r} needs the sampler's logprobs")
    lp = [float(x) * w for x, w in zip(logprobs[1:], m)]
    return Datum(list(map(int, tokens[:-1])),
                 {"target_tokens": target, "logprobs": lp, "advantages": [a * w for a, w in zip(adv[1:], m)]})


@dataclass(frozen=True)
class SampledSequence:
    tokens: list[int]
    logprobs: list[float]  # one per sampled token (the sampler's logprob at temperature 1)
    stop_reason: str  # "stop" (EOS or a stop string) or "length" (max_tokens reached)


@dataclass
class FwdBwdResult:
    """What a forward_backward reports: the summed loss and importance-ratio statistics."""

    loss: float
    n_tokens: int  # positions with a non-zero weight/advantage
    metrics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    name: str
    base_model: str
    tokenizer: Any

    def sample(self, prompts: Sequence[Sequence[int]], num_samples: int, max_tokens: int,
               temperature: float = 1.0, stop: Sequence[str] | None = None,
               seed: int | None = None) -> list[list[SampledSequence]]:
        """``num_samples`` completions per prompt, from the sampler weights."""

    def forward_backward(self, datums: Sequence[Datum], loss: str,
                         loss_config: dict | None = None) -> FwdBwdResult: ...

    def optim_step(self, params: AdamParams) -> dict: ...

    def forward_backward_optim(self, datums: Sequence[Datum], loss: str, params: AdamParams | None,
                               loss_config: dict | None = None) -> tuple[FwdBwdResult, dict]:
        """Both calls as one step; the tinker engine submits both before waiting on either."""

    def refresh_sampler(self) -> None:
        """Point the sampler at the current training weights (after an optim step)."""

    def save_state(self, name: str) -> str:
        """Weights + optimizer state; returns a path that ``load_state`` accepts."""

    def load_state(self, path: str, optimizer: bool = True) -> None:
        """Weights, and the optimizer state unless ``optimizer=False`` (warm start from SFT)."""

    def save_sampler_weights(self, name: str) -> str:
        """Weights only (for evaluation); returns a path ``--checkpoint`` accepts."""
