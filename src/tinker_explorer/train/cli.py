"""CLI: `train sft` (LLM warm-start) and `train grpo` (--policy llm | compact).

Shared flags default to None and are filled per policy, so `--policy compact` can keep its
own defaults; the LLM defaults are the original system's (see GRPOConfig).
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from tinker_explorer.errors import UserError

SHARED = ("tasks", "val", "run_dir", "steps", "group_size", "batch_size", "lr", "reward", "seed", "budget")


def _shared(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", default=None, help="training task file (JSONL)")
    p.add_argument("--val", default=None, help="validation task file (greedy eval at checkpoints)")
    p.add_argument("--run-dir", default=None, help="run directory (default runs/<name>/)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: llm 100, compact 80)")
    p.add_argument("--group-size", type=int, default=None,
                   help="episodes per task, the GRPO group (default: llm 16, compact 8)")
    p.add_argument("--batch-size", type=int, default=None, help="tasks per step (default: llm 8, compact 16)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: llm 5e-6 for GRPO, 1e-4 for SFT; compact 0.003)")
    p.add_argument("--reward", default=None, help="f1 | em | shaped (default: llm f1, compact shaped)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of every random choice (task draws, sampling, initial weights); default 0")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    p.add_argument("--budget", type=int, default=None, help="reading budget in tokens (default 2000)")


def _llm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("tinker", "local"), default=None, help="llm: training engine (local)")
    p.add_argument("--model", default=None, help="llm: base model (Qwen/Qwen3-8B on tinker, SmolLM2-135M locally)")
    p.add_argument("--lora-rank", type=int, default=None, help="llm: LoRA rank (32)")
    p.add_argument("--max-steps", type=int, default=None, help="episode step cap (10)")
    p.add_argument("--system-prompt", default=None, help="llm: default | short (policies/prompts.py)")
    p.add_argument("--base-url", default=None,
                   help="llm, tinker engine: a Tinker-API server (e.g. self-hosted SkyRL) instead of Tinker cloud")
    p.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default=None,
                   help="llm, local engine: type of the base weights, the same for sampler and learner "
                        "(auto: bfloat16 on CUDA, float32 on CPU; bfloat16 is faster on CPUs with AVX512_BF16)")
    p.add_argument("--frozen-prompt", action="store_true", default=None,
                   help="llm, local engine: no gradient through prompt tokens (~3x faster on CPU; "
                        "not Tinker's exact gradient)")


def register(sub) -> None:
    t = sub.add_parser("train", help="train an agent: sft | grpo")
    tsub = t.add_subparsers(dest="train_command", metavar="{sft,grpo}")

    s = tsub.add_parser("sft", help="LLM warm-start: cross-entropy on heuristic demonstrations")
    _shared(s)
    _llm(s)
    s.add_argument("--episodes", type=int, default=None, help="demonstration episodes (450)")
    s.add_argument("--epochs", type=int, default=None, help="passes over the demonstrations (1)")
    s.add_argument("--demo-policy", default=None, help="policy that demonstrates (heuristic)")
    s.add_argument("--min-f1", type=float, default=None, help="keep demonstrations with at least this F1 (0)")
    s.set_defaults(func=cmd_sft)

    g = tsub.add_parser("grpo", help="GRPO: the LLM agent (tinker/local engine) or the compact policy")
    g.add_argument("--policy", choices=("llm", "compact"), default="llm")
    _shared(g)
    _llm(g)
    g.add_argument("--init", default=None, help="llm: start from this checkpoint (SFT state or run dir)")
    g.add_argument("--loss", choices=("importance_sampling", "ppo"), default=None, help="llm: policy loss")
    g.add_argument("--normalize-std", action="store_true", default=None,
                   help="llm: divide advantages by the group std")
    g.add_argument("--max-tokens", type=int, default=None, help="llm: max sampled tokens per turn (64)")
    g.add_argument("--temperature", type=float, default=None, help="llm: sampling temperature of the rollouts; training accepts only 1.0 (the "
                        "recorded log-probabilities are the temperature-1 ones the learner computes)")
    g.add_argument("--save-every", type=int, default=None, help="llm: keep a checkpoint every N steps (10)")
    try:
        from tinker_explorer.policies.compact.config import add_arguments
        add_arguments(g)
    except ModuleNotFoundError:
        pass  # the compact policy is not part of this build
    g.set_defaults(func=cmd_grpo)
    t.set_defaults(func=lambda args: (t.print_help(), 1)[1])


def _fill(cfg_cls, args, name: str, extra: dict):
    """Build a config dataclass from the flags that were given (None = keep the default).
    With --resume, the run's own config.json is the base (a bare `--resume` continues it as started)
    and a flag that contradicts it is refused."""
    from tinker_explorer.records import restore_config
    names = {f.name for f in fields(cfg_cls)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    given.update({k: v for k, v in extra.items() if v is not None})
    run_dir = getattr(args, "run_dir", None) or f"runs/{name}"
    if getattr(args, "resume", False):
        saved = restore_config(run_dir, {k: (f"--{k.replace('_', '-')}", v) for k, v in given.items()})
        kw = {k: v for k, v in saved.items() if k in names}
    else:
        kw = given
    kw.setdefault("run_dir", run_dir)
    return cfg_cls(**kw)


def cmd_sft(args) -> int:
    from tinker_explorer.train.sft import SFTConfig, run_sft
    if args.resume:
        raise UserError("train sft has no --resume (it is short); start it again with a new --run-dir")
    cfg = _fill(SFTConfig, args, "llm_sft", {})
    _check_positive(cfg, ("episodes", "epochs", "batch_size"))
    run_sft(cfg)
    return 0


# flags that only one policy reads: given to the other, they are refused (never silently ignored)
LLM_ONLY = ("engine", "model", "lora_rank", "system_prompt", "frozen_prompt", "dtype", "init", "loss", "normalize_std",
            "max_tokens", "temperature", "save_every")
COMPACT_ONLY = ("warm_epochs", "answer_epochs", "token_cost", "no_warm_start", "no_grpo", "no_heuristic_features",
                "no_parser", "no_rerank", "time_limit", "init_from", "eval_every")


def _refuse_other_policys_flags(args) -> None:
    other = LLM_ONLY if args.policy == "compact" else COMPACT_ONLY
    for dest in other:
        if getattr(args, dest, None) not in (None, False):
            owner = "llm" if args.policy == "compact" else "compact"
            raise UserError(f"--{dest.replace('_', '-')} is an option of --policy {owner}; "
                            f"--policy {args.policy} does not use it")


def cmd_grpo(args) -> int:
    _refuse_other_policys_flags(args)
    if args.policy == "compact":
        try:
            from tinker_explorer.train.compact import run_grpo_from_args
        except ModuleNotFoundError:
            raise UserError("the compact policy is not part of this build") from None
        return int(run_grpo_from_args(args) or 0)
    from tinker_explorer.train.grpo import GRPOConfig, run_grpo
    cfg = _fill(GRPOConfig, args, "llm_grpo", {})
    _check_positive(cfg, ("steps", "group_size", "batch_size", "max_tokens", "save_every"))
    if cfg.group_size < 2:
        raise UserError("--group-size must be at least 2 (advantages are relative to the group)")
    run_grpo(cfg, resume=args.resume)
    return 0


def _check_positive(cfg, names) -> None:
    for n in names:
        if getattr(cfg, n) <= 0:
            raise UserError(f"--{n.replace('_', '-')} must be positive")
