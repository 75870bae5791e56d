"""Training on shared prompts with the exact gradient, and the token-sum loss terms.

A GRPO group's first turn is one prompt (~570 tokens on 2Wiki) followed by 8-16 short sampled
continuations, and its later turns repeat that prompt up to where their states differ; run as
separate sequences, the prompt's forward and backward are repeated for every datum and dominate the
step. Here the untrained starts of the datums form a prefix tree: each shared segment runs once, its
per-layer keys/values become leaf tensors, the segments and continuations below it attend to them
(the continuations in padded batches of similar length, the prefix broadcast), each backward
accumulates the gradient of those leaves, and one backward through the segment finishes the chain
rule. The loss and every LoRA gradient equal the one-sequence-at-a-time values up to floating-point
order (a test holds them to a tolerance).

``frozen`` (the engine's ``frozen_prompt`` option) runs the shared segments without gradient
instead: the same loss values, an approximate gradient (no paths through the prompt's keys/values).
"""

from __future__ import annotations

from typing import Sequence

from tinker_explorer.engines.base import Datum, FwdBwdResult

MIN_SHARED = 16  # tokens: a shorter common start is not worth a forward of its own


def first_trained(d: Datum) -> int:
    """The first position with a non-zero weight/advantage (``len`` when there is none)."""
    t = d.trained
    return next((i for i, x in enumerate(t) if x), len(t))


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def prefix_groups(keys: Sequence[Sequence[int]], min_shared: int = MIN_SHARED) -> list[tuple[int, list[int]]]:
    """[(shared length, indices into ``keys``), ...]: the keys sorted, cut into maximal runs whose
    common start is >= ``min_shared`` tokens; a key sharing less with its neighbours is a run of
    its own (its shared length: its own length). The learner splits datums by this at every level
    of its prefix tree; the sampler uses it to prefill a common start once."""
    runs: list[tuple[int, list[int]]] = []
    for i in sorted(range(len(keys)), key=lambda i: list(keys[i])):
        if runs:
            n, idx = runs[-1]
            shared = _lcp(keys[idx[-1]][:n], keys[i])
            if shared >= min_shared:
                runs[-1] = (shared, idx + [i])
                continue
        runs.append((len(keys[i]), [i]))
    return runs


class LossTerms:
    """Per-datum token-sum loss (base.py's definitions) and the statistics a step reports."""

    def __init__(self, torch, device, loss: str, lo: float, hi: float):
        self.torch, self.device, self.loss, self.lo, self.hi = torch, device, loss, lo, hi
        self.total, self.n_tok, self.ratios, self.clipped = 0.0, 0, [], 0

    def datum(self, d: Datum, lp):
        """The datum's summed loss from its learner logprobs ``lp`` (one per position)."""
        torch = self.torch
        f = {k: torch.tensor(v, dtype=torch.float32, device=self.device)
             for k, v in d.loss_fn_inputs.items() if k != "target_tokens"}
        if self.loss == "cross_entropy":
            self.n_tok += int((f["weights"] != 0).sum())
            return (-f["weights"] * lp).sum()
        adv, on = f["advantages"], f["advantages"] != 0
        ratio = torch.exp(lp - f["logprobs"])
        if self.loss == "importance_sampling":
            per = -ratio * adv
        else:
            per = -torch.minimum(ratio * adv, ratio.clamp(self.lo, self.hi) * adv)
            self.clipped += int(((ratio < self.lo) | (ratio > self.hi))[on].sum())
        self.n_tok += int(on.sum())
        self.ratios.append(ratio.detach()[on])
        return per.sum()

    def backward(self, loss) -> None:
        torch = self.torch
        if torch.is_tensor(loss):
            if loss.requires_grad:
                loss.backward()
            self.total += float(loss.detach())

    def result(self) -> FwdBwdResult:
        metrics = {}
        if self.ratios:
            r = self.torch.cat(self.ratios)
            if r.numel():
                metrics = {"ratio_mean": float(r.mean()), "ratio_min": float(r.min()),
                           "ratio_max": float(r.max()), "clip_frac": self.clipped / r.numel()}
        return FwdBwdResult(loss=self.total, n_tokens=self.n_tok, metrics=metrics)


def tree_backward(engine, datums: Sequence[Datum], terms: LossTerms, frozen: bool = False) -> list[Datum]:
    """Loss and gradient of every datum that shares an untrained start with another, through the
    prefix tree (module docstring); returns the datums that share nothing, for plain batches.
    Datums with nothing trained (all weights/advantages zero) add no loss and no gradient: skipped."""
    live = [d for d in datums if first_trained(d) < len(d.model_input)]
    return _node(engine, live, 0, None, terms, frozen)


def _node(engine, items: Sequence[Datum], start: int, kv, terms: LossTerms, frozen: bool) -> list[Datum]:
    """Run the subtrees of ``items`` (all sharing ``model_input[:start]``, whose keys/values are the
    leaves ``kv``; None at the root); returns the items that share nothing further."""
    torch = engine.torch
    alone: list[Datum] = []
    for n, idx in prefix_groups([d.model_input[start:first_trained(d)] for d in items]):
        members = [items[i] for i in idx]
        if n < MIN_SHARED or (len(members) < 2 and not (frozen and kv is None)):
            alone += members
            continue
        end = start + n
        seg = _segment_kv(engine, members[0].model_input[start:end], start, kv, frozen)
        child = [t.detach().requires_grad_(not frozen) for t in seg]
        _continuations(engine, _node(engine, members, end, child, terms, frozen), end, child, terms)
        pairs = [(t, c.grad) for t, c in zip(seg, child) if c.grad is not None]
        if pairs and not frozen:
            torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
    return alone


def _cache(kv, n: int):
    """transformers' cache over the leaves ``kv`` ([k0, v0, k1, v1, ...], batch 1) broadcast to ``n`` rows."""
    from transformers import DynamicCache
    return DynamicCache(ddp_cache_data=[(kv[j].expand(n, -1, -1, -1), kv[j + 1].expand(n, -1, -1, -1))
                                        for j in range(0, len(kv), 2)])


def _body(engine):
    lm = engine.model.base_model.model
    return getattr(lm, lm.base_model_prefix), lm.get_output_embeddings()


def _segment_kv(engine, tokens: Sequence[int], start: int, kv, frozen: bool) -> list:
    """Keys/values of ``prefix + tokens`` (one sequence), ``tokens`` run on the prefix's leaves ``kv``."""
    from contextlib import nullcontext
    torch, dev = engine.torch, engine.device
    body, _ = _body(engine)
    past = {engine._cache_kw: _cache(kv, 1)} if kv is not None else {}
    with torch.no_grad() if frozen else nullcontext():
        out = body(input_ids=torch.tensor([list(tokens)], device=dev), use_cache=True,
                   position_ids=torch.arange(start, start + len(tokens), device=dev)[None], **past)
    return [t for layer in getattr(out, engine._cache_kw).layers for t in (layer.keys, layer.values)]


def _chunks(datums: Sequence[Datum], p0: int, tokens: int, most: int = 16):
    """Batches of similar length (sorted), each at most ``tokens`` padded tokens past ``p0``."""
    chunk: list[Datum] = []
    for d in sorted(datums, key=lambda d: len(d.model_input)):
        if chunk and (len(chunk) == most or (len(chunk) + 1) * (len(d.model_input) - p0) > tokens):
            yield chunk
            chunk = []
        chunk.append(d)
    if chunk:
        yield chunk


def _continuations(engine, datums: Sequence[Datum], p0: int, kv, terms: LossTerms) -> None:
    """Loss and gradient of ``datums`` from position ``p0`` on, in padded batches on the prefix's
    leaves ``kv`` (their gradient accumulates in the leaves)."""
    torch, dev = engine.torch, engine.device
    body, head = _body(engine)
    for chunk in _chunks(datums, p0, engine.train_tokens_per_batch):
        n = len(chunk)
        w = max(len(d.model_input) - p0 for d in chunk)
        ids = torch.tensor([d.model_input[p0:] + [0] * (w - len(d.model_input) + p0) for d in chunk], device=dev)
        valid = torch.tensor([[1] * (len(d.model_input) - p0) + [0] * (w - len(d.model_input) + p0) for d in chunk],
                             device=dev)
        mask = torch.cat([valid.new_ones(n, p0), valid], 1)
        pos = (torch.arange(w, device=dev) + p0)[None].expand(n, -1)
        hidden = body(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                      **{engine._cache_kw: _cache(kv, n)}).last_hidden_state
        sel = torch.zeros(n, w, dtype=torch.bool, device=dev)
        tgt = torch.zeros(n, w, dtype=torch.long, device=dev)
        for r, d in enumerate(chunk):
            m = len(d.model_input) - p0
            sel[r, :m] = torch.tensor(d.trained[p0:])
            tgt[r, :m] = torch.tensor(d.loss_fn_inputs["target_tokens"][p0:])
        logits = head(hidden[sel]).float()
        lp_sel = logits.gather(-1, tgt[sel][:, None])[:, 0] - torch.logsumexp(logits, -1)
        lp = torch.zeros(n, w, dtype=lp_sel.dtype, device=dev).index_put(sel.nonzero(as_tuple=True), lp_sel)
        zeros = torch.zeros(p0, dtype=lp.dtype, device=dev)
        terms.backward(sum(terms.datum(d, torch.cat([zeros, lp[r, :len(d.model_input) - p0]]))
                           for r, d in enumerate(chunk)))
