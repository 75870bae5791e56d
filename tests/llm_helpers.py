"""Shared fixtures for the LLM tests: tiny tasks and a scripted demonstrator, built in code."""

from __future__ import annotations

from tinker_explorer.data.schema import Chunk, Task
from tinker_explorer.env.types import Action
from tinker_explorer.policies.base import SimplePolicy

COLORS = ("red", "blue", "green", "gold")
NAMES = ("Ada", "Bo", "Cy", "Di", "Ed", "Flo")


def tiny_tasks(n: int = 6) -> list[Task]:
    """Two-chunk tasks: chunk 0 states the answer as its last word; chunk 1 is a distractor."""
    out = []
    for i in range(n):
        name, color = NAMES[i % len(NAMES)], COLORS[i % len(COLORS)]
        chunks = (Chunk.make(0, name, f"The car of {name} is {color}", is_gold=True),
                  Chunk.make(1, "Other", f"A tree grows near {name}"))
        out.append(Task(id=f"t{i}", question=f"Car of {name}?", answer=color, type="comparison" if i % 2 else
                        "compositional", chunks=chunks))
    return out


class ScriptedPolicy(SimplePolicy):
    """Stand-in for the heuristic: open chunk 0, then answer its last word."""

    name = "scripted"

    def act(self, obs, rng):
        if not obs.chunks[0].opened:
            return Action.open(0)
        return Action.answer(obs.chunks[0].text.split()[-1])
