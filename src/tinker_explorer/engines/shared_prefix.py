"""Training on shared prompts with the exact gradient, and the token-sum loss terms.

A GRPO group's first turn is one prompt (~570 tokens on 2Wiki) followed by 8-16 short sampled
continuations; run as separate sequences, the prompt's forward and backward are repeated for every
sample and dominate the step. Here the prompt runs once: its per-layer keys/values become leaf
tensors, the continuations attend to them as one batch (transformers' cache, the prefix broadcast
to the batch), each chunk's backward accumulates the gradient of those leaves, and one backward
through the prompt finishes the chain rule. The loss and every LoRA gradient equal the
one-sequence-at-a-time values up to floating-point order (a test holds them to a tolerance).

``frozen`` (the engine's ``frozen_prompt`` option) runs the prompt without gradient instead: the
same loss values, an approximate gradient (no paths through the prompt's keys/values).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Sequence

from tinker_explorer.engines.base import Datum, FwdBwdResult


def first_trained(d: Datum) -> int:
    """The first position with a non-zero weight/advantage (``len`` when there is none)."""
    w = d.loss_fn_inputs.get("weights", d.loss_fn_inputs.get("advantages"))
    return next((i for i, x in enumerate(w) if x != 0), len(w))


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def group_by_prefix(datums: Sequence[Datum], min_group: int = 2, min_shared: int = 16):
    """([(shared length, datums sharing model_input[:length]), ...], the other datums).

    The shared part ends at or before every member's first trained position. Datums are sorted by
    their untrained prefix and grouped greedily while the common prefix stays >= ``min_shared``
    tokens and >= half of the group's so far: a GRPO group's first turn shares its whole prompt,
    later turns share the question and previews, and another task's datums (sharing only the
    system prompt) start a group of their own.
    """
    keyed, rest = [], []
    for d in datums:
        p0 = first_trained(d)
        if 0 < p0 < len(d.model_input):
            keyed.append((d.model_input[:p0], d))
        else:
            rest.append(d)
    keyed.sort(key=lambda kd: kd[0])
    groups: list[tuple[int, list[Datum]]] = []
    head: Sequence[int] = ()
    for key, d in keyed:
        if groups:
            shared = _lcp(head[:groups[-1][0]], key)
            if shared >= max(min_shared, groups[-1][0] // 2):
                groups[-1] = (shared, groups[-1][1] + [d])
                continue
        groups.append((len(key), [d]))
        head = key
    shared_groups = []
    for n, g in groups:
        (shared_groups.append((n, g)) if len(g) >= min_group else rest.extend(g))
    return shared_groups, rest


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


def prefix_group_backward(engine, group: Sequence[Datum], p0: int, terms: LossTerms, frozen: bool = False) -> None:
    """Loss and gradient of ``group`` (datums sharing ``model_input[:p0]``, none trained before p0)
    with that prefix run once."""
    from transformers import DynamicCache
    torch, dev = engine.torch, engine.device
    lm = engine.model.base_model.model
    body, head = getattr(lm, lm.base_model_prefix), lm.get_output_embeddings()
    with torch.no_grad() if frozen else nullcontext():
        out = body(input_ids=torch.tensor([group[0].model_input[:p0]], device=dev), use_cache=True)
    kv = [t for layer in getattr(out, engine._cache_kw).layers for t in (layer.keys, layer.values)]
    leaves = [t.detach().requires_grad_(not frozen) for t in kv]
    width = max(len(d.model_input) - p0 for d in group)
    per_chunk = max(1, min(16, engine.train_tokens_per_batch // max(width, 1)))
    for i in range(0, len(group), per_chunk):
        chunk = group[i:i + per_chunk]
        n = len(chunk)
        past = DynamicCache(ddp_cache_data=[(leaves[j].expand(n, -1, -1, -1), leaves[j + 1].expand(n, -1, -1, -1))
                                            for j in range(0, len(leaves), 2)])
        w = max(len(d.model_input) - p0 for d in chunk)
        ids = torch.tensor([d.model_input[p0:] + [0] * (w - len(d.model_input) + p0) for d in chunk], device=dev)
        valid = torch.tensor([[1] * (len(d.model_input) - p0) + [0] * (w - len(d.model_input) + p0) for d in chunk],
                             device=dev)
        mask = torch.cat([valid.new_ones(n, p0), valid], 1)
        pos = (torch.arange(w, device=dev) + p0)[None].expand(n, -1)
        hidden = body(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                      **{engine._cache_kw: past}).last_hidden_state
        sel = torch.zeros(n, w, dtype=torch.bool, device=dev)
        tgt = torch.zeros(n, w, dtype=torch.long, device=dev)
        for r, d in enumerate(chunk):
            m = len(d.model_input) - p0
            sel[r, :m] = torch.tensor([x != 0 for x in
                                       d.loss_fn_inputs.get("weights", d.loss_fn_inputs.get("advantages"))[p0:]])
            tgt[r, :m] = torch.tensor(d.loss_fn_inputs["target_tokens"][p0:])
        logits = head(hidden[sel]).float()
        lp_sel = logits.gather(-1, tgt[sel][:, None])[:, 0] - torch.logsumexp(logits, -1)
        lp = torch.zeros(n, w, dtype=lp_sel.dtype, device=dev).index_put(sel.nonzero(as_tuple=True), lp_sel)
        zeros = torch.zeros(p0, dtype=lp.dtype, device=dev)
        terms.backward(sum(terms.datum(d, torch.cat([zeros, lp[r, :len(d.model_input) - p0]]))
                           for r, d in enumerate(chunk)))
    if not frozen:
        pairs = [(t, leaf.grad) for t, leaf in zip(kv, leaves) if leaf.grad is not None]
        if pairs:
            torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
