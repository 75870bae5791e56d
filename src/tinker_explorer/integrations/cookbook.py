"""ExplorerEnv through tinker-cookbook's RL types, so ``tinker_cookbook.rl.train`` can train on our tasks.

``pip install tinker-explorer[cookbook]``. One cookbook ``Env`` is one episode of :class:`ExplorerEnv`
on one task: each observation is the model's chat template over ``[system prompt, observation text]``
(the environment renders the whole state every turn, so each turn starts a new datum in the
cookbook's loop); the sampled tokens are decoded and parsed with the environment's own parser, and
the environment's reward is the step reward. ``ExplorerGroupBuilder`` makes ``group_size`` copies of
one task (a GRPO group); ``ExplorerDatasetBuilder`` reads a task file.

The system prompt is passed in as text (``tinker_explorer.policies.prompts`` holds the project's);
the tokenizer is loaded by name with the cookbook's ``get_tokenizer`` (a hub id or a local folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import chz
import tinker
from tinker_cookbook.rl.types import (
    Env,
    EnvGroupBuilder,
    RLDataset,
    RLDatasetBuilder,
    StepResult,
    StopReason,
)

from tinker_explorer.data.schema import Task, load_tasks
from tinker_explorer.env.explorer import EnvConfig, ExplorerEnv
from tinker_explorer.env.parser import parse_action, strip_thinking
from tinker_explorer.env.rewards import RewardConfig
from tinker_explorer.errors import UserError


class CookbookExplorerEnv(Env):
    """One episode of ExplorerEnv on ``task``, in tokens."""

    def __init__(self, task: Task, tokenizer, env_config: EnvConfig, system_prompt: str):
        self.task, self.tokenizer, self.system_prompt = task, tokenizer, system_prompt
        self.env = ExplorerEnv(env_config)
        eos = tokenizer.eos_token_id
        self.stop = [eos] if eos is not None else []

    def _prompt(self, text: str) -> tinker.ModelInput:
        msgs = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": text}]
        rendered = self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return tinker.ModelInput.from_ints(list(self.tokenizer.encode(rendered, add_special_tokens=False)))

    async def initial_observation(self):
        return self._prompt(self.env.reset(self.task).text), self.stop

    async def step(self, action, *, extra=None) -> StepResult:
        text = strip_thinking(self.tokenizer.decode(list(action), skip_special_tokens=True))
        act = parse_action(text)
        res = self.env.step(act)
        metrics = {"tokens_read": float(res.info["tokens_read"])} if res.done else {}
        if res.done:
            answered = res.info.get("stop_reason") == "answered"
            metrics[f"stop/{(StopReason.COMPLETED if answered else StopReason.MAX_TURNS).value}"] = 1.0
        nxt = tinker.ModelInput.empty() if res.done else self._prompt(res.observation.text)
        return StepResult(reward=float(res.reward), episode_done=res.done, next_observation=nxt,
                          next_stop_condition=self.stop, metrics=metrics,
                          logs={"action": act.to_text()[:200]})


@dataclass(frozen=True)
class ExplorerGroupBuilder(EnvGroupBuilder):
    """``group_size`` episodes of one task; picklable (the tokenizer is loaded in ``make_envs``)."""

    task: Task
    group_size: int
    model_name: str
    system_prompt: str
    budget: int = 2000
    max_steps: int = 10
    reward: str = "f1"

    async def make_envs(self) -> Sequence[Env]:
        from tinker_cookbook.tokenizer_utils import get_tokenizer
        tok = get_tokenizer(self.model_name)
        cfg = EnvConfig(budget=self.budget, max_steps=self.max_steps, reward=RewardConfig(self.reward))
        return [CookbookExplorerEnv(self.task, tok, cfg, self.system_prompt) for _ in range(self.group_size)]

    def logging_tags(self) -> list[str]:
        return ["explorer", self.task.type]


class ExplorerDataset(RLDataset):
    """Consecutive batches of ``batch_size`` tasks (the task file's order)."""

    def __init__(self, builders: list[ExplorerGroupBuilder], batch_size: int):
        self.builders, self.batch_size = builders, batch_size

    def get_batch(self, index: int) -> Sequence[EnvGroupBuilder]:
        return self.builders[index * self.batch_size:(index + 1) * self.batch_size]

    def __len__(self) -> int:
        return len(self.builders) // self.batch_size


@chz.chz
class ExplorerDatasetBuilder(RLDatasetBuilder):
    """The cookbook's dataset builder for a task file (JSONL of :class:`Task`)."""

    tasks_path: str
    model_name: str
    system_prompt: str
    batch_size: int = 8
    group_size: int = 16
    n_tasks: int | None = None
    budget: int = 2000
    max_steps: int = 10
    reward: str = "f1"

    async def __call__(self) -> tuple[RLDataset, RLDataset | None]:
        tasks = load_tasks(self.tasks_path, limit=self.n_tasks)
        if len(tasks) < self.batch_size:
            raise UserError(f"{self.tasks_path}: {len(tasks)} tasks, fewer than one batch of {self.batch_size}")
        builders = [ExplorerGroupBuilder(t, self.group_size, self.model_name, self.system_prompt, self.budget,
                                         self.max_steps, self.reward) for t in tasks]
        return ExplorerDataset(builders, self.batch_size), None
