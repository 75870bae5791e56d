"""How the compact policy's answer scorer improves with more training tasks (dev-like split).

    python benchmarks/learning_curve.py                       # sizes 125 250 500 750 1000, 2 draws each
    python benchmarks/learning_curve.py --sizes 250 1000 --draws 3

Each point is one `devlike_holdout.py --oracle-state --train-n N --seed D` run: the answer scorer is
fit on a random N of 2Wiki train records 0-999 (draw D picks them and seeds the fit) and measured at
the oracle's final state (every gold paragraph opened) of records 1000-1348. That is the reader alone,
which caps the policy (program.md). The question it answers: is the reader limited by its features
or by the 1,349 training tasks we have? A curve still rising at N = 1000 says data.

Writes ``<out>/n<N>_d<D>.oracle.json`` per point (kept: a rerun only fits the missing points),
``<out>/curve.json`` (the points, each size's mean, the fitted slope) and, unless ``--no-plot``,
``docs/figures/learning_curve.png``; prints a table and the F1 gained per doubling of training
tasks (least squares of F1 on log2 N over all points). About 20 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from tinker_explorer.policies.compact.train import CompactTrainConfig


def _devlike():
    spec = importlib.util.spec_from_file_location("devlike_holdout", Path(__file__).with_name("devlike_holdout.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def slope_per_doubling(ns: list[int], f1s: list[float]) -> float:
    """Least-squares slope of F1 on log2(N): F1 gained per doubling of the training tasks."""
    x = np.log2(np.asarray(ns, dtype=float))
    if len(set(x)) < 2:
        return float("nan")
    return float(np.polyfit(x, np.asarray(f1s, dtype=float), 1)[0])


def main(argv: list[str] | None = None, cfg: CompactTrainConfig | None = None) -> int:
    """``cfg`` (tests only): the trainer config instead of the default one."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[125, 250, 500, 750, 1000])
    ap.add_argument("--draws", type=int, default=2, help="random training subsets (and fit seeds) per size")
    ap.add_argument("--tasks", help="the built 2Wiki training tasks (default: the harness's)")
    ap.add_argument("--holdout-from", type=int, help="records before this index train (default: the harness's)")
    ap.add_argument("--out", default="runs/learning_curve")
    ap.add_argument("--plot", default="docs/figures/learning_curve.png")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    if args.draws < 1 or not args.sizes:
        print("error: need at least one size and one draw", file=sys.stderr)
        return 2
    dev = _devlike()
    extra = (["--tasks", args.tasks] if args.tasks else []) + (
        ["--holdout-from", str(args.holdout_from)] if args.holdout_from is not None else [])
    out = Path(args.out)
    points = []
    for n in sorted(set(args.sizes)):
        for d in range(args.draws):
            path = out / f"n{n}_d{d}.oracle.json"
            if not path.is_file():
                rc = dev.main(["--name", f"n{n}_d{d}", "--oracle-state", "--train-n", str(n), "--seed", str(d),
                               "--out", str(out), *extra], cfg=cfg)
                if rc:
                    return rc
            r = json.loads(path.read_text())
            points.append({"n": n, "draw": d, "f1": r["f1"], "f1_ci": r["f1_ci"], "per_type": r["per_type"]})
    sizes = sorted({p["n"] for p in points})
    means = {n: float(np.mean([p["f1"] for p in points if p["n"] == n])) for n in sizes}
    slope = slope_per_doubling([p["n"] for p in points], [p["f1"] for p in points])
    res = {"points": points, "mean_f1": {str(n): round(m, 4) for n, m in means.items()},
           "f1_per_doubling": round(slope, 4)}
    (out / "curve.json").write_text(json.dumps(res, indent=1) + "\n")
    print("| training tasks | F1 per draw [95% CI] | mean |")
    print("|---|---|---|")
    for n in sizes:
        cells = ", ".join(f"{p['f1']:.3f} [{p['f1_ci'][0]:.3f}, {p['f1_ci'][1]:.3f}]" for p in points if p["n"] == n)
        print(f"| {n} | {cells} | {means[n]:.3f} |")
    print(f"F1 per doubling of training tasks (least squares on log2 N): {slope:+.3f}")
    print(f"wrote {out / 'curve.json'}")
    if not args.no_plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        ax.scatter([p["n"] for p in points], [p["f1"] for p in points], s=18, color="tab:blue", label="one draw")
        ax.plot(sizes, [means[n] for n in sizes], color="tab:blue", alpha=0.6, label="mean")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set_xlabel("2Wiki training tasks (random subsets of records 0-999)")
        ax.set_ylabel("token F1, records 1000-1348")
        ax.set_title(f"Answer scorer at the oracle state: {slope:+.3f} F1 per doubling", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
