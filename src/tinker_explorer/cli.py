"""`tinker-explorer`: one command, with subcommands contributed by the subsystems.

Each module in COMMAND_MODULES has ``register(subparsers)`` which adds its subcommands
and sets ``func`` on them; every parser gets the shared help formatter. A :class:`UserError` is printed as one line (exit 2), never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from tinker_explorer import __version__
from tinker_explorer.console import use_help_formatter
from tinker_explorer.errors import UserError

COMMAND_MODULES = (
    "tinker_explorer.experiments.demo",  # demo: the offline main job
    "tinker_explorer.data.cli",  # data build, inspect
    "tinker_explorer.eval.cli",  # eval, eval --compare
    "tinker_explorer.train.cli",  # train sft, train grpo
    "tinker_explorer.report.cli",  # report, view
    "tinker_explorer.experiments.leaves",  # leaves run / summary
    "tinker_explorer.bench",  # bench NAME: the benchmarks behind the docs' numbers
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tinker-explorer",
        description="Learn what to read under a token budget: multi-hop QA agents that open evidence "
                    "chunks, summarise and answer, trained with GRPO (Tinker cloud or local).",
        epilog="Start with `tinker-explorer demo` (offline, a few minutes), then "
               "`tinker-explorer data build --source 2wiki --input DIR --out data_out/2wiki`.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMAND_MODULES:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name and mod.startswith(e.name):  # subsystem not present in this build
                continue
            raise
        m.register(sub)
    use_help_formatter(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = f"tinker-explorer {shlex.join(argv)}"  # what benchmarks record with their numbers
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"tinker-explorer: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tinker-explorer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, files are written
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
