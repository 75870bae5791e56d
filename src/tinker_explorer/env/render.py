"""State -> prompt text. The status line says exactly what happened (the original system
found that a misleading status line cost accuracy; `misleading_status` exists only so the
ablation harness can test that claim)."""

from __future__ import annotations

from tinker_explorer.env.types import ChunkView

ACTION_HELP = ("Reply with exactly one action: OPEN <id> to read a chunk, "
               "SUMMARIZE: <notes> to replace the opened texts by your notes, "
               "or ANSWER: <short exact answer>.")


def render(question: str, chunks: tuple[ChunkView, ...], notes: str, budget: int, budget_left: int,
           steps_left: int, status: str) -> str:
    lines = [f"Question: {question}", "", "Chunks (id | tokens | preview):"]
    for c in chunks:
        mark = " [opened]" if c.opened else ""
        lines.append(f"[{c.id}] ({c.n_tokens} tok){mark} {c.preview}")
    opened = [c for c in chunks if c.text is not None]
    if opened:
        lines += ["", "Opened:"]
        for c in opened:
            lines.append(f"[{c.id}] {c.title}: {c.text}")
    if notes:
        lines += ["", f"Notes: {notes}"]
    lines += ["", f"Status: {status} Budget left: {budget_left}/{budget} tokens. Steps left: {steps_left}.",
              ACTION_HELP]
    return "\n".join(lines)
