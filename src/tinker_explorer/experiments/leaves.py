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

import argparse
import csv
import dataclasses
import hashlib
import importlib.util
import json
import subprocess
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinker_explorer.errors import UserError
from tinker_explorer.records import PACKAGE_DIR, _blob_id, _listing_hash, src_hash

LEDGER_COLUMNS = ("commit", "leaf", "seed", "f1", "f1_ci_low", "f1_ci_high", "em", "tokens_read", "seconds",
                  "status", "description", "src_hash", "leaf_hash", "steps_done")
PACKAGE_IN_GIT = "src/tinker_explorer"  # its path in the checkout (PACKAGE_DIR.parents[1]) that git knows


@dataclass(frozen=True)
class Harness:
    """The fixed evaluation every leaf is measured by. Do not edit per experiment."""

    train_tasks: str = "data_out/2wiki/train.jsonl"
    # records [holdout_from:] of the training file are held out for the leaf metric. The builder keeps
    # the source order: 600 official-train questions, then 749 official-dev ones like our dev split.
    # Records 1000+ are dev-like and were never used to write the heuristic's rules (a random holdout
    # mixed in the much easier official-train questions: heuristic 0.907 there vs 0.726 here).
    holdout_from: int = 1000
    budget: int = 2000
    grpo_steps: int = 80  # per experiment (one seed), after the shared warm start; no leaf may change it
    baseline_leaf: str = "f1_honest"
    leaves_dir: str = "leaves"


HARNESS = Harness()


def split_train(tasks: list, h: Harness = HARNESS) -> tuple[list, list]:
    """(training part, held-out part) of the harness's task file."""
    if not 0 < h.holdout_from < len(tasks):
        raise UserError(f"{h.train_tasks}: {len(tasks)} tasks; the harness holds out records {h.holdout_from}+, "
                        "so it needs more (build the 2Wiki tasks as the README says)")
    return list(tasks[:h.holdout_from]), list(tasks[h.holdout_from:])


def load_leaf(name: str, h: Harness = HARNESS):
    path = Path(h.leaves_dir) / f"{name}.py"
    if not path.is_file():
        have = sorted(p.stem for p in Path(h.leaves_dir).glob("*.py") if not p.stem.startswith("_"))
        raise UserError(f"no leaf {name!r} ({path}); leaves here: {', '.join(have) or 'none'}")
    spec = importlib.util.spec_from_file_location(f"leaf_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not callable(getattr(mod, "configure", None)):
        raise UserError(f"{path}: a leaf must define configure(cfg) -> cfg")
    return mod


def _commit() -> str:
    """The commit whose code this process runs, '+dirty' when tracked code differs from it (a row
    measured on uncommitted code cannot be reproduced from its commit)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        clean = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src", "leaves/*.py"],
                               capture_output=True).returncode == 0
        return head if clean else head + "+dirty"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---- which code a row measured ----------------------------------------------------------------
# Rows pair by a hash of the package's Python source (src_hash), not by commit: a commit that touches
# only docs, tests or benchmarks leaves src_hash unchanged, so earlier rows still pair with new ones
# (they used to need re-running). The commit stays beside it as provenance ('+dirty': not reproducible
# from that commit). Both hashes are built from git blob ids, so they can be recomputed for any
# commit without checking it out (old rows are filled in that way, see _fill_hashes).
def leaf_hash(path: Path) -> str:
    return _blob_id(path.read_bytes())[:8]


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], capture_output=True, text=True, cwd=PACKAGE_DIR.parents[1])
    except OSError:
        return None
    return r.stdout if r.returncode == 0 else None


def _src_hash_at(commit: str) -> str:
    """src_hash of the package at a commit, from git's tree listing ('' when git cannot tell)."""
    out = _git("ls-tree", "-r", commit, "--", PACKAGE_IN_GIT)
    if not out:
        return ""
    entries = []
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".py"):
            entries.append((path[len(PACKAGE_IN_GIT) + 1:], meta.split()[2]))
    return _listing_hash(entries)


def _fill_hashes(rows: list[dict], leaves_dir: str) -> list[dict]:
    """Rows written before the hash columns existed get them from git when their commit is clean."""
    cache: dict[str, str] = {}
    for r in rows:
        commit = r.get("commit") or ""
        if r.get("src_hash") or not commit or commit == "unknown" or commit.endswith("+dirty"):
            continue
        if commit not in cache:
            cache[commit] = _src_hash_at(commit)
        r["src_hash"] = cache[commit]
        if cache[commit] and not r.get("leaf_hash"):
            blob = _git("rev-parse", f"{commit}:{Path(leaves_dir).name}/{r['leaf']}.py")
            r["leaf_hash"] = blob.strip()[:8] if blob else ""
    return rows


def read_ledger(h: Harness = HARNESS) -> list[dict]:
    p = Path(h.leaves_dir) / "results.tsv"
    if not p.exists():
        return []
    with open(p, newline="") as f:
        rows = [{k: r.get(k) or "" for k in LEDGER_COLUMNS} for r in csv.DictReader(f, delimiter="\t")]
    return _fill_hashes(rows, h.leaves_dir)


def upgrade_ledger(h: Harness = HARNESS) -> bool:
    """Rewrite a ledger with an older header in the current columns: every row kept, hash columns
    filled in from git where their commit allows. True when it rewrote the file."""
    p = Path(h.leaves_dir) / "results.tsv"
    if not p.exists():
        return False
    with open(p, newline="") as f:
        if tuple(next(csv.reader(f, delimiter="\t"), [])) == LEDGER_COLUMNS:
            return False
    old = read_ledger(h)
    tmp = p.with_suffix(".tsv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LEDGER_COLUMNS, delimiter="\t")
        w.writeheader()
        w.writerows(old)
    tmp.replace(p)  # atomic: the old ledger is never half-written
    return True


def append_row(row: dict, h: Harness = HARNESS) -> None:
    """Append one row (to a ledger in the current columns: an older one is upgraded first)."""
    p = Path(h.leaves_dir) / "results.tsv"
    upgrade_ledger(h)
    new = not p.exists()
    with open(p, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LEDGER_COLUMNS, delimiter="\t")
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in LEDGER_COLUMNS})


def _version(r: dict) -> tuple:
    """What a row measured: its source and leaf hashes, or its commit for a row without them."""
    return ("hash", r["src_hash"], r.get("leaf_hash", "")) if r.get("src_hash") else ("commit", r["commit"])


def current_rows(ledger: list[dict], leaf: str) -> list[dict]:
    """A leaf's rows that describe its code now: those of the code version (src_hash and leaf file)
    of its newest row, the newest row per seed. The ledger keeps every row ever run (re-running a
    leaf after a code change appends); its per-task results files hold the newest run of each seed,
    which these rows describe."""
    rows = [r for r in ledger if r["leaf"] == leaf]
    if not rows:
        return []
    version = _version(rows[-1])
    per_seed = {r["seed"]: r for r in rows if _version(r) == version}
    return list(per_seed.values())


def _same_code(a: dict, b: dict) -> bool:
    """Two rows ran the same package code: equal src_hash, or (rows without one) the same clean commit."""
    if a.get("src_hash") or b.get("src_hash"):
        return a.get("src_hash") == b.get("src_hash")
    return a["commit"] == b["commit"] and not a["commit"].endswith("+dirty")


def _baseline_mean(ledger: list[dict], h: Harness, row: dict) -> float | None:
    vals = [float(r["f1"]) for r in current_rows(ledger, h.baseline_leaf)
            if r["status"] != "crash" and _same_code(r, row)]
    return float(np.mean(vals)) if vals else None


def run_leaf(name: str, seeds: list[int], h: Harness = HARNESS, trainer=None, progress: bool = True) -> list[dict]:
    """Train + evaluate one leaf per seed under the fixed harness; append a ledger row per seed."""
    commit, code = _commit(), src_hash()  # once, before the trainer's modules load: the code every seed runs
    from tinker_explorer.data.schema import load_tasks
    from tinker_explorer.env import EnvConfig
    from tinker_explorer.eval.runner import run_episodes, summarize
    from tinker_explorer.policies import get_policy
    from tinker_explorer.policies.compact.train import CompactTrainConfig, train_compact

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


def task_key(task_id: str) -> str:
    """A task's id, hashed: the ledger's per-task rows pair leaves task by task without carrying
    dataset content (ids, questions, answers) into the repository."""
    return hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:16]


def slim_result(res: dict) -> dict:
    """An eval result without dataset content: aggregates, and per task only a hashed id, the type,
    F1, EM and tokens read (what the paired comparisons need)."""
    keep = ("task_id", "type", "f1", "em", "tokens_read")
    out = {k: v for k, v in res.items() if k != "per_task"}
    out["per_task"] = [{**{k: r[k] for k in keep if k in r}, "task_id": task_key(str(r["task_id"]))}
                       for r in res.get("per_task", [])]
    return out


def shared_warm_start(cfg, train: list, trainer, h: Harness = HARNESS, progress: bool = True) -> Path:
    """The warm-start run directory for ``cfg`` (trained on first use, then reused by every leaf
    whose warm-start fields are equal)."""
    from tinker_explorer.policies.compact.train import warm_key
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
        same_code = bool(base_rows) and _same_code(cur[-1], base_rows[0])
        row["same_code_as_baseline"] = same_code
        if leaf != h.baseline_leaf and shared and same_code:
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
