"""Training the compact policy: supervised warm start, then GRPO on ExplorerEnv.

Stage 1 (warm start, :mod:`tinker_explorer.policies.compact.warm`): the oracle reader's walk
(``train.oracle``) gives the states the answer scorer (cross-fitted, plus a second stage) and the
open/stop scorer are fit on.
Stage 2 (GRPO): for each task of a batch, ``group_size`` episodes sampled from the policy on the
episode runner (``eval.runner.run_lockstep``); reward = the env's episode reward (default: the env's
``shaped`` reward, F1 - 0.0002 x tokens read, so reading has a price; chosen on the leaves harness,
whose holdout is dev-like: pure F1 read 313 tokens for F1 0.719, 0.0002 read 256 for 0.712, 0.0006
read 217 for 0.690); advantage = reward - group mean (``train.advantages.grpo_advantages``);
policy-gradient step on the log-probabilities of the sampled open/stop decisions. The answer stays
the answer scorer's greedy choice (a supervised model of F1 already; sampling it only adds noise).
Rollouts answer with the out-of-fold answer scorers of the warm start, so a task's reward never
comes from a scorer that memorised that task's answer (which would teach "no need to read").
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from tinker_explorer.data.schema import Task, load_tasks
from tinker_explorer.env.explorer import EnvConfig
from tinker_explorer.errors import UserError
from tinker_explorer.eval.aggregate import aggregate
from tinker_explorer.eval.runner import Episode, run_lockstep, validation_metrics
from tinker_explorer.policies.compact.checkpoints import WARM_PART, WarmParts, answer_weights, load_optimizer, save_step
from tinker_explorer.policies.compact.config import (FLAG_KEYS, SWITCHES, UNHASHED, WARM_FIELDS, CompactTrainConfig,
                                                      config_from_dict)
from tinker_explorer.policies.compact.features import build_ctxvocab, build_lexicon, build_qvocab
from tinker_explorer.policies.compact.model import AnswerScorer, CompactPolicy, Decision, new_policy, stack_rows
from tinker_explorer.policies.compact.warm import fit_answer_scorers, fit_stop_scorer, fold_view, task_fold
from tinker_explorer.train.advantages import grpo_advantages
from tinker_explorer.records import RunRecords
from tinker_explorer.train.oracle import oracle_states

# the config (CompactTrainConfig) is re-exported: the trainer's callers build one
__all__ = ["CompactTrainConfig", "config_from_args", "config_hash", "grpo_step", "load_fold_nets",
           "policy_gradient_step", "run_grpo_from_args", "save_fold_nets", "train_compact", "trained_decisions",
           "warm_key", "warm_start"]


def warm_key(cfg: CompactTrainConfig, tasks: Sequence[Task]) -> dict:
    """What identifies a warm start: two equal keys train the same warm checkpoint. It holds the
    package source hash, so any change of the features, the heuristic or the trainer's code makes a
    new key (a hand-bumped version number missed several such changes), and the training tasks'
    sha256."""
    from tinker_explorer.data.schema import tasks_sha256
    from tinker_explorer.records import src_hash
    return {**{k: getattr(cfg, k) for k in WARM_FIELDS}, "token_cost": cfg.reward.token_cost,
            "src_hash": src_hash(), "tasks_sha256": tasks_sha256(tasks)}



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


def warm_start(policy: CompactPolicy, tasks: Sequence[Task], cfg: CompactTrainConfig,
               progress: bool = True, parts: WarmParts | None = None) -> tuple[dict, list[AnswerScorer]]:
    """Fits both scorers of ``policy`` in place; returns metrics and the out-of-fold answer scorers."""
    t0 = time.perf_counter()
    states = oracle_states(policy, tasks, cfg.budget, cfg.max_steps, progress=progress)
    fold_nets = fit_answer_scorers(policy, tasks, states, cfg, progress, parts)
    m = fit_stop_scorer(policy, tasks, states, fold_nets, cfg)
    return {**m, "warm_seconds": time.perf_counter() - t0}, fold_nets


# --------------------------------------------------------------------------- GRPO
def trained_decisions(ep: Episode) -> list[Decision]:
    """The open/stop decisions of an episode that GRPO learns from (a forced stop is no choice)."""
    return [s.record for s in ep.steps if s.observation.steps_left > 1 and s.record.valid.any()]


def policy_gradient_step(policy: CompactPolicy, opt: torch.optim.Optimizer, decisions: Sequence[Sequence[Decision]],
                         adv: np.ndarray) -> torch.Tensor:
    """One step on -sum(advantage x log-prob of each sampled open/stop decision) / episodes: raises the
    probability of the decisions of episodes that beat their group, lowers the others'. ``decisions``:
    per episode, its trained decisions (:func:`trained_decisions`)."""
    rows, choices, weights = [], [], []
    for e, ds in enumerate(decisions):
        if adv[e] == 0.0:
            continue
        for d in ds:
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
    """One GRPO step: a batch of task groups, at mixed budgets, sampled on the episode runner (each
    fold's tasks answered by the scorer that did not see them), then one policy-gradient update."""
    t0 = time.perf_counter()
    rng = np.random.default_rng([cfg.seed, step])
    pick = rng.choice(len(tasks), size=min(cfg.batch_size, len(tasks)), replace=False)
    budgets = [cfg.budget if (rng.random() < 0.5 or not cfg.budget_mix) else int(rng.choice(cfg.budget_mix))
               for _ in pick]
    ep_tasks = [tasks[i] for i in pick for _ in range(cfg.group_size)]
    ep_cfgs = [_env(cfg, b) for b in budgets for _ in range(cfg.group_size)]
    eps: list[Episode] = [None] * len(ep_tasks)  # type: ignore[list-item]
    for f in range(len(fold_nets) or 1):
        ix = [k for k, t in enumerate(ep_tasks) if not fold_nets or task_fold(t, len(fold_nets)) == f]
        if not ix:
            continue
        view = fold_view(policy, fold_nets[f] if fold_nets else policy.answer_net, sample=True)
        run = run_lockstep(lambda idx, obs, rngs, turn, view=view: [(d.action, d) for d in view.decide(obs, rngs)],
                           [ep_tasks[k] for k in ix], [ep_cfgs[k] for k in ix], seed=(cfg.seed, step), keys=ix)
        for k, e in zip(ix, run):
            eps[k] = e
    rewards = np.array([e.reward for e in eps])
    adv, skipped = grpo_advantages(rewards.reshape(len(pick), cfg.group_size))
    loss = policy_gradient_step(policy, opt, [trained_decisions(e) for e in eps], adv.reshape(-1))
    agg = aggregate([e.result() for e in eps], ci=False)
    return {
        "reward_mean": agg["reward"], "reward_std": agg["reward_std"], "f1": agg["f1"], "em": agg["em"],
        "answer_rate": agg["answer_rate"], "avg_opens": agg["avg_opens"], "avg_tokens_read": agg["avg_tokens_read"],
        "skipped_groups": int(skipped.sum()), "n_groups": int(len(pick)),
        "loss": float(loss.item()), "seconds": time.perf_counter() - t0,
    }


def _env(cfg: CompactTrainConfig, budget: int | None = None) -> EnvConfig:
    """The trainer's environment at ``budget`` (default: the evaluation budget)."""
    return EnvConfig(budget=cfg.budget if budget is None else budget, max_steps=cfg.max_steps, reward=cfg.reward,
                     honest_status=cfg.honest_status)


# --------------------------------------------------------------------------- driver
def _config_json(cfg: CompactTrainConfig, **extra) -> dict:
    return {"policy": "compact", **dataclasses.asdict(cfg), **extra}


def train_compact(cfg: CompactTrainConfig, train_tasks: Sequence[Task], val_tasks: Sequence[Task] | None,
                  run_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Warm start then GRPO; writes run records and checkpoints in ``run_dir``; returns the final
    checkpoint path. ``resume`` continues from the last checkpoint of ``run_dir`` (a finished piece
    of the warm start, or a GRPO step): a run killed at any moment and resumed ends with the same
    weights as one never interrupted. ``time_limit_s`` is a safety stop: when it fires, the final
    row says so (``stopped``) and a message is printed. Trains on at most two torch threads (the
    caller's thread count is restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    try:
        return _train(cfg, train_tasks, val_tasks, run_dir, resume, progress)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: CompactTrainConfig, train_tasks: Sequence[Task], val_tasks: Sequence[Task] | None,
           run_dir: str | Path, resume: bool, progress: bool) -> Path:
    if not train_tasks:
        raise UserError("no training tasks")
    if not (cfg.warm_start or cfg.grpo):
        raise UserError("nothing to train: both the warm start and GRPO are disabled")
    from tinker_explorer.data.schema import tasks_sha256
    from tinker_explorer.records import src_hash
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
            m.update(validation_metrics(policy, val, _env(cfg), seed=cfg.seed))
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
                m.update(validation_metrics(policy, val, _env(cfg), seed=cfg.seed))
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
