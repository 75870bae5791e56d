import argparse
import io

from tinker_explorer.cli import build_parser
from tinker_explorer.console import LineProgress, tqdm


def _all_parsers(p):
    yield p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for child in set(a.choices.values()):
                yield from _all_parsers(child)


def test_progress_off_a_terminal_is_a_few_plain_lines():
    out = io.StringIO()  # not a terminal
    bar = tqdm(total=1000, desc="eval heuristic", unit="task", file=out)
    assert isinstance(bar, LineProgress)
    for _ in range(1000):
        bar.update(1)
    bar.set_postfix_str("hotpotqa / heuristic")
    bar.set_postfix(f1="0.725")
    bar.close()
    bar.close()
    text = out.getvalue()
    assert "\r" not in text and text.count("\n") == 1  # updates within the interval print nothing; close prints once
    assert text.startswith("eval heuristic: 1000/1000 task in ") and text.rstrip().endswith("(f1=0.725)")


def test_progress_lines_are_periodic_and_wrap_iterables():
    out = io.StringIO()
    seen = list(LineProgress(range(3), desc="states", unit="task", file=out, interval_s=0.0))
    assert seen == [0, 1, 2]
    assert [line.split(" in ")[0] for line in out.getvalue().splitlines()] == [
        "states: 1/3 task", "states: 2/3 task", "states: 3/3 task"]  # the last one once, at close
    quiet = io.StringIO()
    bar = tqdm(total=3, desc="x", file=quiet, disable=True)
    bar.update(3)
    bar.close()
    assert quiet.getvalue() == ""


def test_every_help_shows_each_default_at_most_once():
    for p in _all_parsers(build_parser()):
        text = p.format_help()
        assert "(default: None)" not in text, p.prog
        for a in p._actions:
            h = p._get_formatter()._expand_help(a) if a.help else ""
            assert h.lower().count("default") <= 1, (p.prog, h)
