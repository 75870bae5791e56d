"""The leaves' ledger (``leaves/results.tsv``): one row per (leaf, seed) run, with the commit and
the hashes of the code it measured, so that rows pair only with rows of the same code."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from tinker_explorer.experiments.harness import HARNESS, Harness
from tinker_explorer.records import PACKAGE_DIR, blob_id, listing_hash

LEDGER_COLUMNS = ("commit", "leaf", "seed", "f1", "f1_ci_low", "f1_ci_high", "em", "tokens_read", "seconds",
                  "status", "description", "src_hash", "leaf_hash", "steps_done")
PACKAGE_IN_GIT = "src/tinker_explorer"  # its path in the checkout (PACKAGE_DIR.parents[1]) that git knows


def current_commit() -> str:
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
    return blob_id(path.read_bytes())[:8]


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], capture_output=True, text=True, cwd=PACKAGE_DIR.parents[1])
    except OSError:
        return None
    return r.stdout if r.returncode == 0 else None


def src_hash_at(commit: str) -> str:
    """src_hash of the package at a commit, from git's tree listing ('' when git cannot tell)."""
    out = _git("ls-tree", "-r", commit, "--", PACKAGE_IN_GIT)
    if not out:
        return ""
    entries = []
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".py"):
            entries.append((path[len(PACKAGE_IN_GIT) + 1:], meta.split()[2]))
    return listing_hash(entries)


def _fill_hashes(rows: list[dict], leaves_dir: str) -> list[dict]:
    """Rows written before the hash columns existed get them from git when their commit is clean."""
    cache: dict[str, str] = {}
    for r in rows:
        commit = r.get("commit") or ""
        if r.get("src_hash") or not commit or commit == "unknown" or commit.endswith("+dirty"):
            continue
        if commit not in cache:
            cache[commit] = src_hash_at(commit)
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


def same_code(a: dict, b: dict) -> bool:
    """Two rows ran the same package code: equal src_hash, or (rows without one) the same clean commit."""
    if a.get("src_hash") or b.get("src_hash"):
        return a.get("src_hash") == b.get("src_hash")
    return a["commit"] == b["commit"] and not a["commit"].endswith("+dirty")
