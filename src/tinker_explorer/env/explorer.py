"""ExplorerEnv: read a pool of chunks under a token budget, then answer.

Contract (Gymnasium-style, one episode at a time):

    env = ExplorerEnv(EnvConfig())
    obs = env.reset(task)
    while True:
        result = env.step(policy_action)
        if result.done: break   # terminated (answered) or truncated (step limit)
        obs = result.observation

Rules:
- ``OPEN i`` pays chunk i's tokens from the budget. An open that would exceed the budget
  is refused (nothing is read, nothing paid) and the next status line says so; it never
  truncates. Re-opening a chunk already paid for costs nothing and says so (after a
  SUMMARIZE this brings its text back into the context).
- ``SUMMARIZE: notes`` replaces every opened text in the context by the notes. Free.
- ``ANSWER: text`` ends the episode; the reward function scores it.
- A parse error costs a step and is counted.
- Every action costs one step; after ``max_steps`` steps without an answer the episode
  ends with no answer (StopReason.MAX_STEPS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinker_explorer.data.schema import Task
from tinker_explorer.env.render import render
from tinker_explorer.env.rewards import EpisodeOutcome, RewardConfig, get_reward
from tinker_explorer.env.types import Action, ActionKind, ChunkView, Observation, StepResult, StopReason
from tinker_explorer.errors import UserError

MISLEADING_STATUS = "OK."  # what the original's buggy status line said whatever happened


@dataclass(frozen=True)
class EnvConfig:
    budget: int = 2000  # reading budget in data.tokens units
    max_steps: int = 10
    reward: RewardConfig = field(default_factory=RewardConfig)
    honest_status: bool = True  # False reproduces the original's uninformative status line (ablation only)


def gold_answers(task: Task) -> tuple[str, ...]:
    return (task.answer, *task.meta.get("answer_aliases", ()))


class ExplorerEnv:
    def __init__(self, config: EnvConfig | None = None):
        self.config = config or EnvConfig()
        if self.config.budget < 0 or self.config.max_steps < 1:
            raise UserError("budget must be >= 0 and max_steps >= 1")
        self._reward_fn = get_reward(self.config.reward.name)
        self.task: Task | None = None

    # ---- episode state -------------------------------------------------------------
    def reset(self, task: Task) -> Observation:
        self.task = task
        self.step_count = 0
        self.tokens_read = 0
        self.opened: list[int] = []  # paid-for chunk ids, in order
        self.visible: set[int] = set()  # opened chunks whose text is in the context
        self.notes = ""
        self.answer: str | None = None
        self.n_parse_errors = 0
        self.done = False
        self.stop_reason: StopReason | None = None
        self.status = "Episode started."
        return self._observe()

    @property
    def budget_left(self) -> int:
        return self.config.budget - self.tokens_read

    def step(self, action: Action) -> StepResult:
        if self.task is None or self.done:
            raise RuntimeError("call reset(task) before step(); the episode is over")
        self.step_count += 1
        cost = 0
        kind = action.kind
        if kind is ActionKind.OPEN:
            cost = self._open(action.chunk)
        elif kind is ActionKind.SUMMARIZE:
            self.notes = (action.text or "").strip()
            self.visible.clear()
            self.status = "Opened texts replaced by your notes."
        elif kind is ActionKind.ANSWER:
            self.answer = (action.text or "").strip()
            self.done, self.stop_reason = True, StopReason.ANSWERED
            self.status = "Answered."
        else:
            self.n_parse_errors += 1
            self.status = f"Could not parse your action ({action.text}); nothing happened."
        if not self.done and self.step_count >= self.config.max_steps:
            self.done, self.stop_reason = True, StopReason.MAX_STEPS
            self.status = "Step limit reached without an answer."
        reward = self._reward() if self.done else 0.0
        info = {"cost": cost, "status": self.status, "tokens_read": self.tokens_read}
        if self.done:
            info["stop_reason"] = self.stop_reason.value
        return StepResult(self._observe(), reward, terminated=self.stop_reason is StopReason.ANSWERED,
                          truncated=self.stop_reason is StopReason.MAX_STEPS, info=info)

    def _open(self, i: int | None) -> int:
        assert self.task is not None
        n = len(self.task.chunks)
        if i is None or not 0 <= i < n:
            self.status = f"There is no chunk {i}; ids are 0..{n - 1}. Nothing read."
            return 0
        chunk = self.task.chunks[i]
        if i in self.opened:
            self.visible.add(i)
            self.status = f"Chunk {i} was already opened; shown again at no cost."
            return 0
        if chunk.n_tokens > self.budget_left:
            self.status = (f"Refused: chunk {i} costs {chunk.n_tokens} tokens but only "
                           f"{self.budget_left} are left. Nothing read.")
            return 0
        self.opened.append(i)
        self.visible.add(i)
        self.tokens_read += chunk.n_tokens
        self.status = f"Opened chunk {i} ({chunk.n_tokens} tokens)."
        return chunk.n_tokens

    def pool(self) -> list[dict]:
        """The chunk pool as a policy sees it at the start (no gold flags): id, title, tokens, preview."""
        assert self.task is not None
        return [{"id": c.id, "title": c.title, "tokens": c.n_tokens, "preview": c.preview} for c in self.task.chunks]

    def read_texts(self) -> dict[str, str]:
        """The text of every chunk paid for so far, by id (string keys, as JSON writes them)."""
        assert self.task is not None
        return {str(i): self.task.chunks[i].text for i in self.opened}

    def outcome(self) -> EpisodeOutcome:
        assert self.task is not None
        return EpisodeOutcome(answer=self.answer, gold_answers=gold_answers(self.task),
                              tokens_read=self.tokens_read, budget=self.config.budget,
                              n_steps=self.step_count, n_parse_errors=self.n_parse_errors,
                              n_opens=len(self.opened))

    def _reward(self) -> float:
        return float(self._reward_fn(self.outcome(), self.config.reward))

    def _observe(self) -> Observation:
        assert self.task is not None
        views = tuple(
            ChunkView(id=c.id, title=c.title, preview=c.preview, n_tokens=c.n_tokens,
                      text=c.text if c.id in self.visible else None, opened=c.id in self.opened)
            for c in self.task.chunks)
        steps_left = self.config.max_steps - self.step_count
        status = self.status if self.config.honest_status else MISLEADING_STATUS
        text = render(self.task.question, views, self.notes, self.config.budget, self.budget_left,
                      steps_left, status)
        return Observation(text=text, question=self.task.question, chunks=views, notes=self.notes,
                           budget=self.config.budget, budget_left=self.budget_left,
                           steps_left=steps_left, status=status, step=self.step_count)
