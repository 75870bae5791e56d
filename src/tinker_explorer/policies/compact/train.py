"""Training the compact policy: supervised warm start, then GRPO on ExplorerEnv.

Stage 1 (warm start, from the training tasks' gold):
  a. *answer scorer*: for every task, the states an oracle reader passes through (nothing opened,
     then the gold chunks one by one: question-named chunks first, then bridge chunks) give
     candidate sets; the linear scorer is fit to put its probability on the candidates with the
     best F1 against the gold answer (this is what learns span boundaries and answer forms).
  b. *open/stop scorer*: imitates that oracle order; the oracle stops as soon as the answer scorer's
     expected F1 (computed out-of-fold, 2-fold cross-fitting, so it is honest) is within the reading
     cost of the rest of the gold chunks of its expected F1 with all of them.
Stage 2 (GRPO): for each task of a batch, ``group_size`` episodes sampled from the policy in
ExplorerEnv; reward = the env's episode reward (default: the env's ``shaped`` reward, F1 - 0.0002 x
tokens read, so reading has a price; chosen on the leaves harness, whose holdout is dev-like: pure F1
read 313 tokens for F1 0.719, 0.0002 read 256 for 0.712, 0.0006 read 217 for 0.690);
advantage = reward - group mean (``train.advantages.grpo_advantages``);
policy-gradient step on the log-probabilities of the sampled open/stop decisions. The answer stays
the answer scorer's greedy choice (a supervised model of F1 already; sampling it only adds noise).
Rollouts answer with the out-of-fold answer scorers of the warm start, so a task's reward never
comes from a scorer that memorised that task's answer (which would teach "no need to read").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from tinker_explorer.data.schema import Task, load_tasks
from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv, gold_answers
from tinker_explorer.env.rewards import RewardConfig
from tinker_explorer.env.types import Action
from tinker_explorer.errors import UserError
from tinker_explorer.data.answers import best_em, best_f1
from tinker_explorer.policies.compact.checkpoints import (WARM_PART, WarmParts, answer_weights, load_optimizer,
                                                          save_step, set_answer_weights)
from tinker_explorer.policies.compact.features import build_ctxvocab, build_lexicon, build_qvocab, chunk_features
from tinker_explorer.policies.compact.model import (AnswerScorer, CompactPolicy, Decision, Reranker,
                                                     answer_confidence, new_policy, pack, pack_dense, stack_rows)
from tinker_explorer.policies.compact.syntax import PARSER_PACKAGE
from tinker_explorer.train.advantages import grpo_advantages
from tinker_explorer.records import RunRecords

# 0.0002 F1 per token read (the env's shaped reward): a 100-token chunk must raise the expected F1 by
# 0.02 to be worth opening
DEFAULT_REWARD = RewardConfig(name="shaped", token_cost=0.0002)


@dataclass
class CompactTrainConfig:
    reward: RewardConfig = field(default_factory=lambda: DEFAULT_REWARD)
    budget: int = 2000  # evaluation budget, and the GRPO budget for half of the groups
    budget_mix: tuple[int, ...] = (100, 200, 400, 800)  # the other half draws from these (budget robustness)
    max_steps: int = 10
    honest_status: bool = True
    seed: int = 0
    # warm start
    warm_start: bool = True
    answer_epochs: int = 4
    answer_lr: float = 1.0
    warm_epochs: int = 60
    warm_lr: float = 0.01
    hidden: int = 32
    # GRPO
    grpo: bool = True
    steps: int = 80
    group_size: int = 8
    batch_size: int = 16
    lr: float = 0.003
    answer_folds: int = 2  # cross-fitted answer scorers used for stop targets and GRPO rollouts
    # second-stage answer scorer (model.Reranker), fit on the fold scorers' out-of-fold scores with
    # this L2 penalty on its weights; off (or with fewer than 2 folds): the linear scorer alone
    rerank: bool = True
    rerank_l2: float = 1e-4
    heuristic_features: bool = True  # feed the rule-based reader's proposals to both scorers
    # spaCy package whose parse gives the answer scorer syntax features (syntax.py); None: without them
    parser: str | None = PARSER_PACKAGE
    eval_every: int = 20
    val_tasks_max: int = 200
    time_limit_s: float | None = None  # safety stop after this many seconds in total (reported when it fires)
    # start GRPO from another run's warm start (its warm.pt + out-of-fold answer scorers) instead of
    # training one: the ablation harness shares one warm start across leaves, as the original's RL runs
    # shared one SFT checkpoint
    init_from: str | None = None

    @property
    def second_stage(self) -> bool:
        """Whether the warm start fits the second stage: it learns from out-of-fold scores (2+ folds)."""
        return self.rerank and self.answer_folds >= 2


# the config fields the warm start depends on (plus reward.token_cost, which sets its stop targets)
WARM_FIELDS = ("budget", "max_steps", "seed", "answer_epochs", "answer_lr", "warm_epochs", "warm_lr", "hidden",
               "answer_folds", "heuristic_features", "parser", "rerank", "rerank_l2")


def warm_key(cfg: CompactTrainConfig, tasks: Sequence[Task]) -> dict:
    """What identifies a warm start: two equal keys train the same warm checkpoint. It holds the
    package source hash, so any change of the features, the heuristic or the trainer's code makes a
    new key (a hand-bumped version number missed several such changes), and the training tasks'
    sha256."""
    from tinker_explorer.data.schema import tasks_sha256
    from tinker_explorer.records import src_hash
    return {**{k: getattr(cfg, k) for k in WARM_FIELDS}, "token_cost": cfg.reward.token_cost,
            "src_hash": src_hash(), "tasks_sha256": tasks_sha256(tasks)}


# not part of what a run computes: a safety stop (recorded on the final row when it fires) and evaluation
UNHASHED = ("time_limit_s", "eval_every", "val_tasks_max")


def config_hash(cfg: CompactTrainConfig, tasks: Sequence[Task]) -> str:
    """Identity of a training run: its config, the training tasks' sha256 and the package source
    hash. Equal hashes train equal weights; the demo reuses a finished run only on an equal hash."""
    import hashlib
    from tinker_explorer.data.schema import tasks_sha256
    from tinker_explorer.records import src_hash
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in UNHASHED}
    key = json.dumps({"config": d, "tasks_sha256": tasks_sha256(tasks), "src_hash": src_hash()}, sort_keys=True,
                     default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- oracle states
@dataclass
class OracleState:
    task_idx: int
    obs: object
    n_opened: int
    remaining_gold: list[int]
    targets: list[int]  # chunk ids the oracle would open next (any of them)
    cand_f1: np.ndarray
    remaining_tokens: int
    info: object = None  # the observation's ObsInfo, parsed once (the stop rows reuse it)


def oracle_states(policy: CompactPolicy, tasks: Sequence[Task], budget: int, max_steps: int,
                  progress: bool = False) -> list[OracleState]:
    """Walk each task through the oracle reading order, recording every state's candidates."""
    if policy.syntax() is not None:  # the oracle opens the gold chunks: parse them in batches first
        policy.syntax().parse_many(t.chunks[i].text for t in tasks for i in t.gold_ids)
    out = []
    it = tasks
    if progress:
        from tinker_explorer.console import tqdm
        it = tqdm(tasks, desc="warm start: oracle states", unit="task")
    for ti, task in enumerate(it):
        env = ExplorerEnv(EnvConfig(budget=budget, max_steps=max_steps))
        obs = env.reset(task)
        golds = gold_answers(task)
        remaining = list(task.gold_ids)
        n_open = 0
        while True:
            info = policy.analyse(obs)
            q_first = [i for i in remaining if i in info.qchunks]
            if q_first:
                targets = q_first
            else:  # bridge chunks: the one named earliest in what was read first
                targets = sorted(remaining, key=lambda i: (info.first_mention[i], i))[:1] if remaining else []
            cands = policy.candidates(obs, info)
            f1 = np.array([best_f1(t, golds) for t in cands.texts], dtype=np.float32)
            out.append(OracleState(ti, obs, n_open, list(remaining), targets, f1,
                                   sum(task.chunks[i].n_tokens for i in remaining), info))
            if not remaining or obs.steps_left <= 1:
                break
            nxt = targets[0]
            if task.chunks[nxt].n_tokens > obs.budget_left:
                break
            obs = env.step(Action.open(nxt)).observation
            remaining.remove(nxt)
            n_open += 1
    return out


# --------------------------------------------------------------------------- answer scorer
def best_set_nll(z: torch.Tensor, ns: Sequence[int], best: torch.Tensor) -> torch.Tensor:
    """Per state, -log P(best-F1 candidate set) under the softmax of its candidates' scores; ``z``
    and ``best`` are flat over the states' candidates (state k has ns[k] of them), padded here."""
    row = torch.from_numpy(np.repeat(np.arange(len(ns)), ns))
    col = torch.from_numpy(np.concatenate([np.arange(n) for n in ns]))
    full = torch.full((len(ns), max(ns)), float("-inf")).index_put((row, col), z)
    good = torch.full((len(ns), max(ns)), float("-inf")).index_put((row[best], col[best]), z[best])
    return torch.logsumexp(full, 1) - torch.logsumexp(good, 1)


def fit_answer(policy: CompactPolicy, states: Sequence[OracleState], epochs: int, lr: float, seed: int,
               progress: bool = False, desc: str = "warm start: answer scorer", optimizer: str = "sgd", average: bool = True) -> None:
    """Max-likelihood of the best-F1 candidate set (states where some candidate scores > 0)."""
    usable = [s for s in states if len(s.cand_f1) and s.cand_f1.max() > 0]
    if not usable:
        return
    net = policy.answer_net
    opts = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}
    opt = opts[optimizer](net.parameters(), lr=lr)
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
            if average and ep >= avg_from:
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


def fit_rerank(scores: Sequence[np.ndarray], cands: Sequence, states: Sequence[OracleState], l2: float,
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


def fit_answer_scorers(policy: CompactPolicy, tasks: Sequence[Task], states: Sequence[OracleState],
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


def expected_f1(policy: CompactPolicy, states: Sequence[OracleState]) -> tuple[np.ndarray, list[np.ndarray]]:
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


def fold_members(tasks: Sequence[Task], states: Sequence[OracleState], k: int) -> list[list[int]]:
    """For each of k folds, the indices of the states whose task falls in it."""
    fold = [task_fold(t, k) for t in tasks]
    return [[j for j, s in enumerate(states) if fold[s.task_idx] == f] for f in range(k)]


def warm_start(policy: CompactPolicy, tasks: Sequence[Task], cfg: CompactTrainConfig,
               progress: bool = True, parts: WarmParts | None = None) -> tuple[dict, list[AnswerScorer]]:
    """Fits both scorers of ``policy`` in place; returns metrics and the out-of-fold answer scorers."""
    t0 = time.perf_counter()
    states = oracle_states(policy, tasks, cfg.budget, cfg.max_steps, progress=progress)
    fold_nets = fit_answer_scorers(policy, tasks, states, cfg, progress, parts)
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
    return ({"warm_states": len(states), "chunk_states": len(rows), "chunk_loss": loss_v,
             "oracle_stop_rows": stop_frac, "warm_seconds": time.perf_counter() - t0}, fold_nets)


# --------------------------------------------------------------------------- GRPO
def rollout(policy: CompactPolicy, tasks: Sequence[Task], budgets: Sequence[int], cfg: CompactTrainConfig,
            rngs: Sequence[np.random.Generator]):
    """Run one episode per (task, budget, rng) in lockstep; returns per-episode decisions and envs."""
    envs = [ExplorerEnv(EnvConfig(budget=b, max_steps=cfg.max_steps, reward=cfg.reward,
                                  honest_status=cfg.honest_status)) for b in budgets]
    obs = [e.reset(t) for e, t in zip(envs, tasks)]
    decisions: list[list[Decision]] = [[] for _ in tasks]
    rewards = np.zeros(len(tasks))
    live = list(range(len(tasks)))
    while live:
        ds = policy.decide([obs[j] for j in live], [rngs[j] for j in live])
        still = []
        for j, d in zip(live, ds):
            forced = obs[j].steps_left <= 1 or not d.valid.any()
            if not forced:
                decisions[j].append(d)
            elif d.cands is not None:  # forced stop: the answer choice still is an action
                decisions[j].append(dataclasses.replace(d, choice=-1))
            res = envs[j].step(d.action)
            obs[j] = res.observation
            if res.done:
                rewards[j] = res.reward
            else:
                still.append(j)
        live = still
    return decisions, envs, rewards


def policy_gradient_step(policy: CompactPolicy, opt: torch.optim.Optimizer, decisions: Sequence[Sequence[Decision]],
                         adv: np.ndarray) -> torch.Tensor:
    """One step on -sum(advantage x log-prob of each sampled open/stop decision) / episodes: raises the
    probability of the decisions of episodes that beat their group, lowers the others'."""
    rows, choices, weights = [], [], []
    for e, ds in enumerate(decisions):
        if adv[e] == 0.0:
            continue
        for d in ds:
            if d.choice >= 0:
                rows.append((d.cf, d.g, d.valid))
                choices.append(d.choice if d.choice < len(d.valid) else -1)
                weights.append(adv[e])
    loss = torch.zeros(())
    if rows:
        cf, g, valid = stack_rows(rows)
        logits = policy.chunk_net(cf, g, valid)
        n = cf.shape[1]
        ch = torch.tensor([c if c >= 0 else n for c in choices])
        lp = torch.log_softmax(logits, 1).gather(1, ch[:, None]).squeeze(1)
        loss = loss - (torch.tensor(weights, dtype=torch.float32) * lp).sum() / len(decisions)
    if loss.requires_grad:
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(policy.chunk_net.parameters()), 1.0)
        opt.step()
    return loss


def grpo_step(policy: CompactPolicy, fold_nets: Sequence[AnswerScorer], opt: torch.optim.Optimizer,
              tasks: Sequence[Task], cfg: CompactTrainConfig, step: int) -> dict:
    t0 = time.perf_counter()
    rng = np.random.default_rng([cfg.seed, step])
    pick = rng.choice(len(tasks), size=min(cfg.batch_size, len(tasks)), replace=False)
    budgets = [cfg.budget if (rng.random() < 0.5 or not cfg.budget_mix) else int(rng.choice(cfg.budget_mix))
               for _ in pick]
    ep_tasks = [tasks[i] for i in pick for _ in range(cfg.group_size)]
    ep_budgets = [b for b in budgets for _ in range(cfg.group_size)]
    ep_rngs = [np.random.default_rng([cfg.seed, step, k]) for k in range(len(ep_tasks))]
    decisions: list = [None] * len(ep_tasks)
    envs: list = [None] * len(ep_tasks)
    rewards = np.zeros(len(ep_tasks))
    for f in range(len(fold_nets) or 1):
        ix = [k for k, t in enumerate(ep_tasks) if not fold_nets or task_fold(t, len(fold_nets)) == f]
        if not ix:
            continue
        view = fold_view(policy, fold_nets[f] if fold_nets else policy.answer_net, sample=True)
        d, e, r = rollout(view, [ep_tasks[k] for k in ix], [ep_budgets[k] for k in ix], cfg, [ep_rngs[k] for k in ix])
        for j, k in enumerate(ix):
            decisions[k], envs[k], rewards[k] = d[j], e[j], r[j]
    adv, skipped = grpo_advantages(rewards.reshape(len(pick), cfg.group_size))
    loss = policy_gradient_step(policy, opt, decisions, adv.reshape(-1))
    golds = [gold_answers(t) for t in ep_tasks]
    return {
        "reward_mean": float(rewards.mean()), "reward_std": float(rewards.std()),
        "f1": float(np.mean([best_f1(e.answer, g) for e, g in zip(envs, golds)])),
        "em": float(np.mean([best_em(e.answer, g) for e, g in zip(envs, golds)])),
        "answer_rate": float(np.mean([e.answer is not None for e in envs])),
        "avg_opens": float(np.mean([len(e.opened) for e in envs])),
        "avg_tokens_read": float(np.mean([e.tokens_read for e in envs])),
        "skipped_groups": int(skipped.sum()), "n_groups": int(len(pick)),
        "loss": float(loss.item()), "seconds": time.perf_counter() - t0,
    }


def evaluate(policy: CompactPolicy, tasks: Sequence[Task], cfg: CompactTrainConfig) -> dict:
    from tinker_explorer.eval.runner import run_episodes
    trajs = run_episodes(policy, tasks, EnvConfig(budget=cfg.budget, max_steps=cfg.max_steps, reward=cfg.reward,
                                                  honest_status=cfg.honest_status),
                         seed=cfg.seed, record_observations=False)
    return {"val_f1": float(np.mean([t.f1 for t in trajs])), "val_em": float(np.mean([t.em for t in trajs])),
            "val_reward": float(np.mean([t.reward for t in trajs])),
            "val_answer_rate": float(np.mean([t.answer is not None for t in trajs])),
            "val_tokens_read": float(np.mean([t.tokens_read for t in trajs]))}


# --------------------------------------------------------------------------- driver
def _config_json(cfg: CompactTrainConfig, **extra) -> dict:
    return {"policy": "compact", **dataclasses.asdict(cfg), **extra}


def train_compact(cfg: CompactTrainConfig, train_tasks: Sequence[Task], val_tasks: Sequence[Task] | None,
                  run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Warm start then GRPO; writes run records and checkpoints in ``run_dir``; returns the final
    checkpoint path. ``resume`` continues from the last checkpoint of ``run_dir`` (a finished piece
    of the warm start, or a GRPO step): a run killed at any moment and resumed ends with the same
    weights as one never interrupted. ``time_limit_s`` is a safety stop: when it fires, the final
    row says so (``stopped``) and a message is printed."""
    if not train_tasks:
        raise UserError("no training tasks")
    if not (cfg.warm_start or cfg.grpo):
        raise UserError("nothing to train: both the warm start and GRPO are disabled")
    from tinker_explorer.data.schema import tasks_sha256
    from tinker_explorer.records import src_hash
    torch.set_num_threads(min(2, torch.get_num_threads()))
    t_start = time.perf_counter()
    run_dir = Path(run_dir)
    rec = RunRecords(run_dir, _config_json(cfg, n_train_tasks=len(train_tasks), n_val_tasks=len(val_tasks or []),
                                           tasks_sha256=tasks_sha256(train_tasks), src_hash=src_hash(),
                                           config_hash=config_hash(cfg, train_tasks)),
                     resume=resume)
    val = list(val_tasks or [])[:cfg.val_tasks_max]
    last = rec.last_checkpoint() if resume else None
    elapsed_before = float(last.get("elapsed_s", 0.0)) if last else 0.0
    steps = cfg.steps if cfg.grpo else 0
    if last is not None and last["name"] == "final" and last["step"] >= steps:
        return Path(rec.resolve(last["path"]))  # finished already
    if last is not None and last["name"] != WARM_PART:
        policy = CompactPolicy.load(rec.resolve(last["path"]))
        start_step = int(last["step"]) + 1
        fold_nets = load_fold_nets(run_dir)
    else:
        policy, fold_nets = _warm_stage(cfg, train_tasks, val, rec, progress, t_start)
        start_step = 1
    opt = torch.optim.Adam(policy.chunk_net.parameters(), lr=cfg.lr)
    if last is not None and last["name"] not in ("warm", WARM_PART):
        load_optimizer(opt, rec.resolve(last["path"]))
    # the checkpoint the next one supersedes (a step's, or a final one that --steps now extends)
    previous = last["path"] if last is not None and last.get("kind") in ("rolling", "final") else None
    bar = None
    if progress and start_step <= steps:
        from tinker_explorer.console import tqdm
        bar = tqdm(total=steps, initial=start_step - 1, desc="GRPO compact", unit="step")
    step, stopped = start_step - 1, None
    for step in range(start_step, steps + 1):
        m = grpo_step(policy, fold_nets, opt, train_tasks, cfg, step)
        elapsed = elapsed_before + time.perf_counter() - t_start
        if cfg.time_limit_s is not None and elapsed >= cfg.time_limit_s and step < steps:
            stopped = f"time limit {cfg.time_limit_s:g} s reached after GRPO step {step} of {steps}"
        is_last = step == steps or stopped is not None
        if val and (step % cfg.eval_every == 0 or is_last):
            m.update(evaluate(policy, val, cfg))
        rec.log_metrics(step, {"stage": "grpo", **m, "elapsed_s": elapsed})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(r=f"{m['reward_mean']:.3f}", f1=f"{m['f1']:.3f}", tok=f"{m['avg_tokens_read']:.0f}")
        if is_last:
            break
        name = f"step_{step:06d}"
        previous = save_step(rec, policy, opt, step, name, run_dir / "steps" / f"{name}.pt", previous,
                             kind="rolling", elapsed_s=elapsed)
    if bar is not None:
        bar.close()
    if stopped:
        print(f"compact training: safety stop: {stopped}; the final checkpoint is of a shorter run than configured")
    extra = {"stopped": stopped} if stopped else {}
    save_step(rec, policy, opt, max(step, 0), "final", run_dir / "final.pt", previous, kind="final",
              elapsed_s=elapsed_before + time.perf_counter() - t_start, **extra)
    return run_dir / "final.pt"


def _warm_stage(cfg: CompactTrainConfig, train_tasks: Sequence[Task], val: Sequence[Task], rec: RunRecords,
                progress: bool, t_start: float) -> tuple[CompactPolicy, list[AnswerScorer]]:
    """The warm start (or another run's, with ``init_from``), recorded as the ``warm`` row."""
    run_dir = rec.dir
    fold_nets: list[AnswerScorer] = []
    if cfg.init_from:
        src = Path(cfg.init_from)
        if not (src / "warm.pt").is_file():
            raise UserError(f"--init-from {src}: no warm.pt there (train one with `train grpo --policy compact --no-grpo`)")
        policy = CompactPolicy.load(src / "warm.pt")
        fold_nets = load_fold_nets(src)
        save_fold_nets(run_dir, fold_nets)
    else:
        policy = new_policy(build_lexicon(train_tasks), build_qvocab(train_tasks), build_ctxvocab(train_tasks),
                            cfg.hidden, cfg.seed, use_heuristic=cfg.heuristic_features, parser=cfg.parser)
        if cfg.warm_start:
            m, fold_nets = warm_start(policy, train_tasks, cfg, progress, parts=WarmParts(rec))
            save_fold_nets(run_dir, fold_nets)
            if val:
                m.update(evaluate(policy, val, cfg))
            m["seconds"] = time.perf_counter() - t_start
            rec.log_metrics(0, {"stage": "warm", **m})
    path = policy.save(run_dir / "warm.pt")
    rec.log_checkpoint(0, "warm", path, elapsed_s=time.perf_counter() - t_start)
    return policy, fold_nets


def save_fold_nets(run_dir: Path, nets: Sequence[AnswerScorer]) -> None:
    """The out-of-fold answer scorers GRPO rollouts answer with (needed to resume), float32."""
    from tinker_explorer.policies.compact.checkpoints import save_atomic
    for f, net in enumerate(nets):
        save_atomic(answer_weights(net), run_dir / f"answer_fold{f}.pt")


def load_fold_nets(run_dir: Path) -> list[AnswerScorer]:
    nets = []
    for p in sorted(run_dir.glob("answer_fold*.pt")):
        w = torch.load(p, weights_only=True).to(torch.float32)
        net = AnswerScorer(n_buckets=w.shape[0])
        with torch.no_grad():
            net.emb.weight.copy_(w[:, None])
        nets.append(net)
    return nets


# --------------------------------------------------------------------------- CLI hooks
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Compact-only flags of `train grpo --policy compact` (shared flags are added by train/cli.py)."""
    g = parser.add_argument_group("compact policy")
    g.add_argument("--warm-epochs", type=int, default=None, help="open/stop scorer warm-start epochs (default 60)")
    g.add_argument("--answer-epochs", type=int, default=None, help="answer scorer epochs (default 4)")
    g.add_argument("--token-cost", type=float, default=None,
                   help="reward per token read, subtracted (default 0.0002, with --reward shaped)")
    g.add_argument("--no-warm-start", action="store_true", help="skip the supervised warm start")
    g.add_argument("--no-grpo", action="store_true", help="warm start only")
    g.add_argument("--no-heuristic-features", action="store_true",
                   help="do not feed the heuristic reader's proposals to the scorers (pure learned features)")
    g.add_argument("--no-parser", action="store_true",
                   help="no syntax features for the answer scorer (no spaCy needed)")
    g.add_argument("--no-rerank", action="store_true",
                   help="no second-stage answer scorer: the linear answer scorer alone")
    g.add_argument("--time-limit", type=float, default=None,
                   help="safety stop: end training after this many seconds, warm start included (the final "
                        "checkpoint then says so); default none: train --steps steps")
    g.add_argument("--init-from", metavar="RUN_DIR", default=None,
                   help="skip the warm start: start GRPO from RUN_DIR's warm.pt (e.g. a --no-grpo run)")
    g.add_argument("--eval-every", type=int, default=None, help="GRPO steps between evaluations on --val (default 20; a checkpoint is saved every step)")


# flag dest -> the compact config key it sets (dotted for the reward's fields)
FLAG_KEYS = {"reward": "reward.name", "token_cost": "reward.token_cost", "budget": "budget", "seed": "seed",
             "steps": "steps", "group_size": "group_size", "batch_size": "batch_size", "lr": "lr",
             "max_steps": "max_steps", "warm_epochs": "warm_epochs", "answer_epochs": "answer_epochs",
             "time_limit": "time_limit_s", "eval_every": "eval_every", "init_from": "init_from"}
# switches (store_true flags) -> (config key, value when given)
SWITCHES = {"no_warm_start": ("warm_start", False), "no_grpo": ("grpo", False),
            "no_heuristic_features": ("heuristic_features", False), "no_parser": ("parser", None),
            "no_rerank": ("rerank", False)}


def config_from_dict(d: dict) -> CompactTrainConfig:
    """A config from its JSON form (config.json); keys that are not config fields are ignored."""
    names = {f.name for f in dataclasses.fields(CompactTrainConfig)}
    kw = {k: v for k, v in d.items() if k in names}
    if isinstance(kw.get("reward"), dict):
        kw["reward"] = RewardConfig(**kw["reward"])
    if kw.get("budget_mix") is not None:
        kw["budget_mix"] = tuple(kw["budget_mix"])
    return CompactTrainConfig(**kw)


def config_from_args(args, run_dir: str | Path | None = None) -> CompactTrainConfig:
    """The config of `train grpo --policy compact`: defaults plus the flags given, or with
    ``--resume`` the run's own config.json plus the flags given (one that contradicts it is refused)."""
    from tinker_explorer.records import _set, restore_config
    given = {key: (f"--{dest.replace('_', '-')}", getattr(args, dest)) for dest, key in FLAG_KEYS.items()
             if getattr(args, dest, None) is not None}
    given.update({key: (f"--{dest.replace('_', '-')}", value) for dest, (key, value) in SWITCHES.items()
                  if getattr(args, dest, False)})
    if getattr(args, "resume", False):
        return config_from_dict(restore_config(run_dir or "runs/compact", given))
    base = _config_json(CompactTrainConfig())
    for key, (_, value) in given.items():
        _set(base, key, value)
    return config_from_dict(base)


def run_grpo_from_args(args) -> int:
    if not getattr(args, "tasks", None):
        raise UserError("--tasks is required (a task JSONL file, e.g. data_out/2wiki/train.jsonl)")
    run_dir = Path(getattr(args, "run_dir", None) or "runs/compact")
    cfg = config_from_args(args, run_dir)
    train = load_tasks(args.tasks)
    val = load_tasks(args.val) if getattr(args, "val", None) else None
    t0 = time.perf_counter()
    path = train_compact(cfg, train, val, run_dir, resume=bool(getattr(args, "resume", False)),
                         progress=not getattr(args, "quiet", False))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines() if (run_dir / "metrics.jsonl").exists() else []
    last = json.loads(lines[-1]) if lines else {}
    print(json.dumps({k: last[k] for k in last if k.startswith("val_") or k in ("step", "f1", "avg_tokens_read")}))
    print(f"trained in {time.perf_counter() - t0:.0f} s; final checkpoint {path}; run records in {run_dir}")
    return 0
