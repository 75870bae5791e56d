"""A fake of the ``tinker`` SDK's client objects (0.38) for the tinker engine's unit tests.

It refuses what the real SDK and a real Tinker-API server refuse: keys without ``tml-``, empty
``forward_backward`` data, optimizer parameters that are not ``tinker.types.AdamParams``, a
``save_state`` name that exists without ``overwrite``, and sampling seeds of 2**31 or more.
Its checkpoint paths have a server's shape (``tinker://MODEL/weights/NAME`` for states and
``tinker://MODEL/NAME`` for sampler weights). Futures can fail or hang, as real ones do.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math

import tinker

VOCAB = 50
_ids = itertools.count()


class FakeFuture:
    def __init__(self, log, name, value, hang: bool = False):
        self.log, self.name, self.value, self.hang = log, name, value, hang

    def result(self, timeout=None):
        self.log.append(("wait", self.name))
        if self.hang:
            raise concurrent.futures.TimeoutError()
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


class Result:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def failed(message: str) -> tinker.RequestFailedError:
    """A request that completed in a failed state, as ``future.result()`` raises it."""
    return tinker.RequestFailedError(message, "req-1", tinker.types.RequestErrorCategory.User)


def _tensor(xs):
    return tinker.types.TensorData(data=[float(x) for x in xs], dtype="float32", shape=[len(xs)])


class FakeTraining:
    """A LoRA trainee whose "model" gives every token the logprob -log(VOCAB)."""

    def __init__(self, service, model_id):
        self.service, self.log, self.model_id = service, service.log, model_id
        self.datums = None
        self.saved: set[str] = set()
        self.steps = 0

    def get_tokenizer(self):
        return self.service.tokenizer

    def _fb(self, data, loss_fn, name):
        self.log.append(("call", name, loss_fn))
        if not data:
            raise ValueError("No data provided")
        self.datums = data
        lp = -math.log(VOCAB)
        outs = []
        for d in data:
            n = d.model_input.length
            w = d.loss_fn_inputs["weights"].to_numpy().tolist() if "weights" in d.loss_fn_inputs else \
                d.loss_fn_inputs["advantages"].to_numpy().tolist()
            el = [-wi * lp for wi in w] if loss_fn == "cross_entropy" else [-wi for wi in w]  # ratio 1
            outs.append({"elementwise_loss": _tensor(el), "logprobs": _tensor([lp] * n)})
        metrics = {"loss:sum": sum(sum(o["elementwise_loss"].data) for o in outs)} if self.service.loss_sum else {}
        return FakeFuture(self.log, name, Result(metrics=metrics, loss_fn_outputs=outs),
                          hang=self.service.hang_step)

    def forward_backward(self, data, loss_fn, loss_fn_config=None):
        return self._fb(data, loss_fn, "forward_backward")

    def forward(self, data, loss_fn, loss_fn_config=None):
        return self._fb(data, loss_fn, "forward")

    def optim_step(self, params):
        if not isinstance(params, tinker.types.AdamParams):
            raise TypeError("optim_step needs tinker.types.AdamParams")
        self.log.append(("call", "optim_step", params.learning_rate, params.beta2))
        self.steps += 1
        return FakeFuture(self.log, "optim_step", Result(metrics={"grad_norm": 1.0}))

    def save_state(self, name, ttl_seconds=None, overwrite=False, user_metadata=None):
        self.log.append(("call", "save_state", name, ttl_seconds, overwrite))
        if name in self.saved and not overwrite:
            return FakeFuture(self.log, "save_state", failed(f"checkpoint {name} exists"))
        self.saved.add(name)
        path = f"tinker://{self.model_id}/weights/{name}"
        self.service.states[path] = self.steps
        return FakeFuture(self.log, "save_state", Result(path=path))

    def save_weights_for_sampler(self, name, ttl_seconds=None):
        self.log.append(("call", "save_weights_for_sampler", name))
        return FakeFuture(self.log, "sfs", Result(path=f"tinker://{self.model_id}/{name}"))

    def save_weights_and_get_sampling_client(self, name=None, retry_config=None):
        self.log.append(("call", "save_weights_and_get_sampling_client"))
        return FakeFuture(self.log, "sampler", self.service.sampler_cls(self.service))


class FakeSampler:
    def __init__(self, service):
        self.service, self.log = service, service.log

    def get_tokenizer(self):
        return self.service.tokenizer

    def sequences(self, prompt, num_samples, params):
        s = Result(tokens=[7, 8], logprobs=[-0.1, -0.2], stop_reason="stop")
        return [s] * num_samples

    def sample(self, prompt, num_samples, sampling_params):
        self.log.append(("call", "sample", prompt.to_ints(), num_samples, sampling_params.max_tokens))
        seed = sampling_params.seed
        if seed is not None and not (0 <= seed < 2 ** 31):
            return FakeFuture(self.log, "sample", ValueError(f"Error retrieving result: seed {seed} out of "
                                                            "bounds for int32"))
        if self.service.sample_failures:
            self.service.sample_failures -= 1
            req = __import__("httpx").Request("POST", "http://fake")
            return FakeFuture(self.log, "sample", tinker.APIConnectionError(request=req))
        return FakeFuture(self.log, "sample", Result(sequences=self.sequences(prompt, num_samples, sampling_params)))


class FakeRest:
    def __init__(self, service):
        self.service = service

    def delete_checkpoint_from_tinker_path(self, path):
        self.service.log.append(("call", "delete", path))
        self.service.states.pop(path, None)
        return FakeFuture(self.service.log, "delete", None)


class FakeService:
    """``tinker.ServiceClient`` stand-in; class attributes set the behaviour of the next instances."""

    instances: list = []
    tokenizer = "TOK"
    loss_sum = False  # a SkyRL-like server reports no loss:sum metric
    hang_step = False
    sample_failures = 0
    sampler_cls = FakeSampler

    def __init__(self, api_key=None, base_url=None):
        if api_key is not None and not api_key.startswith("tml-"):
            raise tinker.TinkerError("The api_key must start with the 'tml-' prefix")
        self.log = []
        self.kwargs = {"api_key": api_key, "base_url": base_url}
        self.states: dict[str, int] = {}
        self.trainees: list[FakeTraining] = []
        FakeService.instances.append(self)

    def _new(self):
        t = FakeTraining(self, f"model_{next(_ids)}")
        self.trainees.append(t)
        return t

    def create_lora_training_client(self, base_model, rank=32, seed=None, **kw):
        self.log.append(("call", "create_lora_training_client", base_model, rank, seed))
        return FakeFuture(self.log, "training", self._new())

    def _from_state(self, path, name):
        self.log.append(("call", name, path))
        if path not in self.states and not any(path in s.states for s in FakeService.instances):
            return FakeFuture(self.log, "training", failed(f"checkpoint not found: {path}"))
        t = self._new()
        t.steps = self.states.get(path, 0)
        return FakeFuture(self.log, "training", t)

    def create_training_client_from_state_with_optimizer(self, path, **kw):
        return self._from_state(path, "create_training_client_from_state_with_optimizer")

    def create_training_client_from_state(self, path, **kw):
        return self._from_state(path, "create_training_client_from_state")

    def create_sampling_client(self, model_path=None, base_model=None, **kw):
        self.log.append(("call", "create_sampling_client", model_path))
        return FakeFuture(self.log, "sampler", self.sampler_cls(self))

    def create_rest_client(self):
        return FakeRest(self)
