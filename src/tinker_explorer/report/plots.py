"""Matplotlib figures for the report (Agg backend, PNG). Every axis says what it measures and in
which unit; point labels are placed greedily so that they never overlap each other."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinker_explorer.report.inputs import RunData  # noqa: E402
from tinker_explorer.report.stats import Paired, ResultRow  # noqa: E402

DPI = 110
COLORS = plt.get_cmap("tab10").colors

# (panel title, y-axis label, metric keys in order of preference; "±key" = band for the key before it)
RUN_PANELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Training reward", "reward per episode (mean over batch)", ("reward_mean", "±reward_std", "reward")),
    ("Answer quality on training batches", "score (0 to 1)", ("f1", "em", "answer_rate")),
    ("Chunks opened", "chunks opened per episode", ("opens", "avg_opens")),
    ("Reading cost", "tokens read per episode", ("tokens_read", "avg_tokens_read")),
)
NICE = {"reward_mean": "reward (mean)", "reward": "reward", "f1": "F1", "em": "exact match",
        "answer_rate": "answer rate", "opens": "opens", "avg_opens": "opens", "tokens_read": "tokens read",
        "avg_tokens_read": "tokens read"}


def _series(metrics: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for i, m in enumerate(metrics):
        v = m.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        xs.append(m.get("step", i))
        ys.append(float(v))
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)


MARKERS = ("o", "s", "^", "D", "v", "P")


def style(i: int) -> dict:
    """Colour + marker per index: ten colours, then the next marker, so a dozen points stay distinct."""
    return {"color": COLORS[i % 10], "marker": MARKERS[(i // 10) % len(MARKERS)]}


def smooth(ys: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what exists so far)."""
    if window <= 1 or ys.size == 0:
        return ys
    c = np.cumsum(np.insert(ys, 0, 0.0))
    idx = np.arange(1, ys.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def smooth_window(n: int) -> int:
    return 1 if n <= 60 else max(2, n // 30)


def _extra_panels(metrics: list[dict]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Eval-during-training keys (eval_*/val_*) and losses, when a trainer logs them."""
    keys = sorted({k for m in metrics for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    evals = tuple(k for k in keys if k.startswith(("eval_", "val_")) and ("f1" in k or "em" in k))
    losses = tuple(k for k in keys if "loss" in k)
    out = []
    if evals:
        out.append(("Held-out answer quality", "score (0 to 1)", evals))
    if losses:
        out.append(("Loss", "loss (trainer units)", losses))
    return out


def run_panels(metrics: list[dict]) -> list[tuple[str, str, list[str]]]:
    """The panels that have data: (title, ylabel, keys present)."""
    out = []
    for title, ylabel, keys in (*RUN_PANELS, *_extra_panels(metrics)):
        present = [k for k in keys if _series(metrics, k.lstrip("±"))[0].size]
        # the first of opens/avg_opens (or tokens_read/avg_tokens_read) is enough: they are the same thing
        if title in ("Chunks opened", "Reading cost"):
            present = present[:1]
        if [k for k in present if not k.startswith("±")]:
            out.append((title, ylabel, present))
    return out


def plot_run(run: RunData, out: Path) -> Path | None:
    """One figure per run: a subplot per metric group over training steps. None if nothing to plot."""
    panels = run_panels(run.metrics)
    if not panels:
        return None
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 3.4 * nrows + 0.5), squeeze=False,
                             layout="constrained")
    for ax, (title, ylabel, keys) in zip(axes.flat, panels):
        prev = None
        for i, key in enumerate(keys):
            if key.startswith("±"):
                if prev is not None:
                    xs, ys = _series(run.metrics, prev)
                    sx, sd = _series(run.metrics, key[1:])
                    if sx.size == xs.size:
                        ax.fill_between(xs, ys - sd, ys + sd, alpha=0.2, color=COLORS[0],
                                        label=f"± {key[1:].replace('_', ' ')}")
                continue
            xs, ys = _series(run.metrics, key)
            name = NICE.get(key, key.replace("_", " "))
            w = smooth_window(xs.size)
            if w > 1:  # noisy long runs: faint raw curve, bold moving average
                ax.plot(xs, ys, lw=0.8, alpha=0.3, color=COLORS[i % 10])
                ax.plot(xs, smooth(ys, w), lw=1.6, color=COLORS[i % 10], label=f"{name} (avg of {w} steps)")
            else:
                ax.plot(xs, ys, marker="o" if xs.size < 30 else None, ms=3, lw=1.5, color=COLORS[i % 10], label=name)
            prev = key
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"Run {run.name}: training curves", fontsize=12)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def plot_reward_overlay(runs: list[RunData], out: Path) -> Path | None:
    """All runs' reward curves on one axis (the original's cross-run figure)."""
    have = [(r, k) for r in runs for k in ("reward_mean", "reward") if _series(r.metrics, k)[0].size][:]
    seen, chosen = set(), []
    for r, k in have:
        if r.name not in seen:
            seen.add(r.name)
            chosen.append((r, k))
    if len(chosen) < 2:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    windows = []
    for i, (r, k) in enumerate(chosen):
        xs, ys = _series(r.metrics, k)
        w = smooth_window(xs.size)
        windows.append(w)
        ax.plot(xs, smooth(ys, w), lw=1.5, color=COLORS[i % 10], ls=("-", "--", ":")[(i // 10) % 3], label=r.name)
    ax.set_xlabel("training step")
    wmax = max(windows)
    ax.set_ylabel("reward per episode (mean over batch)" + (f"\nmoving average over up to {wmax} steps" if wmax > 1 else ""))
    ax.set_title("Training reward across runs (a training reward is not a held-out score)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def _overlaps(a, b, pad: float = 2.0) -> bool:
    return not (a.x1 + pad < b.x0 or b.x1 + pad < a.x0 or a.y1 + pad < b.y0 or b.y1 + pad < a.y0)


def place_labels(ax, xs, ys, labels, avoid=()) -> list:
    """Annotate points, trying offsets around each point until the text box overlaps neither an
    earlier label, a marker, nor ``avoid`` boxes, and stays inside the axes."""
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axbox = ax.get_window_extent(r)
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    from matplotlib.transforms import Bbox
    taken = [Bbox.from_extents(px - 5, py - 5, px + 5, py + 5) for px, py in pts] + list(avoid)
    dirs = [(1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1.3), (0, -1.3), (1.4, 0), (-1.4, 0)]
    out = []
    for (x, y), lab in zip(zip(xs, ys), labels):
        best = None
        for radius in (1, 2, 3, 4.5, 6):
            for dx, dy in dirs:
                off = (dx * 8 * radius, dy * 8 * radius)
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
                t = ax.annotate(lab, (x, y), xytext=off, textcoords="offset points", ha=ha, va=va, fontsize=8,
                                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.7", alpha=0.9),
                                arrowprops=dict(arrowstyle="-", color="0.5", lw=0.6) if radius > 1 else None)
                bb = t.get_window_extent(r)
                inside = (bb.x0 >= axbox.x0 and bb.x1 <= axbox.x1 and bb.y0 >= axbox.y0 and bb.y1 <= axbox.y1)
                if inside and not any(_overlaps(bb, o) for o in taken):
                    best = (t, bb)
                    break
                t.remove()
            if best:
                break
        if best is None:  # crowded: put it at the first position anyway (rare; a dozen points fit)
            t = ax.annotate(lab, (x, y), xytext=(8, 8), textcoords="offset points", fontsize=8)
            best = (t, t.get_window_extent(r))
        taken.append(best[1])
        out.append(best[0])
    return out


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated (no other reads fewer-or-equal tokens with higher-or-equal F1,
    strictly better in one), sorted by cost."""
    idx = []
    for i, (c, f) in enumerate(points):
        dominated = any((c2 <= c and f2 >= f and (c2 < c or f2 > f)) for j, (c2, f2) in enumerate(points) if j != i)
        if not dominated and math.isfinite(c) and math.isfinite(f):
            idx.append(i)
    return sorted(idx, key=lambda i: points[i][0])


def plot_pareto(rows: list[ResultRow], out: Path, tasks: str = "") -> Path | None:
    """F1 against average tokens read, with 95% bootstrap CIs in both directions (one task file:
    points on different tasks do not share a Pareto front)."""
    rows = [r for r in rows if math.isfinite(r.f1.mean) and math.isfinite(r.tokens.mean)]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 5.5), layout="constrained")
    xs = np.array([r.tokens.mean for r in rows])
    ys = np.array([r.f1.mean for r in rows])
    front = pareto_front(list(zip(xs, ys)))
    if len(front) > 1:
        ax.plot(xs[front], ys[front], ls="--", color="0.6", lw=1, label="Pareto front", zorder=1)
    for i, r in enumerate(rows):
        xerr = None if not math.isfinite(r.tokens.lo) else [[r.tokens.mean - r.tokens.lo], [r.tokens.hi - r.tokens.mean]]
        yerr = None if not math.isfinite(r.f1.lo) else [[r.f1.mean - r.f1.lo], [r.f1.hi - r.f1.mean]]
        st = style(i)
        ax.errorbar([r.tokens.mean], [r.f1.mean], xerr=xerr, yerr=yerr, fmt=st["marker"], ms=7, capsize=3,
                    color=st["color"], label=r.label, zorder=3)
    ax.set_xlabel("average tokens read per question (reading cost)")
    ax.set_ylabel("answer F1 (0 to 1)")
    ax.set_title("Accuracy vs reading cost (bars: 95% bootstrap CI; up and left is better)"
                 + (f"\ntasks: {tasks}" if tasks else ""), fontsize=10)
    ax.grid(alpha=0.3)
    # room for the labels: pad the data limits
    xr = max(1.0, float(np.nanmax([r.tokens.hi for r in rows] + list(xs))) - float(np.nanmin([r.tokens.lo for r in rows] + list(xs))))
    yr = max(0.05, float(np.nanmax([r.f1.hi for r in rows] + list(ys))) - float(np.nanmin([r.f1.lo for r in rows] + list(ys))))
    lo_x = float(np.nanmin([r.tokens.lo for r in rows] + list(xs)))
    hi_x = float(np.nanmax([r.tokens.hi for r in rows] + list(xs)))
    lo_y = float(np.nanmin([r.f1.lo for r in rows] + list(ys)))
    hi_y = float(np.nanmax([r.f1.hi for r in rows] + list(ys)))
    ax.set_xlim(max(0.0, lo_x - 0.35 * xr) if lo_x >= 0 else lo_x - 0.35 * xr, hi_x + 0.35 * xr)
    ax.set_ylim(max(-0.02, lo_y - 0.3 * yr), min(1.02, hi_y + 0.3 * yr) if hi_y + 0.3 * yr > lo_y else hi_y + 0.1)
    leg = ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="policy")
    place_labels(ax, xs, ys, [r.label for r in rows])
    del leg
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def plot_per_type(per_type: dict[str, list[ResultRow]], out: Path) -> Path | None:
    """Grouped bars: F1 per question type per result, with 95% CIs and n under each type."""
    if not per_type:
        return None
    types = list(per_type)
    labels = [r.label for r in next(iter(per_type.values()))]
    k = len(labels)
    width = 0.8 / max(1, k)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 + len(types) * (0.5 + 0.25 * k)), 4.8), layout="constrained")
    x = np.arange(len(types))
    for j, lab in enumerate(labels):
        rows = [per_type[t][j] for t in types]
        m = np.array([r.f1.mean if r.n else np.nan for r in rows])
        lo = np.array([r.f1.mean - r.f1.lo if r.n else 0 for r in rows])
        hi = np.array([r.f1.hi - r.f1.mean if r.n else 0 for r in rows])
        ax.bar(x + (j - (k - 1) / 2) * width, np.nan_to_num(m), width, yerr=[lo, hi], capsize=2,
               color=COLORS[j % 10], hatch=(None, "//", "..", "xx")[(j // 10) % 4], edgecolor="white",
               label=lab, error_kw=dict(lw=0.8))
    ns = [max((r.n for r in per_type[t]), default=0) for t in types]
    ax.set_xticks(x, [f"{t.replace('_', ' ')}\n(n={n})" for t, n in zip(types, ns)], fontsize=9)
    ax.set_xlabel("question type (n = tasks of that type)")
    ax.set_ylabel("answer F1 (0 to 1)")
    ax.set_ylim(0, 1.08)
    ax.set_title("F1 by question type (bars: 95% bootstrap CI)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="policy")
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def plot_paired(paired: list[Paired], base: str, out: Path) -> Path | None:
    """Forest plot: each policy minus the baseline on shared tasks, one panel per metric."""
    metrics = [m for m in ("f1", "em", "tokens_read") if any(p.metric == m for p in paired)]
    if not metrics:
        return None
    labels = list(dict.fromkeys(p.label for p in paired))
    units = {"f1": "F1 difference (F1 on a 0 to 1 scale)", "em": "exact-match difference (0 to 1)",
             "tokens_read": "difference in tokens read per question"}
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 1.5, 2.4 + 0.45 * len(labels)),
                             squeeze=False, layout="constrained", sharey=True)
    for ax, m in zip(axes[0], metrics):
        for i, lab in enumerate(labels):
            p = next((q for q in paired if q.label == lab and q.metric == m), None)
            if p is None:
                continue
            st = style(i)
            ax.errorbar([p.diff], [i], xerr=[[p.diff - p.lo], [p.hi - p.diff]], fmt=st["marker"], capsize=3,
                        color=st["color"])
        ax.axvline(0, color="0.4", lw=0.8, ls="--")
        ax.set_xlabel(units[m], fontsize=9)
        ax.set_title(f"{m.replace('_', ' ')}: policy - {base}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(labels)), labels, fontsize=9)
    axes[0][0].set_ylim(-0.6, len(labels) - 0.4)
    axes[0][0].invert_yaxis()
    fig.suptitle(f"Paired comparison against {base} on shared tasks (95% paired bootstrap CI)", fontsize=11)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def plot_leaves(rows: list[dict], seed_f1: dict[str, list[float]], base: str, out: Path) -> Path | None:
    """Left: held-out F1 of every seed per leaf (dots) and the mean (bar). Right: paired F1 difference
    against the baseline leaf with its 95% CI."""
    if not rows:
        return None
    names = [r["leaf"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 0.6 * len(names) + 2.2), sharey=True)
    y = np.arange(len(names))
    for i, r in enumerate(rows):
        a.barh(i, r["f1_mean"], color=COLORS[i % 10], alpha=0.35, height=0.6)
        f = seed_f1.get(r["leaf"], [])
        a.scatter(f, [i] * len(f), color=COLORS[i % 10], zorder=3, s=22)
        if "diff_vs_baseline" in r:
            lo, hi = r["diff_ci"]
            b.errorbar(r["diff_vs_baseline"], i, xerr=[[r["diff_vs_baseline"] - lo], [hi - r["diff_vs_baseline"]]],
                       fmt="o", color=COLORS[i % 10], capsize=4)
    lo = min([min(v) for v in seed_f1.values() if v] + [1.0])
    a.set_xlim(max(0.0, lo - 0.05), min(1.0, max(r["f1_mean"] for r in rows) + 0.05))
    a.set_yticks(y, names)
    a.set_xlabel("held-out token F1 (dots: seeds, bar: mean)")
    a.set_title("Leaves: F1 per seed")
    b.axvline(0, color="grey", lw=1)
    b.set_xlabel(f"F1 minus {base} (paired over tasks, 95% CI)")
    b.set_title("Difference vs baseline leaf")
    a.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out
