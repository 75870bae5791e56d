"""Terminal output shared by every command: progress reporting and `--help` formatting.

``tqdm(...)`` is a drop-in for ``tqdm.tqdm``: a live bar when stderr is a terminal, and
otherwise (a log file, a pipe, CI) a plain line every ``LINE_INTERVAL_S`` seconds and one at the
end, so that logs hold a few readable lines instead of thousands of carriage-return updates.
"""

from __future__ import annotations

import argparse
import sys
import time

LINE_INTERVAL_S = 30.0


def _interactive(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class LineProgress:
    """The subset of ``tqdm``'s interface the commands use, printed as periodic plain lines."""

    def __init__(self, iterable=None, total: int | None = None, desc: str = "", unit: str = "it",
                 initial: int = 0, file=None, interval_s: float = LINE_INTERVAL_S, disable: bool = False,
                 **_ignored):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc, self.unit, self.n = desc, unit, initial
        self.file = file if file is not None else sys.stderr
        self.interval_s = interval_s
        self.postfix = ""
        self.t0 = self.last = time.monotonic()
        self.closed = disable  # a disabled bar prints nothing

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self):
        for x in self.iterable:
            yield x
            self.update(1)
        self.close()

    def set_postfix(self, **kw) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        done = self.total is not None and self.n >= self.total  # close() prints the last line
        if not self.closed and not done and now - self.last >= self.interval_s:
            self.last = now
            self._line()

    def _line(self) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        tail = f" ({self.postfix})" if self.postfix else ""
        print(f"{self.desc}: {self.n}{of} {self.unit} in {time.monotonic() - self.t0:.0f} s{tail}",
              file=self.file, flush=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line()


def tqdm(iterable=None, **kw):
    """A progress bar on a terminal, periodic plain lines elsewhere (see the module docstring)."""
    stream = kw.get("file") or sys.stderr
    if _interactive(stream):
        from tqdm import tqdm as bar
        return bar(iterable, **kw)
    return LineProgress(iterable, **kw)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default once: not when there is none (None, False) or when the help text
    already says what the default is."""

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS) or not text:
            return text
        return super()._get_help_string(action)


def use_help_formatter(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every sub-command parser below it :class:`HelpFormatter` (a parser that
    chose a raw-text formatter keeps it)."""
    if parser.formatter_class in (argparse.HelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                use_help_formatter(child)
