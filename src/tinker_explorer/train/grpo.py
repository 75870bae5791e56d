"""GRPO for the LLM agent: one loop for both engines (tinker cloud, local torch).

Each step:
1. draw ``batch_size`` tasks (``default_rng([seed, step])``) and run ``group_size`` episodes of
   each against the current sampler weights (one batched sample call per env step);
2. advantage = reward - group mean (``--normalize-std``: divided by the group std); groups whose
   rewards are all equal carry no signal: they are skipped and counted;
3. every action token of an episode gets its advantage; ``forward_backward`` with
   ``importance_sampling`` (default) or ``ppo`` (token-sum loss, Tinker's semantics) and
   ``optim_step`` are submitted together, then the sampler is refreshed;
4. one metrics line; a checkpoint (weights + optimizer) every step, so ``--resume`` loses at
   most the step in flight. Checkpoints between ``save_every`` multiples are *rolling*: the
   previous rolling one (its line, then its folder) is deleted once the next is recorded (local
   engine), to bound disk use; the last step's line is named ``final``.

Every random choice of step k derives from ``(seed, step)``, so a run resumed after step k
repeats step k+1 exactly as an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tinker_explorer.data.schema import Task
from tinker_explorer.engines import AdamParams, make_engine
from tinker_explorer.engines.registry import DEFAULT_MODELS
from tinker_explorer.engines.registry import engine_options
from tinker_explorer.env.explorer import EnvConfig
from tinker_explorer.env.rewards import RewardConfig
from tinker_explorer.errors import UserError
from tinker_explorer.eval.runner import validation_metrics
from tinker_explorer.policies.llm import LLMPolicy, llm_checkpoint
from tinker_explorer.train.advantages import grpo_advantages
from tinker_explorer.records import FINAL, RunRecords
from tinker_explorer.train.rollouts import episode_datums, episode_stats, rollout, turn_seed


@dataclass
class GRPOConfig:
    """Defaults are the original system's (Qwen3-8B, LoRA 32, group 16, batch 8, lr 5e-6, F1)."""

    tasks: str = "data_out/synthetic/train.jsonl"
    val: str | None = None
    run_dir: str = "runs/llm_grpo"
    engine: str = "local"
    model: str | None = None  # Qwen/Qwen3-8B on tinker, SmolLM2-135M-Instruct on local
    init: str | None = None  # SFT checkpoint (state or run dir) to start from
    lora_rank: int = 32
    steps: int = 100
    group_size: int = 16
    batch_size: int = 8
    lr: float = 5e-6
    reward: str = "f1"
    loss: str = "importance_sampling"
    normalize_std: bool = False
    max_tokens: int = 64
    temperature: float = 1.0
    save_every: int = 10
    seed: int = 0
    budget: int = 2000
    max_steps: int = 10
    val_tasks: int = 32
    system_prompt: str = "default"
    frozen_prompt: bool = False  # local engine CPU speed option: no gradient through prompt tokens
    dtype: str = "auto"  # local engine: base weights' type, float32 | bfloat16 (auto: bf16 on CUDA, f32 on CPU)
    base_url: str | None = None  # tinker engine: a Tinker-API server other than Tinker cloud


def plot_rewards(run_dir: str | Path, metrics: Sequence[dict]) -> Path | None:
    """reward_curve.png: per-step mean reward (and F1 when the reward is not F1), 5-step moving average."""
    if not metrics:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [m["step"] for m in metrics]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    same = all(m.get("f1") == m.get("reward_mean") for m in metrics)  # reward f1: one curve, not two
    for key, color in (("reward_mean", "tab:blue"), ("f1", "tab:orange"))[:1 if same else 2]:
        y = np.array([m.get(key, np.nan) for m in metrics], dtype=float)
        ax.plot(steps, y, color=color, alpha=0.35, lw=1)
        k = min(5, len(y))
        ma = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], ma, color=color, lw=2, label=f"{key} ({k}-step mean)")
    if any("val_f1" in m for m in metrics):
        vs = [(m["step"], m["val_f1"]) for m in metrics if "val_f1" in m]
        ax.plot(*zip(*vs), "k^--", label="val F1 (greedy)")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("reward / F1")
    ax.set_title(Path(run_dir).name)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(run_dir) / "reward_curve.png"
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


@dataclass
class _Run:
    """What a GRPO run carries from step to step besides the weights."""

    engine: object
    records: RunRecords
    start: int  # the first step still to do
    rolling: str | None  # the previous rolling checkpoint, deleted once the next is saved
    is_tinker: bool


def _open_run(cfg: GRPOConfig, resume: bool, engine) -> tuple[GRPOConfig, _Run]:
    """The run's records and engine: a fresh start (from ``--init`` when given) or the last checkpoint."""
    started = resume and (Path(cfg.run_dir) / "checkpoints.jsonl").is_file()  # else it starts (over)
    init, meta = (llm_checkpoint(cfg.init, want="state") if cfg.init and not started else (None, {}))
    if not resume and cfg.model is None:
        # the base model is part of the run's config: a resume must not fall back to a default
        model = getattr(engine, "base_model", None) or meta.get("base_model") or DEFAULT_MODELS.get(cfg.engine)
        cfg = dataclasses.replace(cfg, model=model)
    records = RunRecords(cfg.run_dir, cfg, resume=resume)
    last = records.last_checkpoint() if resume else None
    if engine is None:
        engine = make_engine(cfg.engine, model=cfg.model, lora_rank=cfg.lora_rank, seed=cfg.seed, checkpoint=None,
                             frozen_prompt=cfg.frozen_prompt, **engine_options(cfg.engine, cfg.base_url, cfg.dtype))
        if init and not last:
            engine.load_state(init, optimizer=False)  # SFT weights; fresh AdamW moments
            engine.refresh_sampler()
    if hasattr(engine, "save_dir"):
        engine.save_dir = Path(cfg.run_dir) / "checkpoints"
    run = _Run(engine, records, start=0, rolling=None, is_tinker=getattr(engine, "name", cfg.engine) == "tinker")
    if last:
        last_path = records.resolve(last["path"])
        engine.load_state(last_path)
        engine.refresh_sampler()
        run.start = last["step"] + 1
        run.rolling = last_path if last.get("kind") == "rolling" else None
        print(f"grpo: resumed from {last_path} (step {last['step']})")
    return cfg, run


def _grpo_step(cfg: GRPOConfig, step: int, tasks: Sequence[Task], policy: LLMPolicy, env_cfg: EnvConfig,
               adam: AdamParams) -> dict:
    """Steps 1-3 of the module docstring; returns the step's metrics."""
    rng = np.random.default_rng([cfg.seed, step])
    idx = rng.choice(len(tasks), size=cfg.batch_size, replace=len(tasks) < cfg.batch_size)
    batch = [tasks[i] for i in idx for _ in range(cfg.group_size)]
    t0 = time.perf_counter()
    eps = rollout(policy, batch, env_cfg, seed=turn_seed(cfg.seed, step), temperature=cfg.temperature)
    t_sample = time.perf_counter() - t0
    rewards = np.array([e.reward for e in eps]).reshape(cfg.batch_size, cfg.group_size)
    adv, skipped = grpo_advantages(rewards, normalize_std=cfg.normalize_std)
    datums = [d for g in range(cfg.batch_size) if not skipped[g] for k in range(cfg.group_size)
              for d in episode_datums(eps[g * cfg.group_size + k].turns, cfg.loss, float(adv[g, k]))]
    t1 = time.perf_counter()
    fb_metrics: dict = {}
    if datums:
        engine = policy.engine
        fb, op = engine.forward_backward_optim(datums, cfg.loss, adam)
        engine.refresh_sampler()
        fb_metrics = {"loss": fb.loss, "train_tokens": sum(len(d.model_input) for d in datums),
                      "trained_action_tokens": fb.n_tokens, **fb.metrics, **op}
    t_train = time.perf_counter() - t1
    m = {**episode_stats(eps), "skipped_groups": int(skipped.sum()), "n_datums": len(datums),
         **fb_metrics, "sample_seconds": t_sample, "train_seconds": t_train}
    m["sample_tokens_per_s"] = m["sampled_tokens"] / t_sample if t_sample else None
    if datums and t_train:
        m["train_tokens_per_s"] = m["train_tokens"] / t_train
    return m


def _kept(cfg: GRPOConfig, step: int) -> bool:
    """A ``save_every`` multiple or the last step: a kept checkpoint, and a validation point."""
    return (step + 1) % cfg.save_every == 0 or step == cfg.steps - 1


def _save_step(cfg: GRPOConfig, run: _Run, step: int, metrics: dict) -> None:
    """Step 4 of the module docstring: the state, then the metrics line, then the checkpoint line.
    Killed anywhere in between, resume drops this step's metrics line (RunRecords keeps lines up to
    the last checkpoint) and redoes the step."""
    engine, records = run.engine, run.records
    keep = _kept(cfg, step)
    name = f"step_{step:06d}"
    # a rolling Tinker state expires on its own (TTL) if the run is abandoned
    path = engine.save_state(name, rolling=True) if run.is_tinker and not keep else engine.save_state(name)
    extra = {"kind": "kept" if keep else "rolling"}
    if keep:
        # the tinker engine exports weights-only sampler files; a local state folder already is one
        extra["sampler_path"] = engine.save_sampler_weights(name + "_sampler") if run.is_tinker else path
    records.log_metrics(step, metrics)
    # the last step's row is the run's "final" one: what `eval --checkpoint RUN` and `--init RUN` load
    records.log_checkpoint(step, FINAL if step == cfg.steps - 1 else name, path, **extra)
    if run.rolling:  # its line goes first, then the checkpoint: lines name only what exists
        stored = records.relative(run.rolling)
        records.drop_checkpoints(lambda row: row.get("path") == stored and row.get("kind") == "rolling")
        if run.is_tinker:
            engine.delete_checkpoint(run.rolling)
        else:
            shutil.rmtree(run.rolling, ignore_errors=True)
    run.rolling = None if keep else path


def run_grpo(cfg: GRPOConfig, tasks: Sequence[Task] | None = None, resume: bool = False,
             engine=None, progress: bool = True, stop_after: int | None = None) -> list[dict]:
    """Train; returns the metrics lines. ``stop_after`` ends the process-side loop early (tests)."""
    from tinker_explorer.data.schema import load_tasks
    if cfg.temperature != 1.0:
        raise UserError(f"--temperature {cfg.temperature:g} cannot be trained on: the sampler records temperature-1 "
                        "log-probabilities, so importance ratios would be taken against the wrong behaviour policy; "
                        "use --temperature 1")
    tasks = list(tasks) if tasks is not None else load_tasks(cfg.tasks)
    if not tasks:
        raise UserError(f"{cfg.tasks}: no tasks")
    val = load_tasks(cfg.val, limit=cfg.val_tasks) if cfg.val else []
    cfg, run = _open_run(cfg, resume, engine)
    policy = LLMPolicy(run.engine, max_tokens=cfg.max_tokens, temperature=cfg.temperature,
                       system_prompt=cfg.system_prompt)
    env_cfg = EnvConfig(budget=cfg.budget, max_steps=cfg.max_steps, reward=RewardConfig(cfg.reward))
    adam = AdamParams(learning_rate=cfg.lr)
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = None
    if progress:
        from tinker_explorer.console import tqdm
        bar = tqdm(total=cfg.steps, initial=run.start, desc="grpo", unit="step")
    for step in range(run.start, end):
        m = _grpo_step(cfg, step, tasks, policy, env_cfg, adam)
        if val and _kept(cfg, step):
            greedy = LLMPolicy(run.engine, max_tokens=cfg.max_tokens, temperature=0.0, system_prompt=cfg.system_prompt)
            m.update(validation_metrics(greedy, val, env_cfg, seed=cfg.seed, batch_size=len(val)))
        _save_step(cfg, run, step, m)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(reward=f"{m['reward_mean']:.3f}", skipped=m["skipped_groups"])
    if bar is not None:
        bar.close()
    metrics = run.records.metrics()
    if end == cfg.steps:
        png = plot_rewards(cfg.run_dir, metrics)
        if png:
            print(f"grpo: wrote {png}")
    return metrics
