"""The Tinker engine: the official ``tinker`` SDK (0.38) behind the engine protocol.

It runs against Tinker cloud (the default endpoint, an API key) or any server that speaks the
Tinker API (``base_url``, e.g. a self-hosted SkyRL server); the tests run it against SkyRL's server.

SDK 0.38 returns futures from every call. ``forward_backward`` and ``optim_step`` are both
submitted before waiting on either (calls on one training client run in order).

Failures. The SDK already retries connection errors, timeouts, 429 and 5xx inside each request
(for up to 300 s), so this engine adds no blind retry loop on top:

- the first contact waits at most ``connect_timeout_s`` unless the endpoint accepts TCP
  connections, so an unreachable ``base_url`` fails with one sentence in well under 30 s;
- idempotent calls (create a client, sample, save) are resubmitted after a transient failure
  while one overall deadline (``retry_deadline_s``, the SDK's own waiting included) lasts;
- a training step is never resubmitted: if its outcome is unknown, the run must resume from its
  last checkpoint, or the step could be applied twice;
- every failure the server reports becomes one :class:`UserError` sentence.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import urlparse

from tinker_explorer.engines.base import LOSSES, AdamParams, Datum, FwdBwdResult, SampledSequence
from tinker_explorer.errors import UserError

SEED_LIMIT = 2 ** 31  # some Tinker-API servers cast seeds to int32; the service takes 64-bit seeds
CHECKPOINT_TTL_S = 7 * 24 * 3600  # rolling checkpoints expire on their own if a run is abandoned


def checkpoint_kind(uri: str) -> str:
    """``tinker://RUN/weights/NAME`` is a training state; ``tinker://RUN/sampler_weights/NAME`` and a
    server's ``tinker://MODEL/NAME`` are sampler weights. Anything else is refused."""
    u = urlparse(uri)
    parts = u.path.strip("/").split("/")
    if u.scheme != "tinker" or not u.netloc or not parts[-1] or len(parts) > 2:
        raise UserError(f"{uri}: not a Tinker checkpoint path (tinker://RUN/weights/NAME or "
                        "tinker://RUN/sampler_weights/NAME)")
    if len(parts) == 2 and parts[0] not in ("weights", "sampler_weights"):
        raise UserError(f"{uri}: unknown Tinker checkpoint kind {parts[0]!r}")
    return "state" if parts[0] == "weights" and len(parts) == 2 else "sampler"


def _short(e: BaseException) -> str:
    msg = " ".join(str(getattr(e, "message", None) or e).split())
    return msg[:300] + ("..." if len(msg) > 300 else "")


class TinkerEngine:
    name = "tinker"

    def __init__(self, model: str = "Qwen/Qwen3-8B", lora_rank: int = 32, seed: int = 0,
                 checkpoint: str | None = None, api_key: str | None = None, base_url: str | None = None,
                 service_factory: Callable | None = None, connect_timeout_s: float = 15.0,
                 retry_deadline_s: float = 600.0, sleep: Callable[[float], None] = time.sleep,
                 frozen_prompt: bool = False, **options):
        if options:
            raise UserError(f"the tinker engine has no option {', '.join(sorted(options))}")
        if frozen_prompt:
            raise UserError("--frozen-prompt is a local-engine option; the tinker service computes exact gradients")
        self.base_model, self.lora_rank, self.seed = model, lora_rank, int(seed) % SEED_LIMIT
        self.connect_timeout_s, self.retry_deadline_s, self._sleep = connect_timeout_s, retry_deadline_s, sleep
        self.base_url = base_url or os.environ.get("TINKER_BASE_URL") or None
        key = api_key or os.environ.get("TINKER_API_KEY") or None
        self._check_credentials(key)
        import tinker
        self.types = tinker.types
        factory = service_factory or tinker.ServiceClient
        self.service = factory(api_key=key, base_url=self.base_url)  # no I/O until the first request
        self._contacted = False
        self.training = None
        self.sampler = None
        if checkpoint and checkpoint_kind(checkpoint) == "sampler":
            # evaluation of exported sampler weights: no trainee needed
            self.sampler = self._call("open sampler weights",
                                      lambda: self.service.create_sampling_client(model_path=checkpoint))
            self.tokenizer = self._tokenizer(self.sampler)
            return
        if checkpoint:
            self._create_from_state(checkpoint, optimizer=True)
        else:
            self.training = self._call("create a LoRA trainee", lambda: self.service.create_lora_training_client(
                base_model=model, rank=lora_rank, seed=self.seed))
        self.tokenizer = self._tokenizer(self.training)
        self.refresh_sampler()

    # ---- plumbing ------------------------------------------------------------------------
    @staticmethod
    def _check_credentials(key: str | None) -> None:
        if key is not None and not key.startswith("tml-"):
            raise UserError("the Tinker API key must start with 'tml-' (check TINKER_API_KEY)")
        if key is None and not os.environ.get("TINKER_CREDENTIAL_CMD") \
                and not (Path.home() / ".tinker" / "credentials.json").exists():
            raise UserError("the tinker engine needs an API key: set TINKER_API_KEY or TINKER_CREDENTIAL_CMD "
                            "(or run `tinker auth login`), or use --engine local")

    def _where(self) -> str:
        return self.base_url or "the Tinker service"

    def _reachable(self) -> bool:
        """Whether the endpoint accepts a TCP connection (a cheap test, used only when a wait runs long)."""
        from tinker.lib.base_url import resolve_base_url
        u = urlparse(resolve_base_url(self.base_url))
        port = u.port or (443 if u.scheme == "https" else 80)
        try:
            with socket.create_connection((u.hostname, port), timeout=3):
                return True
        except OSError:
            return False

    def _submit(self, submit: Callable, deadline: float, what: str):
        """Submit; the first submission opens the SDK's session, which blocks and retries for minutes
        on a dead endpoint, so it runs in a daemon thread that is abandoned when the endpoint is down."""
        if self._contacted:
            return submit()
        box: dict = {}

        def run():
            try:
                box["value"] = submit()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = e
        th = threading.Thread(target=run, daemon=True, name="tinker-connect")
        th.start()
        th.join(min(self.connect_timeout_s, max(deadline - time.monotonic(), 0.0)))
        if th.is_alive() and self._reachable():
            th.join(max(deadline - time.monotonic(), 0.0))
        if th.is_alive():
            raise UserError(f"cannot {what}: {self._where()} did not answer within "
                            f"{self.connect_timeout_s:.0f} s (check --base-url / TINKER_BASE_URL)")
        if "error" in box:
            raise box["error"]
        self._contacted = True
        return box["value"]

    def _wait(self, fut, deadline: float, what: str):
        """``fut.result()`` until ``deadline``; the first contact gives up early on a dead endpoint."""
        if not (hasattr(fut, "result") and callable(fut.result)):
            return fut
        while True:
            limit = deadline - time.monotonic()
            if not self._contacted:
                limit = min(limit, self.connect_timeout_s)
            try:
                out = fut.result(timeout=max(limit, 0.0))
                self._contacted = True
                return out
            except (TimeoutError, concurrent.futures.TimeoutError):
                if not self._contacted and time.monotonic() < deadline and self._reachable():
                    self._contacted = True  # up but slow: keep waiting until the overall deadline
                    continue
                if not self._contacted:
                    raise UserError(f"cannot {what}: {self._where()} did not answer within "
                                    f"{self.connect_timeout_s:.0f} s (check --base-url / TINKER_BASE_URL)") from None
                raise UserError(f"cannot {what}: no answer from {self._where()} within "
                                f"{self.retry_deadline_s:.0f} s") from None

    def _call(self, what: str, submit: Callable, idempotent: bool = True):
        """Submit and wait; resubmit an idempotent call after a transient failure until the deadline."""
        import tinker
        transient = (tinker.APIConnectionError, tinker.RateLimitError, tinker.InternalServerError)
        deadline = time.monotonic() + self.retry_deadline_s
        delay = 1.0
        while True:
            try:
                return self._wait(self._submit(submit, deadline, what), deadline, what)
            except tinker.AuthenticationError:
                raise UserError(f"{self._where()} rejected the API key (TINKER_API_KEY)") from None
            except transient as e:
                if not idempotent or time.monotonic() + delay >= deadline:
                    raise UserError(f"cannot {what}: {self._where()} is unreachable or failing "
                                    f"({type(e).__name__}: {_short(e)})") from None
                self._sleep(delay)
                delay = min(delay * 2, 30.0)
            except (tinker.TinkerError, ValueError) as e:
                # the server refused or failed the request (the SDK raises these from future.result())
                raise UserError(f"cannot {what}: {self._where()} answered: {_short(e)}") from None

    def _tokenizer(self, client):
        """The base model's tokenizer: from a local model folder when the model is one (no hub)."""
        if Path(self.base_model).is_dir():
            from transformers import AutoTokenizer
            return AutoTokenizer.from_pretrained(self.base_model, local_files_only=True)
        try:
            return client.get_tokenizer()
        except OSError as e:
            raise UserError(f"cannot load the tokenizer of {self.base_model}: {_short(e)}") from None

    def _create_from_state(self, path: str, optimizer: bool) -> None:
        if checkpoint_kind(path) != "state":
            raise UserError(f"{path} holds sampler weights only; training needs a state (tinker://RUN/weights/NAME)")
        create = (self.service.create_training_client_from_state_with_optimizer if optimizer
                  else self.service.create_training_client_from_state)
        # the old trainee is dropped, not kept beside the new one: SDK 0.38 has no call that unloads a
        # model; the server frees it with the session (SkyRL: when the process stops its heartbeats)
        self.training = None
        self.training = self._call("load state", lambda: create(path))

    def to_sdk(self, d: Datum):
        """Our datum -> ``tinker.types.Datum`` (lists become int64/float32 TensorData)."""
        return self.types.Datum(model_input=self.types.ModelInput.from_ints(list(d.model_input)),
                                loss_fn_inputs={k: list(v) for k, v in d.loss_fn_inputs.items()})

    # ---- protocol ------------------------------------------------------------------------
    def refresh_sampler(self) -> None:
        """Publish the current weights as a sampling snapshot (a fresh sampler each optim step)."""
        self.sampler = self._call("publish sampler weights",
                                  lambda: self.training.save_weights_and_get_sampling_client())

    def sample(self, prompts, num_samples, max_tokens, temperature=1.0, stop=None, seed=None):
        params = self.types.SamplingParams(max_tokens=max_tokens, temperature=temperature,
                                           stop=list(stop) if stop else None,
                                           seed=None if seed is None else int(seed) % SEED_LIMIT)

        def submit(p):
            return self.sampler.sample(prompt=self.types.ModelInput.from_ints(list(p)), num_samples=num_samples,
                                       sampling_params=params)
        # submit every prompt first, then wait: requests run concurrently on the server
        futs = [submit(p) for p in prompts]
        out = []
        for p, f in zip(prompts, futs):
            first = [f]
            resp = self._call("sample", lambda p=p: first.pop() if first else submit(p))
            out.append([SampledSequence(list(s.tokens), list(s.logprobs or []), str(s.stop_reason))
                        for s in resp.sequences])
        return out

    def forward_backward(self, datums: Sequence[Datum], loss: str, loss_config=None) -> FwdBwdResult:
        return self.forward_backward_optim(datums, loss, None, loss_config)[0]

    def optim_step(self, params: AdamParams) -> dict:
        return self._metrics(self._call("run an optimizer step", lambda: self.training.optim_step(self._adam(params)),
                                        idempotent=False))

    def forward_backward_optim(self, datums, loss, params: AdamParams | None, loss_config=None):
        """Submit forward_backward and optim_step together, then wait on both; never resubmitted."""
        if loss not in LOSSES:
            raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        data = [self.to_sdk(d) for d in datums]
        subs = {}

        def fb_submit():
            subs["fb"] = (self.training.forward_backward(data, loss, loss_config) if loss_config
                          else self.training.forward_backward(data, loss))
            if params is not None:
                subs["op"] = self.training.optim_step(self._adam(params))
            return subs["fb"]
        what = "run a training step (its outcome is unknown: resume the run from its last checkpoint)"
        fb = self._call(what, fb_submit, idempotent=False)
        op = self._call(what, lambda: subs["op"], idempotent=False) if params is not None else None
        m = self._metrics(fb)
        res = FwdBwdResult(loss=self._loss(fb, m), n_tokens=sum(d.n_trained for d in datums), metrics=m)
        return res, (self._metrics(op) if op is not None else {})

    @staticmethod
    def _loss(fb, metrics: dict) -> float:
        """``loss:sum`` when the server reports it, else the sum of the per-token (weighted) losses."""
        if "loss:sum" in metrics:
            return metrics["loss:sum"]
        outs = getattr(fb, "loss_fn_outputs", None) or []
        total, seen = 0.0, False
        for o in outs:
            el = o.get("elementwise_loss") if isinstance(o, dict) else None
            if el is not None:
                total += float(sum(el.to_numpy().tolist() if hasattr(el, "to_numpy") else el))
                seen = True
        return total if seen else float("nan")

    def logprobs(self, datums: Sequence[Datum]) -> list[list[float]]:
        """The learner's logprob of every target token (a ``forward`` without gradients)."""
        data = [self.to_sdk(d) for d in datums]
        out = self._call("compute logprobs", lambda: self.training.forward(data, "cross_entropy"))
        return [list(map(float, o["logprobs"].to_numpy().tolist())) for o in out.loss_fn_outputs]

    def _adam(self, p: AdamParams):
        return self.types.AdamParams(learning_rate=p.learning_rate, beta1=p.beta1, beta2=p.beta2, eps=p.eps,
                                     weight_decay=p.weight_decay, grad_clip_norm=p.grad_clip_norm)

    @staticmethod
    def _metrics(x) -> dict:
        m = getattr(x, "metrics", None) or {}
        return {k: float(v) for k, v in dict(m).items() if isinstance(v, (int, float))}

    def save_state(self, name: str, rolling: bool = False) -> str:
        """Weights + optimizer under ``name`` (replacing a state of that name); ``rolling`` states expire."""
        ttl = CHECKPOINT_TTL_S if rolling else None
        return self._call("save state", lambda: self.training.save_state(
            Path(name).name, ttl_seconds=ttl, overwrite=True)).path

    def delete_checkpoint(self, path: str) -> None:
        """Delete a superseded checkpoint (best effort: a rolling one expires by its TTL anyway)."""
        try:
            self._call("delete a checkpoint",
                       lambda: self.service.create_rest_client().delete_checkpoint_from_tinker_path(path))
        except UserError:
            pass

    def load_state(self, path: str, optimizer: bool = True) -> None:
        self._create_from_state(path, optimizer)
        self.refresh_sampler()

    def save_sampler_weights(self, name: str) -> str:
        return self._call("save sampler weights",
                          lambda: self.training.save_weights_for_sampler(Path(name).name)).path
