"""`tinker-explorer leaves`: the ablation harness, in autoresearch's discipline.

Fixed and read-only (``HARNESS``): the tasks (2Wiki train, split once into a training part
and a held-out part; dev is never used here, it is for final numbers), the
metric (token F1 on the held-out part, bootstrap CI), the reading budget and the number of GRPO
steps per experiment (fixed, so a leaf that reads more is not given fewer steps; each row records
the steps it did and its seconds). The supervised warm start is shared: it is trained once per seed and warm-start
config (cached under ``leaves/runs/_warm/``) and every leaf's GRPO starts from it, as the
original's RL runs all started from one SFT checkpoint. Mutable: one file per leaf in ``leaves/`` with a ``DESCRIPTION`` and a
``configure(cfg) -> cfg`` that edits the compact trainer's config. ``leaves run LEAF``
trains and evaluates each seed and appends a row per seed to ``leaves/results.tsv``;
``leaves summary`` prints the ledger per leaf with paired comparisons against the baseline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import traceback
from pathlib import Path

import numpy as np

from tinker_explorer.errors import UserError
from tinker_explorer.experiments.harness import HARNESS, Harness, load_leaf, slim_result, split_train
from tinker_explorer.experiments.ledger import (append_row, current_commit, current_rows, leaf_hash, read_ledger,
                                                same_code)
from tinker_explorer.records import src_hash


def _baseline_mean(ledger: list[dict], h: Harness, row: dict) -> float | None:
    vals = [float(r["f1"]) for r in current_rows(ledger, h.baseline_leaf)
            if r["status"] != "crash" and same_code(r, row)]
    return float(np.mean(vals)) if vals else None


def run_leaf(name: str, seeds: list[int], h: Harness = HARNESS, trainer=None, progress: bool = True) -> list[dict]:
    """Train + evaluate one leaf per seed under the fixed harness; append a ledger row per seed."""
    commit, code = current_commit(), src_hash()  # once, before the trainer's modules load: the code every seed runs
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.env import EnvConfig
    from tinker_explorer.eval.runner import run_episodes, summarize
    from tinker_explorer.policies import get_policy
    from tinker_explorer.train.compact import CompactTrainConfig, train_compact

    trainer = trainer or train_compact
    leaf = load_leaf(name, h)
    train_all = load_tasks(h.train_tasks)
    train, hold = split_train(train_all, h)
    results_dir = Path(h.leaves_dir) / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        run_dir = Path(h.leaves_dir) / "runs" / f"{name}_s{seed}"
        row = {"commit": commit, "leaf": name, "seed": seed, "description": getattr(leaf, "DESCRIPTION", ""),
               "src_hash": code, "leaf_hash": leaf_hash(Path(h.leaves_dir) / f"{name}.py")}
        try:
            cfg = leaf.configure(CompactTrainConfig(seed=seed, budget=h.budget, steps=h.grpo_steps, time_limit_s=None))
            if cfg.steps != h.grpo_steps or cfg.time_limit_s is not None or not cfg.grpo:
                raise UserError(f"leaf {name}: the harness fixes {h.grpo_steps} GRPO steps and no time limit; "
                                "a leaf may not change steps, time_limit_s or grpo")
            if cfg.warm_start and cfg.init_from is None:
                cfg = dataclasses.replace(cfg, init_from=str(shared_warm_start(cfg, train, trainer, h, progress)))
                t0 = time.perf_counter()
            if run_dir.exists():
                import shutil
                shutil.rmtree(run_dir)  # a leaf run is always from scratch: its records are regenerated
            ckpt = trainer(cfg, train, hold[:100], run_dir, resume=False, progress=progress)
            from tinker_explorer.records import final_checkpoint
            row["steps_done"] = str(final_checkpoint(run_dir).step)
            # the metric is fixed: F1 on the held-out part, at the harness budget, honest env
            policy = get_policy("compact", checkpoint=str(ckpt))
            trajs = run_episodes(policy, hold, EnvConfig(budget=h.budget), seed=seed)
            res = summarize(trajs, policy=f"compact[{name}]", extra={"leaf": name, "seed": seed})
            (results_dir / f"{name}_s{seed}.json").write_text(json.dumps(slim_result(res)) + "\n")
            row.update(f1=f"{res['f1']:.4f}", f1_ci_low=f"{res['f1_ci'][0]:.4f}", f1_ci_high=f"{res['f1_ci'][1]:.4f}",
                       em=f"{res['em']:.4f}", tokens_read=f"{res['avg_tokens_read']:.1f}")
            base = _baseline_mean(read_ledger(h), h, row)
            row["status"] = "keep" if base is None or res["f1"] >= base else "discard"
        except UserError:
            raise
        except Exception as e:  # an experiment that crashes is recorded, not hidden
            traceback.print_exc()
            row.update(status="crash", description=f"{row['description']} [crash: {type(e).__name__}: {e}]")
        row["seconds"] = f"{time.perf_counter() - t0:.0f}"
        append_row(row, h)
        rows.append(row)
        print(f"leaf {name} seed {seed}: F1 {row.get('f1', '-')} tokens {row.get('tokens_read', '-')} "
              f"{row['status']} ({row.get('steps_done', '-')} GRPO steps, {row['seconds']} s)")
    return rows

def shared_warm_start(cfg, train: list, trainer, h: Harness = HARNESS, progress: bool = True) -> Path:
    """The warm-start run directory for ``cfg`` (trained on first use, then reused by every leaf
    whose warm-start fields are equal)."""
    from tinker_explorer.train.compact import warm_key
    key = json.dumps(warm_key(cfg, train), sort_keys=True)
    d = Path(h.leaves_dir) / "runs" / "_warm" / hashlib.sha256(key.encode()).hexdigest()[:12]
    import fcntl  # POSIX (Linux, macOS); imported here so the CLI loads anywhere

    d.parent.mkdir(parents=True, exist_ok=True)
    # leaves may run in parallel processes: the first to need a warm start trains it while the
    # others wait on this lock, then reuse it (without the lock a second process would delete the
    # first one's half-written run as "interrupted")
    with open(d.parent / f"{d.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (d / "warm.pt").is_file():
            if d.exists():
                import shutil
                shutil.rmtree(d)  # an interrupted warm start: train it again
            print(f"shared warm start for seed {cfg.seed} -> {d} (once; later leaves reuse it)")
            trainer(dataclasses.replace(cfg, grpo=False, init_from=None, time_limit_s=None), train, None, d,
                    resume=False, progress=progress)
            (d / "warm_key.json").write_text(key + "\n")
    return d


def summary(h: Harness = HARNESS) -> tuple[str, list[dict]]:
    """Per-leaf table: mean F1 over seeds, seed spread, reading cost, paired diff vs baseline (per-task F1
    averaged over seeds, paired bootstrap over the held-out tasks)."""
    from tinker_explorer.eval.metrics import paired_bootstrap
    ledger = read_ledger(h)
    if not ledger:
        raise UserError(f"{Path(h.leaves_dir) / 'results.tsv'}: empty ledger; run `tinker-explorer leaves run LEAF`")
    leaves = list(dict.fromkeys(r["leaf"] for r in ledger))

    def per_task(leaf: str, key: str = "f1") -> dict[str, float]:
        acc: dict[str, list[float]] = {}
        for r in current_rows(ledger, leaf):
            if r["status"] == "crash":
                continue
            p = Path(h.leaves_dir) / "results" / f"{leaf}_s{r['seed']}.json"
            if p.exists():
                for t in json.loads(p.read_text())["per_task"]:
                    if key in t:
                        acc.setdefault(t["task_id"], []).append(t[key])
        return {k: float(np.mean(v)) for k, v in acc.items()}

    def train_reward(leaf: str, seeds: list[str]) -> float:
        """Mean training reward of the last 10 GRPO steps (from the run records, when present): the
        original's claim is about training reward vs held-out quality."""
        vals = []
        for seed in seeds:
            p = Path(h.leaves_dir) / "runs" / f"{leaf}_s{seed}" / "metrics.jsonl"
            if p.exists():
                ms = [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
                rs = [m["reward_mean"] for m in ms if m.get("stage") == "grpo" and "reward_mean" in m][-10:]
                if rs:
                    vals.append(float(np.mean(rs)))
        return float(np.mean(vals)) if vals else float("nan")

    base = per_task(h.baseline_leaf)
    base_tok = per_task(h.baseline_leaf, "tokens_read")
    base_rows = current_rows(ledger, h.baseline_leaf)
    base_commit = base_rows[0]["commit"] if base_rows else None
    base_code = base_rows[0].get("src_hash") or base_commit if base_rows else None
    rows = []
    for leaf in leaves:
        cur = current_rows(ledger, leaf)
        rs = [r for r in cur if r["status"] != "crash"]
        f1s = [float(r["f1"]) for r in rs]
        row = {"leaf": leaf, "commit": cur[-1]["commit"], "code": cur[-1].get("src_hash") or "-", "seeds": len(rs),
               "crashes": sum(r["status"] == "crash" for r in cur),
               "f1_mean": float(np.mean(f1s)) if f1s else float("nan"),
               "f1_seed_sd": float(np.std(f1s, ddof=1)) if len(f1s) > 1 else 0.0,
               "tokens_read": float(np.mean([float(r["tokens_read"]) for r in rs])) if rs else float("nan"),
               "train_reward": train_reward(leaf, [r["seed"] for r in rs])}
        pt = per_task(leaf)
        shared = [k for k in pt if k in base]
        # paired differences only between runs of the same package code (src_hash)
        same = bool(base_rows) and same_code(cur[-1], base_rows[0])
        row["same_code_as_baseline"] = same
        if leaf != h.baseline_leaf and shared and same:
            c = paired_bootstrap([pt[k] for k in shared], [base[k] for k in shared])
            row.update(diff_vs_baseline=c["diff"], diff_ci=c["ci"])
            tok = per_task(leaf, "tokens_read")
            both = [k for k in tok if k in base_tok]
            if both:
                c = paired_bootstrap([tok[k] for k in both], [base_tok[k] for k in both])
                row.update(tokens_diff=c["diff"], tokens_diff_ci=c["ci"])
        rows.append(row)
    head = (f"| leaf | commit | code (src_hash) | seeds | held-out F1 mean (seed sd) | tokens read | training reward (last 10 steps) | "
            f"F1 - {h.baseline_leaf} [95% CI, paired] | tokens - {h.baseline_leaf} [95% CI, paired] |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        other = ("baseline" if r["leaf"] == h.baseline_leaf else "-" if r["same_code_as_baseline"]
                 else f"- (baseline's code is {base_code})")
        diff = (f"{r['diff_vs_baseline']:+.3f} [{r['diff_ci'][0]:+.3f}, {r['diff_ci'][1]:+.3f}]"
                if "diff_vs_baseline" in r else other)
        tdiff = (f"{r['tokens_diff']:+.0f} [{r['tokens_diff_ci'][0]:+.0f}, {r['tokens_diff_ci'][1]:+.0f}]"
                 if "tokens_diff" in r else other)
        lines.append(f"| {r['leaf']} | {r['commit']} | {r['code']} | {r['seeds']}{' (+%d crash)' % r['crashes'] if r['crashes'] else ''} | "
                     f"{r['f1_mean']:.3f} ({r['f1_seed_sd']:.3f}) | {r['tokens_read']:.0f} | "
                     f"{'-' if np.isnan(r['train_reward']) else format(r['train_reward'], '.3f')} | {diff} | {tdiff} |")
    return "\n".join(lines), rows


def register(sub) -> None:
    p = sub.add_parser("leaves", help="ablation harness: run leaves, summarise the ledger",
                       description="Train and evaluate ablation leaves (one file each in leaves/) on a fixed harness; the ledger is leaves/results.tsv (see leaves/README.md).")
    lsub = p.add_subparsers(dest="leaves_command", metavar="ACTION", required=True)
    r = lsub.add_parser("run", help="train + evaluate a leaf (one ledger row per seed)")
    r.add_argument("leaf", help="name of a file leaves/<LEAF>.py")
    r.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    r.add_argument("--first-seed", type=int, default=0)
    r.set_defaults(func=lambda a: (run_leaf(a.leaf, list(range(a.first_seed, a.first_seed + a.seeds))), 0)[1])
    s = lsub.add_parser("summary", help="print the ledger per leaf with paired comparisons")
    s.add_argument("--out", help="also write the table (Markdown) here")
    s.set_defaults(func=_cmd_summary)


def _cmd_summary(args) -> int:
    table, _ = summary()
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0
