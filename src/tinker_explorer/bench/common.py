"""What the benchmarks share: running a module from ``python -m``, policies from names, one
evaluation of a policy on tasks, output files, and a description of the machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from tinker_explorer.errors import UserError

OUT_DIR = Path("runs/bench")  # default home of every benchmark's output (never docs/)


def main(module, argv: list[str] | None = None) -> int:
    """``python -m tinker_explorer.bench.NAME``: parse, run, print a user error as one line."""
    from tinker_explorer.bench import configure
    full = getattr(module.__spec__, "name", None) or module.__name__  # the real name under `python -m`
    parser = configure(argparse.ArgumentParser(prog=f"python -m {full}"), module)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = f"python -m {full} {shlex.join(argv)}"
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"{full.rsplit('.', 1)[-1]}: error: {e}", file=sys.stderr)
        return 2


def add_run_options(ap, name: str) -> None:
    """The options of the benchmarks that sweep task files: which tasks, budget, seed, threads, output."""
    ap.add_argument("--limit", type=int, default=None, help="first N tasks of each file (default: all)")
    ap.add_argument("--budget", type=int, default=2000, help="reading budget in tokens (default 2000)")
    ap.add_argument("--seed", type=int, default=0, help="episode seed, the same everywhere (default 0)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", default=str(OUT_DIR / name), help="output path without extension")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")


def set_threads(n: int) -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def load_policy(name: str, checkpoint: str | None = None):
    """A policy by registry name; the checkpoint must exist (checked before any episode runs)."""
    from tinker_explorer.policies import get_policy
    if checkpoint is not None and not Path(checkpoint).exists():
        raise UserError(f"{name}: no such checkpoint {checkpoint}")
    return get_policy(name, **({"checkpoint": checkpoint} if checkpoint else {}))


def evaluate(policy, tasks, budget: int = 2000, seed: int = 0, label: str = "") -> tuple[list, dict]:
    """(trajectories, the eval JSON with ``seconds``): ``tinker-explorer eval``'s numbers for one run."""
    from tinker_explorer.env.explorer import EnvConfig
    from tinker_explorer.eval.runner import run_episodes, summarize
    t0 = time.perf_counter()
    trajs = run_episodes(policy, tasks, EnvConfig(budget=budget), seed=seed, record_observations=False)
    return trajs, summarize(trajs, policy=label, extra={"seconds": time.perf_counter() - t0})


def fmt_ci(c: dict, digits: int = 3) -> str:
    """``+0.012 [-0.010, +0.034]`` from a paired comparison."""
    return f"{c['diff']:+.{digits}f} [{c['ci'][0]:+.{digits}f}, {c['ci'][1]:+.{digits}f}]"


def write(out: str | Path, md: str | None = None, data: dict | None = None) -> list[Path]:
    """Write ``<out>.md`` and ``<out>.json`` (folders made); the paths written."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    if md is not None:
        paths.append(out.with_suffix(".md"))
        paths[-1].write_text(md if md.endswith("\n") else md + "\n")
    if data is not None:
        paths.append(out.with_suffix(".json"))
        paths[-1].write_text(json.dumps(data, indent=1) + "\n")
    return paths


def machine() -> dict:
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        threads = None
    model = ""
    if Path("/proc/cpuinfo").is_file():
        model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), "")
    return {"processor": platform.processor() or platform.machine(), "cpu_model": model,
            "platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": threads,
            "python": platform.python_version()}
