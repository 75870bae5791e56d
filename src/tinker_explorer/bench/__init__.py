"""`tinker-explorer bench NAME`: the benchmarks behind the numbers in the README and docs.

Each module here has ``HELP`` (one line), ``DESCRIPTION`` (what it measures and writes),
``add_arguments(parser)`` and ``run(args) -> int``; ``python -m tinker_explorer.bench.NAME`` runs
the same thing. Benchmarks print numbers and write their tables under ``runs/bench/`` unless told
otherwise (``--out``); tests stay fast and separate.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ("compact_acceptance", "budget_sweep", "cross_dataset", "pool_scaling", "fault_injection",
              "devlike_holdout")


def configure(parser: argparse.ArgumentParser, module) -> argparse.ArgumentParser:
    """Fill ``parser`` from a benchmark module: its description, arguments and ``run``."""
    title, example = module.__doc__.split("\n\n", 1)
    parser.description, parser.epilog = title, f"{module.DESCRIPTION}\n\nExample:\n\n{example.rstrip()}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)
    return parser


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks: the numbers quoted in the README and docs",
                       description=__doc__.split("\n\n")[0],
                       epilog="`tinker-explorer bench NAME --help` says what NAME measures, how long it takes "
                              "and what it writes.")
    bsub = p.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    for name in BENCHMARKS:
        mod = importlib.import_module(f"{__name__}.{name}")
        configure(bsub.add_parser(name.replace("_", "-"), help=mod.HELP), mod)
