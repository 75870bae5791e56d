"""Sampling forward for Llama-family decoders (Llama, SmolLM2, Mistral, Qwen2/3) on the model's own
modules (LoRA layers included), written for CPU rollouts.

Why not ``model(...)`` with a ``DynamicCache``: that grows the cache by ``torch.cat`` every token,
copies a group's prompt cache to each of its samples, and left-pads distinct prompts. Here:

- **prefill** packs the distinct prompts into one token stream (the projections and MLP run as one
  matrix product, no padding); a start several prompts share is in it once (a task's later turns
  agree up to where their states differ); attention runs per segment (causal, a prompt's rest
  also over its shared start), and each prompt's keys/values are written into a prefix store
  ``[prompts, kv_heads, longest, head_dim]``;
- **decode** writes each new key/value in place into a preallocated ``[rows, kv_heads, max_tokens,
  head_dim]`` buffer; a row attends to its prompt's prefix *shared* with the other samples of that
  prompt (one batched product per prompt, never a per-sample copy) and to its own tokens, the two
  parts joined in one softmax;
- finished rows are dropped from the batch (their buffers compacted) once a quarter of them are done;
  no forward runs after the last token.

LoRA adapters are merged into a copy of each targeted weight (memory: those weights once more),
rebuilt whenever an adapter changes.
The numbers equal the transformers forward up to floating-point order (tests compare the sampled
logprobs with the learner's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tinker_explorer.engines.shared_prefix import MIN_SHARED, prefix_groups


def supports(lm) -> bool:
    """True when ``lm`` (a transformers causal LM) has the decoder layout this module runs."""
    body = getattr(lm, "model", None)
    cfg = getattr(lm, "config", None)
    if body is None or cfg is None or not hasattr(body, "rotary_emb") or not hasattr(body, "layers"):
        return False
    if getattr(cfg, "model_type", "") == "mistral" and getattr(cfg, "sliding_window", None):
        return False
    if getattr(cfg, "use_sliding_window", False) or getattr(cfg, "layer_types", None) and any(
            t != "full_attention" for t in cfg.layer_types):
        return False
    if getattr(cfg, "hidden_act", "silu") != "silu" or getattr(cfg, "model_type", "") not in (
            "llama", "mistral", "qwen2", "qwen3"):
        return False
    layer = body.layers[0]
    return all(hasattr(layer.self_attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")) and \
        all(hasattr(layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj"))


def _rope(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), -1) * sin


@dataclass
class _Groups:
    """Row -> prompt layout of the live rows; ``grid`` is None when rows are prompt-major and every
    prompt has the same number of rows (then the grid is a reshape)."""

    group: torch.Tensor  # [rows] prompt index of each row
    slot: torch.Tensor  # [rows] position of the row among its prompt's rows
    per: int  # rows per prompt in the grid
    reshape: bool

    @classmethod
    def of(cls, group: torch.Tensor, n_prompts: int) -> "_Groups":
        counts = torch.bincount(group, minlength=n_prompts)
        per = int(counts.max())
        order = torch.argsort(group, stable=True)
        start = torch.cumsum(counts, 0) - counts
        slot = torch.empty_like(group)
        slot[order] = torch.arange(len(group), device=group.device) - start[group[order]]
        reshape = bool((counts == per).all()) and bool((order == torch.arange(len(group), device=group.device)).all())
        return cls(group, slot, per, reshape)


@dataclass
class _Segment:
    """Tokens at positions ``start..`` of the prompts ``rows``; ``last``: the prompt it ends (None
    for a shared start)."""

    tokens: list[int]
    start: int
    rows: list[int]
    last: int | None


def _segments(prompts: list[list[int]]) -> list[_Segment]:
    """Each prompt whole, or a shared start (once) then each member's rest; starts come first."""
    starts, rests = [], []
    for n, idx in prefix_groups(prompts):
        n = min([n] + [len(prompts[i]) - 1 for i in idx])  # every member keeps a token of its own
        if len(idx) < 2 or n < MIN_SHARED:
            starts += [_Segment(list(prompts[i]), 0, [i], i) for i in idx]
            continue
        starts.append(_Segment(list(prompts[idx[0]][:n]), 0, idx, None))
        rests += [_Segment(list(prompts[i][n:]), n, [i], i) for i in idx]
    return starts + rests


def _merged_weight(mod):
    """(weight, bias) of a Linear, or of a peft LoRA Linear with its active adapters added (summed
    in float32, rounded once to the base dtype): one product per projection when sampling, where
    the adapter's two small products and casts took a quarter to two fifths of a decode step on
    a 2-core CPU."""
    base = getattr(mod, "base_layer", mod)
    w = base.weight
    if hasattr(mod, "get_delta_weight") and not mod.disable_adapters and not mod.merged:
        acc = w.float()
        for name in mod.active_adapters:
            if name in mod.lora_A:
                acc = acc + mod.get_delta_weight(name).float()
        w = acc.to(w.dtype)
    return w, base.bias


class FastDecoder:
    """Prefill and decode on a Llama-family model's modules (see the module docstring)."""

    def __init__(self, lm, prefill_tokens: int = 4096):
        self.lm = lm
        body = lm.model
        self.embed, self.layers, self.norm, self.rotary = body.embed_tokens, body.layers, body.norm, body.rotary_emb
        self.head = lm.get_output_embeddings()
        a = self.layers[0].self_attn
        cfg = lm.config
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.rep = self.n_heads // self.n_kv
        self.head_dim = a.head_dim
        self.scaling = a.scaling
        self.prefill_tokens = prefill_tokens
        self._linears = [self.head] + [m for layer in self.layers for m in (
            layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.o_proj,
            layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj)]
        self._adapters = [p for p in lm.parameters() if p.requires_grad]
        self._merged: dict[int, tuple] = {}
        self._merged_key = None

    # ---- weights: LoRA merged once per change ---------------------------------------------------
    def _refresh(self) -> None:
        """(Re)build the merged weights when an adapter changed (an optimizer step or a load bumps
        its tensors' versions) or was switched off; base weights of untargeted modules are used as is."""
        key = tuple((p._version, p.data_ptr()) for p in self._adapters) + tuple(
            (getattr(m, "disable_adapters", False), getattr(m, "merged", False), tuple(getattr(m, "active_adapters", ())))
            for m in self._linears)
        if key != self._merged_key:
            self._merged = {id(m): _merged_weight(m) for m in self._linears}
            self._merged_key = key

    def _lin(self, mod, x):
        w, b = self._merged[id(mod)]
        return F.linear(x, w, b)

    # ---- one attention block (projections, rope, the caller's attention, output) ----------------
    def _qkv(self, layer, h, cos, sin):
        a = layer.self_attn
        shape = (*h.shape[:-1], -1, self.head_dim)
        q, k, v = self._lin(a.q_proj, h).view(shape), self._lin(a.k_proj, h).view(shape), self._lin(a.v_proj, h).view(shape)
        if hasattr(a, "q_norm"):  # Qwen3
            q, k = a.q_norm(q), a.k_norm(k)
        return _rope(q, cos, sin), _rope(k, cos, sin), v

    def _mlp(self, layer, x):
        m = layer.mlp
        h = layer.post_attention_layernorm(x)
        return x + self._lin(m.down_proj, F.silu(self._lin(m.gate_proj, h)) * self._lin(m.up_proj, h))

    def _rot(self, pos, like):
        cos, sin = self.rotary(like, pos[None])
        return cos[0, :, None, :], sin[0, :, None, :]  # [tokens, 1, head_dim]

    # ---- prefill ------------------------------------------------------------------------------
    def prefill(self, prompts: list[list[int]]):
        """Prefix store (per layer keys, values ``[P, kv, Lmax, d]``), prompt lengths, last logits [P, V].

        Prompts with a common start (a task's later turns agree up to where their states differ)
        run it once: the start is one segment whose keys/values are written to every member's row,
        and each member's rest is a segment that attends to them."""
        self._refresh()
        dev = self.embed.weight.device
        lens = [len(p) for p in prompts]
        lmax = max(lens)
        dtype = torch.float32  # attention runs in float32: CPU batched bf16 products are slow
        shape = (len(prompts), self.n_kv, lmax, self.head_dim)
        keys = [torch.zeros(shape, dtype=dtype, device=dev) for _ in self.layers]
        vals = [torch.zeros(shape, dtype=dtype, device=dev) for _ in self.layers]
        segs = _segments(prompts)
        last = torch.empty(len(prompts), self.head.weight.shape[0], device=dev)
        i = 0
        while i < len(segs):  # chunks of whole segments, about prefill_tokens each; parents come first
            j, tot = i, 0
            while j < len(segs) and (j == i or tot + len(segs[j].tokens) <= self.prefill_tokens):
                tot += len(segs[j].tokens)
                j += 1
            logits = self._prefill_chunk(segs[i:j], keys, vals)
            for seg, row in zip(segs[i:j], logits):
                if seg.last is not None:
                    last[seg.last] = row
            i = j
        return keys, vals, torch.tensor(lens, device=dev), last

    def _prefill_chunk(self, segs: list["_Segment"], keys, vals):
        dev = self.embed.weight.device
        ids = torch.tensor([t for g in segs for t in g.tokens], device=dev)
        pos = torch.cat([torch.arange(g.start, g.start + len(g.tokens), device=dev) for g in segs])
        bounds = [0]
        for g in segs:
            bounds.append(bounds[-1] + len(g.tokens))
        rows = [torch.tensor(g.rows, device=dev) for g in segs]
        x = self.embed(ids)  # [T, hidden]
        cos, sin = self._rot(pos, x)
        for li, layer in enumerate(self.layers):
            q, k, v = self._qkv(layer, layer.input_layernorm(x), cos, sin)  # [T, heads, d]
            q, k, v = q.float(), k.float(), v.float()  # float32 attention (see prefill)
            outs = []
            for g, r, s, e in zip(segs, rows, bounds[:-1], bounds[1:]):
                end = g.start + e - s
                keys[li][r, :, g.start:end] = k[s:e].transpose(0, 1)
                vals[li][r, :, g.start:end] = v[s:e].transpose(0, 1)
                kk, vv = keys[li][g.rows[0], :, :end], vals[li][g.rows[0], :, :end]
                mask = None if g.start == 0 else \
                    torch.ones(e - s, end, dtype=torch.bool, device=dev).tril(diagonal=g.start)
                o = F.scaled_dot_product_attention(q[s:e].transpose(0, 1)[None], kk[None], vv[None], attn_mask=mask,
                                                   is_causal=mask is None, scale=self.scaling, enable_gqa=True)
                outs.append(o[0].transpose(0, 1).reshape(e - s, -1))
            x = x + self._lin(layer.self_attn.o_proj, torch.cat(outs).to(x.dtype))
            x = self._mlp(layer, x)
        ends = torch.tensor(bounds[1:], device=dev) - 1
        return self._lin(self.head, self.norm(x[ends])).float()

    # ---- decode -------------------------------------------------------------------------------
    def decode_step(self, tokens, rows: _Groups, t: int, state) -> torch.Tensor:
        """Feed one token per live row at step ``t`` (its own-cache slot); returns logits [rows, V]."""
        keys, vals, lens, own_k, own_v, bias = state
        n = tokens.shape[0]
        pos = lens[rows.group] + t
        x = self.embed(tokens)  # [n, hidden]
        cos, sin = self._rot(pos, x)
        for li, layer in enumerate(self.layers):
            q, k, v = self._qkv(layer, layer.input_layernorm(x), cos, sin)  # [n, heads, d]
            own_k[li][:, :, t] = k
            own_v[li][:, :, t] = v
            q = q.float().view(n, self.n_kv, self.rep, self.head_dim)
            o = self._attend(q, keys[li], vals[li], own_k[li][:, :, :t + 1], own_v[li][:, :, :t + 1], bias, rows)
            x = x + self._lin(layer.self_attn.o_proj, o.reshape(n, -1).to(x.dtype))
            x = self._mlp(layer, x)
        return self._lin(self.head, self.norm(x)).float()

    def _attend(self, q, pk, pv, ok, ov, bias, rows: _Groups):
        """softmax over [shared prefix ; own tokens] for q [n, kv, rep, d]; returns [n, kv, rep, d]."""
        n, P = q.shape[0], pk.shape[0]
        if rows.reshape:
            grid = q.view(P, rows.per, self.n_kv, self.rep, self.head_dim)
        else:
            grid = q.new_zeros(P, rows.per, self.n_kv, self.rep, self.head_dim)
            grid[rows.group, rows.slot] = q
        qg = grid.permute(0, 2, 1, 3, 4).reshape(P, self.n_kv, rows.per * self.rep, self.head_dim)
        sp = (qg @ pk.transpose(-1, -2)).float() * self.scaling + bias  # [P, kv, per*rep, Lmax]
        sp = sp.view(P, self.n_kv, rows.per, self.rep, -1).permute(0, 2, 1, 3, 4)  # [P, per, kv, rep, L]
        sp = sp.reshape(P * rows.per, self.n_kv, self.rep, -1) if rows.reshape else sp[rows.group, rows.slot]
        so = (q @ ok.transpose(-1, -2)).float() * self.scaling  # [n, kv, rep, t+1]
        w = torch.softmax(torch.cat([sp, so], -1), -1)
        wp, wo = w[..., :sp.shape[-1]], w[..., sp.shape[-1]:]
        out = wo @ ov  # [n, kv, rep, d]
        if rows.reshape:
            wg = wp.reshape(P, rows.per, self.n_kv, self.rep, -1)
        else:
            wg = wp.new_zeros(P, rows.per, self.n_kv, self.rep, wp.shape[-1])
            wg[rows.group, rows.slot] = wp
        wg = wg.permute(0, 2, 1, 3, 4).reshape(P, self.n_kv, rows.per * self.rep, -1)
        og = (wg @ pv).view(P, self.n_kv, rows.per, self.rep, self.head_dim).permute(0, 2, 1, 3, 4)
        og = og.reshape(n, self.n_kv, self.rep, self.head_dim) if rows.reshape else og[rows.group, rows.slot]
        return out + og

    def generate(self, seqs: list[list[int]], max_tokens: int, choose) -> None:
        """Decode up to ``max_tokens`` per row. ``choose(logits [n, V], live)`` gets the logits of the
        live rows (``live``: their indices in ``seqs``) and returns (next tokens [n] tensor, a list of
        n bools: the row is done). Rows already done may come back (they are dropped lazily)."""
        dev = self.embed.weight.device
        uniq = list(dict.fromkeys(tuple(s) for s in seqs))
        index = {u: i for i, u in enumerate(uniq)}
        group = torch.tensor([index[tuple(s)] for s in seqs], device=dev)
        keys, vals, lens, logits_p = self.prefill([list(u) for u in uniq])
        lmax = int(lens.max())
        bias = torch.zeros(len(uniq), 1, 1, lmax, device=dev)
        bias[:, 0, 0] = torch.where(torch.arange(lmax, device=dev)[None, :] < lens[:, None], 0.0, float("-inf"))
        n, dtype = len(seqs), torch.float32
        own = (n, self.n_kv, max(max_tokens - 1, 1), self.head_dim)
        own_k = [torch.empty(own, dtype=dtype, device=dev) for _ in self.layers]
        own_v = [torch.empty(own, dtype=dtype, device=dev) for _ in self.layers]
        live = torch.arange(n, device=dev)  # index in seqs of each live row
        rows = _Groups.of(group, len(uniq))
        logits = logits_p[group]
        for t in range(max_tokens):
            nxt, done = choose(logits, live)
            if all(done) or t == max_tokens - 1:  # no forward after the last token
                return
            n_done = sum(done)
            if n_done and 4 * n_done >= len(done):  # compact: drop finished rows from every buffer
                keep = torch.tensor([not d for d in done], device=dev)
                live, nxt, group = live[keep], nxt[keep], group[keep]
                own_k = [b[keep] for b in own_k]
                own_v = [b[keep] for b in own_v]
                rows = _Groups.of(group, len(uniq))
            logits = self.decode_step(nxt, rows, t, (keys, vals, lens, own_k, own_v, bias))
