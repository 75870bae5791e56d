"""The Tinker cloud engine: the official ``tinker`` SDK (0.38) behind the engine protocol.

NOT RUN AGAINST THE LIVE SERVICE: this module is tested against a fake at the SDK's client
boundary (``service_factory``), which checks the datums and the exact calls made.

SDK 0.38 returns futures from every call. Client-creating calls return futures of clients;
``forward_backward`` and ``optim_step`` are both submitted before waiting on either (calls
on one training client run in order), so the server can pipeline them. Transient failures
(connection, timeout, rate limit, 5xx) are retried with exponential backoff; a missing key
or an unreachable service becomes one :class:`UserError` sentence.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Sequence

from tinker_explorer.engines.base import LOSSES, AdamParams, Datum, FwdBwdResult, SampledSequence
from tinker_explorer.errors import UserError


def _result(x):
    """``.result()`` of an SDK future; older SDKs (<= 0.24) returned plain objects."""
    return x.result() if hasattr(x, "result") and callable(x.result) else x


def _transient_errors() -> tuple[type[BaseException], ...]:
    import tinker
    return (tinker.APIConnectionError, tinker.APITimeoutError, tinker.RateLimitError,
            tinker.InternalServerError)


class TinkerEngine:
    name = "tinker"

    def __init__(self, model: str = "Qwen/Qwen3-8B", lora_rank: int = 32, seed: int = 0,
                 checkpoint: str | None = None, api_key: str | None = None, base_url: str | None = None,
                 service_factory: Callable | None = None, max_retries: int = 4, backoff_s: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep, frozen_prompt: bool = False, **_ignored):
        if frozen_prompt:
            raise UserError("--frozen-prompt is a local-engine option; the tinker service computes exact gradients")
        self.base_model, self.lora_rank, self.seed = model, lora_rank, seed
        self.max_retries, self.backoff_s, self._sleep = max_retries, backoff_s, sleep
        self.base_url = base_url or os.environ.get("TINKER_BASE_URL")
        key = api_key or os.environ.get("TINKER_API_KEY")
        if not key and not (Path.home() / ".tinker" / "credentials.json").exists():
            raise UserError("the tinker engine needs an API key: set TINKER_API_KEY (or run `tinker auth login`), "
                            "or use --engine local")
        import tinker
        self.types = tinker.types
        factory = service_factory or tinker.ServiceClient
        self.service = self._retry(lambda: factory(api_key=key, base_url=self.base_url), "connect")
        if checkpoint and checkpoint.startswith("tinker://") and "/sampler_weights/" in checkpoint:
            # evaluation of exported sampler weights: no trainee needed
            self.training = None
            self.sampler = self._retry(lambda: _result(self.service.create_sampling_client(model_path=checkpoint)),
                                       "open sampler weights")
            self.tokenizer = self.sampler.get_tokenizer()
            return
        if checkpoint:
            self.training = self._retry(lambda: _result(
                self.service.create_training_client_from_state_with_optimizer(checkpoint)), "load state")
        else:
            self.training = self._retry(lambda: _result(self.service.create_lora_training_client(
                base_model=model, rank=lora_rank, seed=seed)), "create LoRA trainee")
        self.tokenizer = self.training.get_tokenizer()
        self.sampler = None
        self.refresh_sampler()

    # ---- plumbing ------------------------------------------------------------------------
    def _retry(self, fn: Callable, what: str):
        """Run ``fn`` (submit + wait) with exponential backoff on transient errors."""
        transient = _transient_errors()
        import tinker
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except tinker.AuthenticationError:
                raise UserError("the Tinker service rejected the API key (TINKER_API_KEY)") from None
            except transient as e:
                if attempt == self.max_retries:
                    where = self.base_url or "the default Tinker endpoint"
                    raise UserError(f"cannot {what}: the Tinker service at {where} is unreachable or "
                                    f"failing after {self.max_retries + 1} tries ({type(e).__name__})") from None
                self._sleep(self.backoff_s * 2 ** attempt)

    def to_sdk(self, d: Datum):
        """Our datum -> ``tinker.types.Datum`` (lists become int64/float32 TensorData)."""
        return self.types.Datum(model_input=self.types.ModelInput.from_ints(list(d.model_input)),
                                loss_fn_inputs={k: list(v) for k, v in d.loss_fn_inputs.items()})

    # ---- protocol ------------------------------------------------------------------------
    def refresh_sampler(self) -> None:
        """Publish the current weights as a sampling snapshot (a fresh sampler each optim step)."""
        self.sampler = self._retry(lambda: _result(self.training.save_weights_and_get_sampling_client()),
                                   "publish sampler weights")

    def sample(self, prompts, num_samples, max_tokens, temperature=1.0, stop=None, seed=None):
        params = self.types.SamplingParams(max_tokens=max_tokens, temperature=temperature,
                                           stop=list(stop) if stop else None, seed=seed)
        # submit every prompt first, then wait: requests run concurrently on the server
        futs = [self.sampler.sample(prompt=self.types.ModelInput.from_ints(list(p)), num_samples=num_samples,
                                    sampling_params=params) for p in prompts]
        out = []
        for p, f in zip(prompts, futs):
            try:
                resp = _result(f)
            except _transient_errors():
                resp = self._retry(lambda p=p: _result(self.sampler.sample(
                    prompt=self.types.ModelInput.from_ints(list(p)), num_samples=num_samples,
                    sampling_params=params)), "sample")
            out.append([SampledSequence(list(s.tokens), list(s.logprobs or []), str(s.stop_reason))
                        for s in resp.sequences])
        return out

    def forward_backward(self, datums: Sequence[Datum], loss: str, loss_config=None) -> FwdBwdResult:
        return self.forward_backward_optim(datums, loss, None, loss_config)[0]

    def optim_step(self, params: AdamParams) -> dict:
        return self._metrics(self._retry(lambda: _result(self.training.optim_step(self._adam(params))),
                                         "run an optimizer step"))

    def forward_backward_optim(self, datums, loss, params: AdamParams | None, loss_config=None):
        """Submit forward_backward and optim_step together, then wait on both."""
        if loss not in LOSSES:
            raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        data = [self.to_sdk(d) for d in datums]

        def go():
            fb = self.training.forward_backward(data, loss, loss_config) if loss_config else \
                self.training.forward_backward(data, loss)
            op = self.training.optim_step(self._adam(params)) if params is not None else None
            return _result(fb), (_result(op) if op is not None else None)

        fb, op = self._retry(go, "run forward_backward")
        m = self._metrics(fb)
        n_tok = sum(d.n_trained for d in datums)
        res = FwdBwdResult(loss=float(m.get("loss:sum", m.get("loss", float("nan")))), n_tokens=n_tok, metrics=m)
        return res, (self._metrics(op) if op is not None else {})

    def _adam(self, p: AdamParams):
        return self.types.AdamParams(learning_rate=p.learning_rate, beta1=p.beta1, beta2=p.beta2, eps=p.eps,
                                     weight_decay=p.weight_decay, grad_clip_norm=p.grad_clip_norm)

    @staticmethod
    def _metrics(x) -> dict:
        m = getattr(x, "metrics", None) or {}
        return {k: float(v) for k, v in dict(m).items() if isinstance(v, (int, float))}

    def save_state(self, name: str) -> str:
        return self._retry(lambda: _result(self.training.save_state(Path(name).name)), "save state").path

    def load_state(self, path: str, optimizer: bool = True) -> None:
        create = (self.service.create_training_client_from_state_with_optimizer if optimizer
                  else self.service.create_training_client_from_state)
        self.training = self._retry(lambda: _result(create(path)), "load state")
        self.refresh_sampler()

    def save_sampler_weights(self, name: str) -> str:
        return self._retry(lambda: _result(self.training.save_weights_for_sampler(Path(name).name)),
                           "save sampler weights").path
