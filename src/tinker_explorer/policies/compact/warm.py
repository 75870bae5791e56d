"""The compact policy's supervised warm start, from the oracle reader's states (``train.oracle``).

a. *answer scorer*: for every task, the states an oracle reader passes through (nothing opened,
   then the gold chunks one by one: question-named chunks first, then bridge chunks) give
   candidate sets; the linear scorer is fit to put its probability on the candidates with the
   best F1 against the gold answer (this is what learns span boundaries and answer forms).
b. *open/stop scorer*: imitates that oracle order; the oracle stops as soon as the answer scorer's
   expected F1 (computed out-of-fold, 2-fold cross-fitting, so it is honest) is within the reading
   cost of the rest of the gold chunks of its expected F1 with all of them.
The oracle states are duck-typed (``task_idx``, ``obs``, ``targets``, ``remaining_gold``,
``remaining_tokens``, ``cand_f1``, ``info``): this module sits below the trainers that walk them.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
import torch

from tinker_explorer.data.schema import Task
from tinker_explorer.policies.compact.checkpoints import WarmParts, answer_weights, set_answer_weights
from tinker_explorer.policies.compact.config import CompactTrainConfig
from tinker_explorer.policies.compact.features import chunk_features
from tinker_explorer.policies.compact.model import (AnswerScorer, CompactPolicy, Reranker, answer_confidence,
                                                     new_policy, pack, pack_dense, stack_rows)

# --------------------------------------------------------------------------- answer scorer
def best_set_nll(z: torch.Tensor, ns: Sequence[int], best: torch.Tensor) -> torch.Tensor:
    """Per state, -log P(best-F1 candidate set) under the softmax of its candidates' scores; ``z``
    and ``best`` are flat over the states' candidates (state k has ns[k] of them), padded here."""
    row = torch.from_numpy(np.repeat(np.arange(len(ns)), ns))
    col = torch.from_numpy(np.concatenate([np.arange(n) for n in ns]))
    full = torch.full((len(ns), max(ns)), float("-inf")).index_put((row, col), z)
    good = torch.full((len(ns), max(ns)), float("-inf")).index_put((row[best], col[best]), z[best])
    return torch.logsumexp(full, 1) - torch.logsumexp(good, 1)


def fit_answer(policy: CompactPolicy, states: Sequence, epochs: int, lr: float, seed: int,
               progress: bool = False, desc: str = "warm start: answer scorer") -> None:
    """Max-likelihood of the best-F1 candidate set (states where some candidate scores > 0)."""
    usable = [s for s in states if len(s.cand_f1) and s.cand_f1.max() > 0]
    if not usable:
        return
    net = policy.answer_net
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    bs = 64
    n_batches = (len(usable) + bs - 1) // bs
    bar = None
    if progress:
        from tinker_explorer.console import tqdm
        bar = tqdm(total=epochs * n_batches, desc=desc, unit="batch")
    # SGD with iterate averaging over the later epochs: plain SGD moves frequent, general features
    # (context, shape, agreement with the heuristic) more than rare ones (it memorises less than
    # Adam did on a train/holdout split of the training tasks), and averaging removes its jitter
    avg, n_avg = None, 0
    avg_from = max(0, epochs // 2)
    for ep in range(epochs):
        order = rng.permutation(len(usable))
        for b in range(n_batches):
            batch = [usable[i] for i in order[b * bs:(b + 1) * bs]]
            cands = [policy.candidates(s.obs) for s in batch]
            idx, off = pack(cands)
            scores = net(idx, off)
            best = torch.from_numpy(np.concatenate([s.cand_f1 >= s.cand_f1.max() - 1e-6 for s in batch]))
            loss = best_set_nll(scores, [len(c.texts) for c in cands], best).sum()
            opt.zero_grad()
            (loss / len(batch)).backward()
            opt.step()
            if ep >= avg_from:
                w = net.emb.weight.detach()
                n_avg += 1
                avg = w.clone() if avg is None else avg.add_(w - avg, alpha=1.0 / n_avg)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item() / len(batch):.3f}")
    if bar is not None:
        bar.close()
    if avg is not None:
        with torch.no_grad():
            net.emb.weight.copy_(avg)


def fit_rerank(scores: Sequence[np.ndarray], cands: Sequence, states: Sequence, l2: float,
               steps: int = 200) -> Reranker:
    """Fit the second stage on first-stage scores that did not see their own task (out-of-fold),
    with the answer scorer's loss (-log P(best-F1 candidate set)) plus l2 * |w|^2; full batch."""
    keep = [k for k, s in enumerate(states) if len(s.cand_f1) and s.cand_f1.max() > 0]
    rr = Reranker()
    if not keep:
        return rr
    ns = [len(states[k].cand_f1) for k in keep]
    s = torch.from_numpy(np.concatenate([scores[k] for k in keep]).astype(np.float32))
    dense = pack_dense([cands[k] for k in keep])
    best = torch.from_numpy(np.concatenate([states[k].cand_f1 >= states[k].cand_f1.max() - 1e-6 for k in keep]))
    opt = torch.optim.LBFGS(rr.parameters(), lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = best_set_nll(rr(s, dense), ns, best).mean() + l2 * (rr.w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return rr


def fit_answer_scorers(policy: CompactPolicy, tasks: Sequence[Task], states: Sequence,
                       cfg: CompactTrainConfig, progress: bool = False, parts: WarmParts | None = None
                       ) -> list[AnswerScorer]:
    """Fit the answer side of ``policy`` in place: K fold scorers (each on the other folds' tasks),
    the second stage on their out-of-fold scores, then the final linear scorer on every task.
    Returns the fold scorers: GRPO rollouts answer with them (with the same second stage), so that
    GRPO never sees an answer scorer that has memorised the answer of the task it is reading.
    Each piece is saved in ``parts`` as it finishes, and taken from there when a resumed run has it."""
    parts = parts or WarmParts(None)
    members = fold_members(tasks, states, cfg.answer_folds)
    fold_nets = []
    oof: list = [None] * len(states)
    for f, idx in enumerate(members):
        sub = new_policy(policy.lexicon, policy.qvocab, policy.ctxvocab, cfg.hidden, cfg.seed,
                         use_heuristic=policy.use_heuristic, parser=policy.parser).share_caches(policy)
        inside = set(idx)
        done = parts.get(f"answer_fold{f}")
        if done is not None:
            set_answer_weights(sub.answer_net, done["w"])
        else:
            fit_answer(sub, [s for k, s in enumerate(states) if k not in inside], cfg.answer_epochs, cfg.answer_lr,
                       cfg.seed, progress, desc=f"warm start: answer fold {f + 1}/{cfg.answer_folds}")
            parts.put(f"answer_fold{f}", {"w": answer_weights(sub.answer_net)})
        fold_nets.append(sub.answer_net)
        for k, sc in zip(idx, sub.answer_scores([sub.candidates(states[k].obs) for k in idx])):
            oof[k] = sc
    policy.rerank = None
    if cfg.second_stage:
        done = parts.get("rerank")
        if done is not None:
            policy.rerank = Reranker(n_feats=done["w"].shape[0])
            with torch.no_grad():
                policy.rerank.a.copy_(done["a"])
                policy.rerank.w.copy_(done["w"])
        else:
            policy.rerank = fit_rerank(oof, [policy.candidates(s.obs) for s in states], states, cfg.rerank_l2)
            parts.put("rerank", {"a": policy.rerank.a.detach().clone(), "w": policy.rerank.w.detach().clone()})
    done = parts.get("answer")
    if done is not None:
        set_answer_weights(policy.answer_net, done["w"])
    else:
        fit_answer(policy, states, cfg.answer_epochs, cfg.answer_lr, cfg.seed, progress)
        parts.put("answer", {"w": answer_weights(policy.answer_net)})
    return fold_nets


def fold_view(policy: CompactPolicy, net: AnswerScorer, **kw) -> CompactPolicy:
    """``policy`` answering with another (fold) linear scorer, sharing its second stage and caches."""
    return CompactPolicy(policy.chunk_net, net, policy.lexicon, policy.qvocab, policy.ctxvocab,
                         use_heuristic=policy.use_heuristic, parser=policy.parser, rerank=policy.rerank,
                         **kw).share_caches(policy)


def expected_f1(policy: CompactPolicy, states: Sequence) -> tuple[np.ndarray, list[np.ndarray]]:
    scores = policy.answer_scores([policy.candidates(s.obs) for s in states])
    ef, conf = [], []
    for s, sc in zip(states, scores):
        if len(sc) == 0:
            ef.append(0.0)
            conf.append(answer_confidence(sc))
            continue
        p = np.exp(sc - sc.max())
        p /= p.sum()
        ef.append(float((p * s.cand_f1).sum()))
        conf.append(answer_confidence(sc))
    return np.array(ef), conf


# --------------------------------------------------------------------------- warm start
STOP = -1  # the STOP target of an open/stop row


def task_fold(task: Task, k: int) -> int:
    return zlib.crc32(task.id.encode("utf-8")) % k


def fold_members(tasks: Sequence[Task], states: Sequence, k: int) -> list[list[int]]:
    """For each of k folds, the indices of the states whose task falls in it."""
    fold = [task_fold(t, k) for t in tasks]
    return [[j for j, s in enumerate(states) if fold[s.task_idx] == f] for f in range(k)]


def fit_stop_scorer(policy: CompactPolicy, tasks: Sequence[Task], states: Sequence,
                    fold_nets: Sequence[AnswerScorer], cfg: CompactTrainConfig) -> dict:
    """Fits the open/stop scorer of ``policy`` in place on the oracle's order and stop targets
    (from the out-of-fold answer scorers ``fold_nets``); returns its metrics."""
    # out-of-fold answer confidence / expected F1 for the stop targets (K-fold cross-fitting)
    ef = np.zeros(len(states))
    conf: list = [None] * len(states)
    for net, idx in zip(fold_nets, fold_members(tasks, states, cfg.answer_folds)):
        e, c = expected_f1(fold_view(policy, net), [states[k] for k in idx])
        for j, k in enumerate(idx):
            ef[k], conf[k] = e[j], c[j]
    # stop targets: per task, the expected F1 with every gold chunk read is the last state's
    final_ef: dict[int, float] = {}
    for k, s in enumerate(states):
        final_ef[s.task_idx] = ef[k]
    rows, targets = [], []
    done_task: set[int] = set()
    for k, s in enumerate(states):
        if s.task_idx in done_task:
            continue
        stop = (not s.remaining_gold or not s.targets
                or ef[k] >= final_ef[s.task_idx] - cfg.reward.token_cost * s.remaining_tokens)
        cf, g, valid = chunk_features(s.info or policy.analyse(s.obs), policy.lexicon)
        rows.append((cf, np.concatenate([g, conf[k]]).astype(np.float32), valid))
        tgt = [STOP] if stop else [t for t in s.targets if valid[t]] or [STOP]
        targets.append(tgt)
        if stop:
            done_task.add(s.task_idx)
    cf, g, valid = stack_rows(rows)
    n = cf.shape[1]
    tmask = torch.zeros((len(rows), n + 1), dtype=torch.bool)
    for r, tgt in enumerate(targets):  # pools may differ in size: STOP is the last column of the padded batch
        for t in tgt:
            tmask[r, n if t == STOP else t] = True
    opt = torch.optim.Adam(policy.chunk_net.parameters(), lr=cfg.warm_lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    loss_v = float("nan")
    for _ in range(cfg.warm_epochs):
        perm = torch.randperm(len(rows), generator=gen)
        for b in range(0, len(rows), 256):
            ix = perm[b:b + 256]
            logits = policy.chunk_net(cf[ix], g[ix], valid[ix])
            lp = torch.log_softmax(logits, 1)
            loss = -(torch.logsumexp(lp.masked_fill(~tmask[ix], float("-inf")), 1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_v = loss.item()
    stop_frac = float(np.mean([t == [STOP] for t in targets]))
    return {"warm_states": len(states), "chunk_states": len(rows), "chunk_loss": loss_v,
            "oracle_stop_rows": stop_frac}
