"""Model text -> :class:`Action`. Tolerant of case, whitespace, markdown and prose; never raises.

Accepted forms (the first action found wins; a later one is ignored):
  ``OPEN 3`` / ``open(3)`` / ``Open chunk [3]`` / ``**OPEN** #3``
  ``SUMMARIZE: notes ...`` (the notes run to the end of the text)
  ``ANSWER: Missoula, Montana`` (the answer runs to the end of its line)
Thinking blocks (``<think>...</think>``) are removed first.
"""

from __future__ import annotations

import re

from tinker_explorer.env.types import Action, ActionKind

MAX_ANSWER_CHARS = 200
MAX_ID_DIGITS = 9  # a chunk id longer than this is no pool's; int() of thousands of digits raises

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
_MARKUP = re.compile(r"[*_`#>]+")
_KEYWORD = re.compile(r"\b(open|summari[sz]e|answer)\b", re.I)
_OPEN_ARG = re.compile(r"^\s*(?:chunk|doc(?:ument)?|paragraph|id)?\s*[:=(\[#]*\s*(-?\d+)", re.I)
_SPLIT_ARG = re.compile(r"^\s*(?:\(|:|=|-|is\b)?\s*", re.I)


_WRAPPERS = {"[": "]", "(": ")", "{": "}", "<": ">"}


def _clean_answer(s: str) -> str:
    """Drop quotes, a final full stop, and brackets that wrap the whole answer."""
    while True:
        before = s
        s = s.strip(" \t\"'“”‘’").rstrip(".").strip()
        if len(s) >= 2 and _WRAPPERS.get(s[0]) == s[-1]:
            s = s[1:-1]
        if s == before:
            return s


def strip_thinking(text: str) -> str:
    return _THINK.sub("", text)


def parse_action(text: str | None) -> Action:
    """Parse one model output into an action; malformed text gives a PARSE_ERROR action."""
    if text is None:
        return Action.parse_error("empty output", raw=text)
    raw = text
    clean = _MARKUP.sub(" ", strip_thinking(text))
    if not clean.strip():
        return Action.parse_error("empty output", raw=raw)
    for m in _KEYWORD.finditer(clean):
        word = m.group(1).lower()
        rest = clean[m.end():]
        if word == "open":
            arg = _OPEN_ARG.match(rest)
            if arg:
                digits = arg.group(1).lstrip("-")
                if len(digits) > MAX_ID_DIGITS:
                    return Action.parse_error(f"chunk id of {len(digits)} digits", raw=raw)
                n = int(arg.group(1))
                if n < 0:
                    return Action.parse_error(f"negative chunk id {n}", raw=raw)
                return Action(ActionKind.OPEN, chunk=n, raw=raw)
            continue  # "open" used as an ordinary word; look for a later keyword
        body = _SPLIT_ARG.sub("", rest, count=1)
        if word.startswith("summar"):
            notes = body.strip()
            if not notes:
                return Action.parse_error("SUMMARIZE without notes", raw=raw)
            return Action(ActionKind.SUMMARIZE, text=notes, raw=raw)
        # answer: to the end of its line, quotes/brackets and a final full stop removed
        line = body.strip().splitlines()[0].strip() if body.strip() else ""
        line = _clean_answer(line)
        if not line:
            continue  # "the answer" in prose, no content after it
        if len(line) > MAX_ANSWER_CHARS:
            return Action.parse_error(f"answer longer than {MAX_ANSWER_CHARS} characters", raw=raw)
        return Action(ActionKind.ANSWER, text=line, raw=raw)
    return Action.parse_error("no OPEN <id>, SUMMARIZE: <notes> or ANSWER: <text> found", raw=raw)
