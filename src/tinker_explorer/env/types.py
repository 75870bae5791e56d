"""Protocol types the whole system is built from.

An episode is Gymnasium-shaped: ``obs = env.reset(task)``, then
``result = env.step(action)`` until ``result.done`` (``terminated``: answered;
``truncated``: cut off by the step limit). Policies see an
:class:`Observation` (rendered prompt text + a structured view without any gold
information) and return an :class:`Action`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class ActionKind(str, Enum):
    OPEN = "open"
    SUMMARIZE = "summarize"
    ANSWER = "answer"
    PARSE_ERROR = "parse_error"  # model text that is no valid action: costs a step, never raises


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    chunk: int | None = None  # OPEN
    text: str | None = None  # SUMMARIZE notes / ANSWER text / PARSE_ERROR reason
    raw: str | None = None  # the model text this was parsed from, when there was one

    @staticmethod
    def open(chunk: int) -> "Action":
        return Action(ActionKind.OPEN, chunk=int(chunk))

    @staticmethod
    def summarize(notes: str) -> "Action":
        return Action(ActionKind.SUMMARIZE, text=notes)

    @staticmethod
    def answer(text: str) -> "Action":
        return Action(ActionKind.ANSWER, text=text)

    @staticmethod
    def parse_error(reason: str, raw: str | None = None) -> "Action":
        return Action(ActionKind.PARSE_ERROR, text=reason, raw=raw)

    def to_text(self) -> str:
        """The canonical action string the parser reads back (used for demonstrations)."""
        if self.kind is ActionKind.OPEN:
            return f"OPEN {self.chunk}"
        if self.kind is ActionKind.SUMMARIZE:
            return f"SUMMARIZE: {self.text}"
        if self.kind is ActionKind.ANSWER:
            return f"ANSWER: {self.text}"
        return self.raw or ""

    def to_json(self) -> dict:
        return {"kind": self.kind.value, "chunk": self.chunk, "text": self.text, "raw": self.raw}


class StopReason(str, Enum):
    ANSWERED = "answered"
    MAX_STEPS = "max_steps"  # step cap reached without an answer


@dataclass(frozen=True)
class ChunkView:
    """What a policy may know about a chunk: never its gold flag; full text only once opened."""

    id: int
    title: str
    preview: str
    n_tokens: int
    text: str | None = None  # set while the chunk's text is in the context (opened, not summarised away)
    opened: bool = False  # paid for (stays True after SUMMARIZE)


@dataclass(frozen=True)
class Observation:
    text: str  # the rendered prompt: what an LLM reads
    question: str
    chunks: tuple[ChunkView, ...]
    notes: str
    budget: int
    budget_left: int
    steps_left: int
    status: str  # what the last action did, in words
    step: int

    @property
    def opened_ids(self) -> list[int]:
        return [c.id for c in self.chunks if c.opened]


@dataclass(frozen=True)
class StepResult:
    observation: Observation
    reward: float  # 0 until the episode ends; then the reward function's value
    terminated: bool  # the episode reached its end: an answer
    truncated: bool  # the episode was cut off: the step limit, without an answer
    info: dict = field(default_factory=dict)  # cost, status, stop_reason, ...

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@dataclass
class Transition:
    """One step of a trajectory: the observation the action was chosen on (its text, and its
    structure: which chunks were paid for, which texts were in view), the action and its effect."""

    observation: str
    action: dict
    cost: int
    status: str  # what the action did, in words
    reward: float
    seconds: float
    opened: list[int] = field(default_factory=list)  # chunk ids paid for before the action
    visible: list[int] = field(default_factory=list)  # chunk ids whose text the observation showed
    budget_left: int | None = None
    steps_left: int | None = None

    @classmethod
    def record(cls, obs: Observation, action: Action, result: StepResult, seconds: float,
               keep_text: bool = True) -> "Transition":
        return cls(observation=obs.text if keep_text else "", action=action.to_json(), cost=result.info["cost"],
                   status=result.info["status"], reward=result.reward, seconds=seconds,
                   opened=obs.opened_ids, visible=[c.id for c in obs.chunks if c.text is not None],
                   budget_left=obs.budget_left, steps_left=obs.steps_left)


@dataclass
class Trajectory:
    """A finished episode: what was seen and done, and how it scored. One JSONL line each."""

    task_id: str
    task_type: str
    policy: str
    question: str
    gold_answer: str
    gold_ids: list[int]
    steps: list[Transition]
    answer: str | None
    stop_reason: str
    opened: list[int]  # in order of opening
    tokens_read: int
    n_parse_errors: int
    reward: float
    f1: float
    em: float
    seed: int
    budget: int
    seconds: float
    pool: list[dict] = field(default_factory=list)  # the chunks as a policy saw them: id, title, tokens, preview
    texts: dict[str, str] = field(default_factory=dict)  # text of each chunk paid for, by id
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Trajectory":
        """Also reads files written before ``pool``/``texts``, which kept only the chunk titles."""
        d = dict(d)
        titles = d.pop("chunk_titles", None)
        if titles and not d.get("pool"):
            d["pool"] = [{"id": i, "title": t, "tokens": None, "preview": ""} for i, t in enumerate(titles)]
        d["steps"] = [Transition(**s) for s in d["steps"]]
        return cls(**d)
