"""The compact trainer's settings: the config dataclass, its JSON form and the compact-only flags
of `train grpo --policy compact` (the run identity and the driver are in :mod:`.train`)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from tinker_explorer.env.rewards import RewardConfig
from tinker_explorer.policies.compact.syntax import PARSER_PACKAGE

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
# not part of what a run computes: a safety stop (recorded on the final row when it fires) and evaluation
UNHASHED = ("time_limit_s", "eval_every", "val_tasks_max")


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
