"""SFT warm-start: cross-entropy on demonstrations of the heuristic policy.

Why: a small model rarely emits a valid action at first, so GRPO would see all-zero reward
groups. The original system first taught the action format and a sensible reading strategy
by imitating 450 heuristic episodes. Only action tokens are trained (prompt weight 0). The
engines' loss is a token *sum* (Tinker); we divide each batch's weights by its number of
action tokens, so the learning rate means the same thing for any batch (per-token mean).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tinker_explorer.data.schema import Task
from tinker_explorer.engines.base import AdamParams, Datum
from tinker_explorer.engines.registry import engine_options
from tinker_explorer.env.explorer import EnvConfig
from tinker_explorer.env.rewards import RewardConfig
from tinker_explorer.env.types import Action, ActionKind
from tinker_explorer.errors import UserError
from tinker_explorer.policies.base import Policy
from tinker_explorer.policies.llm import LLMPolicy, Turn
from tinker_explorer.records import RunRecords
from tinker_explorer.train.rollouts import episode_datums


@dataclass
class SFTConfig:
    tasks: str = "data_out/synthetic/train.jsonl"
    run_dir: str = "runs/llm_sft"
    engine: str = "local"
    model: str | None = None  # engine default: Qwen/Qwen3-8B on tinker, SmolLM2-135M-Instruct locally
    lora_rank: int = 32
    episodes: int = 450  # demonstration episodes (the original's count)
    epochs: int = 1
    batch_size: int = 8  # datums (turns) per optimizer step
    lr: float = 1e-4
    seed: int = 0
    budget: int = 2000
    max_steps: int = 10
    demo_policy: str = "heuristic"
    min_f1: float = 0.0  # keep demonstrations whose episode reached at least this F1
    system_prompt: str = "default"  # policies.prompts name; GRPO/eval must use the same one
    frozen_prompt: bool = False  # local engine CPU speed option: no gradient through prompt tokens
    dtype: str = "auto"  # local engine: base weights' type, float32 | bfloat16 (auto: bf16 on CUDA, f32 on CPU)
    base_url: str | None = None  # tinker engine: a Tinker-API server other than Tinker cloud


def demonstrations(demo: Policy, llm: LLMPolicy, tasks: Sequence[Task], n_episodes: int,
                   env_config: EnvConfig, seed: int = 0, min_f1: float = 0.0) -> list[list[Turn]]:
    """Run ``demo`` on ``n_episodes`` tasks (cycling through the list) and tokenise each turn
    as the LLM would see it: its prompt and the canonical action text + end-of-turn token."""
    from tinker_explorer.eval.runner import run_episodes
    chosen = [tasks[i % len(tasks)] for i in range(n_episodes)]
    trajs = run_episodes(demo, chosen, env_config, seed=seed, batch_size=64)  # episodes run by position
    out = []
    for tr in trajs:
        if tr.f1 < min_f1:
            continue
        turns = []
        for st in tr.steps:
            a = st.action
            act = Action(ActionKind(a["kind"]), chunk=a["chunk"], text=a["text"], raw=a["raw"])
            toks = llm.action_tokens(act.to_text())
            turns.append(Turn(llm.prompt_tokens(st.observation), toks, [0.0] * len(toks), act.to_text(), act))
        out.append(turns)
    return out


def normalized(batch: Sequence[Datum]) -> list[Datum]:
    """Divide weights by the batch's action-token count: a per-token mean under a sum loss."""
    n = sum(sum(1 for w in d.loss_fn_inputs["weights"] if w) for d in batch) or 1
    return [Datum(d.model_input, {"target_tokens": d.loss_fn_inputs["target_tokens"],
                                  "weights": [w / n for w in d.loss_fn_inputs["weights"]]}) for d in batch]


def run_sft(cfg: SFTConfig, tasks: Sequence[Task] | None = None, demo: Policy | None = None,
            engine=None, progress: bool = True) -> dict:
    """Train, write the run records, return the final checkpoint row."""
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.engines.registry import make_engine
    from tinker_explorer.policies.registry import get_policy
    tasks = list(tasks) if tasks is not None else load_tasks(cfg.tasks)
    if not tasks:
        raise UserError(f"{cfg.tasks}: no tasks")
    records = RunRecords(cfg.run_dir, cfg)
    engine = engine or make_engine(cfg.engine, model=cfg.model, lora_rank=cfg.lora_rank, seed=cfg.seed,
                                   frozen_prompt=cfg.frozen_prompt, **engine_options(cfg.engine, cfg.base_url, cfg.dtype))
    if hasattr(engine, "save_dir"):
        engine.save_dir = Path(cfg.run_dir) / "checkpoints"
    llm = LLMPolicy(engine, system_prompt=cfg.system_prompt)
    demo = demo or get_policy(cfg.demo_policy)
    env_cfg = EnvConfig(budget=cfg.budget, max_steps=cfg.max_steps, reward=RewardConfig("f1"))
    t0 = time.perf_counter()
    demos = demonstrations(demo, llm, tasks, cfg.episodes, env_cfg, seed=cfg.seed, min_f1=cfg.min_f1)
    datums = [d for turns in demos for d in episode_datums(turns, "cross_entropy")]
    if not datums:
        raise UserError("no demonstrations to train on (lower --min-f1 or use more episodes)")
    print(f"sft: {len(demos)} demonstrations, {len(datums)} turns, "
          f"{sum(d.n_trained for d in datums)} action tokens ({time.perf_counter() - t0:.1f} s)")
    rng = np.random.default_rng(cfg.seed)
    n_batches = (len(datums) + cfg.batch_size - 1) // cfg.batch_size
    step = 0
    bar = None
    if progress:
        from tinker_explorer.console import tqdm
        bar = tqdm(total=cfg.epochs * n_batches, desc="sft", unit="step")
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(datums))
        for b in range(n_batches):
            batch = [datums[i] for i in order[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            t1 = time.perf_counter()
            fb, op = engine.forward_backward_optim(normalized(batch), "cross_entropy", AdamParams(cfg.lr))
            n_tok = sum(len(d.model_input) for d in batch)
            dt = time.perf_counter() - t1
            records.log_metrics(step, {"epoch": epoch, "loss": fb.loss, "action_tokens": fb.n_tokens,
                                       "tokens": n_tok, "train_seconds": dt,
                                       "train_tokens_per_s": n_tok / dt if dt else None, **op})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{fb.loss:.3f}")
            step += 1
    if bar is not None:
        bar.close()
    engine.refresh_sampler()
    name = "final"
    path = engine.save_state(name)
    sampler = engine.save_sampler_weights(name + "_sampler")
    records.log_checkpoint(step - 1, name, path, sampler_path=sampler, kind="sft")
    print(f"sft: saved {path}")
    return records.last_checkpoint()
