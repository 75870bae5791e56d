"""Fault injection: SIGKILL a training run at random moments, resume it each time, and compare it
with an uninterrupted run of the same seed.

    tinker-explorer bench fault-injection --policy compact --kills 20
    tinker-explorer bench fault-injection --policy llm --kills 20
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tinker_explorer.bench import common

HELP = "SIGKILL training at random moments, resume, compare with an uninterrupted run"
DESCRIPTION = """\
compact: `train grpo --policy compact` on a small subset of the 2Wiki training file (built with the
project's builder into a temporary folder); llm: `train grpo --policy llm` with the in-code `tiny`
model (shaped reward, so groups differ and updates happen). Each training process runs in this
module's `child` mode, which slows every write (checkpoint files and records lines are written in
two halves with a pause between), so that kills land inside writes as well as inside steps. Kill
times are drawn at random over the run. After the last kill the run is resumed to the end.

Checks: the final checkpoint's weights equal the uninterrupted run's (max abs difference printed);
metrics.jsonl has no torn, duplicated or missing line and its values equal the reference's
(timings excluded); every path in checkpoints.jsonl exists. Prints kills survived / N, the lost
work per kill (steps logged but not yet checkpointed when the kill came, plus the step in flight)
and where each kill landed. Exit status 1 when a check fails."""
WRITE_PAUSE_S = 0.05
TIMING_KEYS = ("seconds", "elapsed_s", "warm_seconds", "sample_seconds", "train_seconds", "sample_tokens_per_s",
               "train_tokens_per_s")


# ---- the child: the real CLI with slowed writes -------------------------------------------------
def child(argv: list[str]) -> int:
    import torch

    from tinker_explorer import records

    real_save = torch.save

    def slow_save(obj, f, *a, **k):
        if not isinstance(f, (str, os.PathLike)):
            return real_save(obj, f, *a, **k)
        buf = io.BytesIO()
        real_save(obj, buf, *a, **k)
        data = buf.getvalue()
        with open(f, "wb") as fh:
            fh.write(data[:len(data) // 2])
            fh.flush()
            time.sleep(WRITE_PAUSE_S)
            fh.write(data[len(data) // 2:])

    def slow_append(self, path, row):
        line = json.dumps(row, default=float) + "\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line[:len(line) // 2])
            fh.flush()
            time.sleep(WRITE_PAUSE_S)
            fh.write(line[len(line) // 2:])
            fh.flush()
            os.fsync(fh.fileno())

    torch.save = slow_save
    records.RunRecords.append_line = slow_append
    from tinker_explorer.cli import main
    return main(argv)


# ---- the parent --------------------------------------------------------------------------------
def train_args(policy: str, tasks: Path, run: Path, steps: int, seed: int) -> list[str]:
    common = ["train", "grpo", "--policy", policy, "--tasks", str(tasks), "--run-dir", str(run),
              "--steps", str(steps), "--seed", str(seed)]
    if policy == "compact":
        return common + ["--group-size", "4", "--batch-size", "4", "--warm-epochs", "10", "--answer-epochs", "2",
                         "--no-parser"]
    return common + ["--engine", "local", "--model", "tiny", "--lora-rank", "8", "--group-size", "4",
                     "--batch-size", "2", "--max-tokens", "8", "--max-steps", "3", "--reward", "shaped",
                     "--lr", "1e-3", "--save-every", "5", "--system-prompt", "short"]


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", __spec__.name, "child", *args], stdout=open(log, "a"),
                            stderr=subprocess.STDOUT, env=env)


def raw_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n") if path.exists() else []


def where(run: Path) -> str:
    """What the process was doing when it died, from what it left on disk."""
    if any(run.rglob("*.tmp")):
        return "checkpoint write"
    lines = raw_lines(run / "metrics.jsonl")
    if lines and lines[-1] != "":
        return "metrics write"
    ck = [json.loads(x) for x in raw_lines(run / "checkpoints.jsonl") if x.strip().endswith("}")]
    if not any(r["name"] == "warm" for r in ck) and "compact" in str(run):
        return "warm start"
    return "step"


def last_steps(run: Path) -> tuple[int, int]:
    """(last step with a whole metrics line, last checkpointed step) on disk now."""
    m = [json.loads(x)["step"] for x in raw_lines(run / "metrics.jsonl") if x.strip().endswith("}")]
    c = [json.loads(x)["step"] for x in raw_lines(run / "checkpoints.jsonl") if x.strip().endswith("}")]
    return (max(m) if m else -1), (max(c) if c else -1)


def final_weights(run: Path, policy: str) -> dict:
    import torch
    if policy == "compact":
        st = torch.load(run / "final.pt", map_location="cpu", weights_only=True)
        out = {f"chunk.{k}": v for k, v in st["chunk_net"].items()}
        out.update(answer=st["answer_weight"], rerank=st["rerank"] if st["rerank"] is not None else torch.zeros(1))
        return out
    from safetensors.torch import load_file
    from tinker_explorer.records import final_checkpoint
    return load_file(str(Path(final_checkpoint(run).path) / "adapter_model.safetensors"))


def check_records(run: Path, ref: Path) -> list[str]:
    problems = []
    text = (run / "metrics.jsonl").read_text(encoding="utf-8")
    if not text.endswith("\n"):
        problems.append("metrics.jsonl: last line not terminated")
    rows = []
    for i, line in enumerate(text.splitlines()):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            problems.append(f"metrics.jsonl line {i + 1} torn")
    steps = [r["step"] for r in rows]
    ref_rows = [json.loads(x) for x in (ref / "metrics.jsonl").read_text().splitlines()]
    if steps != [r["step"] for r in ref_rows]:
        problems.append(f"metrics steps {steps[:5]}... differ from the reference's (duplicates or gaps)")
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING_KEYS}
    diff = [r["step"] for r, q in zip(rows, ref_rows) if strip(r) != strip(q)]
    if diff:
        problems.append(f"metrics values differ from the reference at steps {diff[:10]}")
    for r in (json.loads(x) for x in (run / "checkpoints.jsonl").read_text().splitlines()):
        for key in ("path", "sampler_path"):
            p = r.get(key)
            if p and not (run / p).exists():
                problems.append(f"checkpoints.jsonl names a missing {key}: {p}")
    return problems


def warm_done(run: Path) -> bool:
    return any(json.loads(x).get("name") == "warm" for x in raw_lines(run / "checkpoints.jsonl") if x.endswith("}"))


def writing(run: Path, kind: str) -> bool:
    if kind == "checkpoint write":
        return any(run.rglob("*.tmp"))
    lines = raw_lines(run / "metrics.jsonl")
    return bool(lines) and lines[-1] != ""


def kill_at(proc: subprocess.Popen, run: Path, kind: str, rng, t: dict) -> bool:
    """Wait for a random moment of the asked kind, then SIGKILL; False when the run ended first."""
    def alive_sleep(seconds: float) -> bool:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if proc.poll() is not None:
                return False
            time.sleep(0.005)
        return True
    t0 = time.perf_counter()
    if kind == "warm start":
        ok = alive_sleep(t["startup"] + rng.uniform(0, t["warm"]))
    else:
        while t["has_warm"] and not warm_done(run):  # into GRPO first
            if proc.poll() is not None or time.perf_counter() - t0 > 600:
                return False
            time.sleep(0.01)
        if kind == "step":
            ok = alive_sleep(rng.uniform(0, 3 * t["step"]))
        else:  # the k-th write of that kind from now, k random
            ok, seen, skip, was = True, 0, int(rng.integers(0, 3)), False
            while ok:
                now = writing(run, kind)
                if now and not was:
                    if seen == skip:
                        break
                    seen += 1
                was = now
                ok = proc.poll() is None
                time.sleep(0.002)
    if not ok or proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def run_benchmark(policy: str, kills: int, steps: int, seed: int, n_train: int, work: Path, source: str) -> dict:
    from tinker_explorer.data.build import BuildConfig, build
    data = work / "data"
    build(BuildConfig(source="2wiki", input=source, out=str(data), n_train=n_train, n_val=0, seed=seed))
    tasks = data / "train.jsonl"
    ref, run, log = work / f"{policy}_ref", work / f"{policy}_killed", work / f"{policy}.log"
    t0 = time.perf_counter()
    proc, startup, warm_end = spawn(train_args(policy, tasks, ref, steps, seed), log), None, None
    while proc.poll() is None:
        if startup is None and (ref / "config.json").exists():
            startup = time.perf_counter() - t0  # imports and data loading, before any training work
        if warm_end is None and warm_done(ref):
            warm_end = time.perf_counter() - t0
        time.sleep(0.02)
    if proc.returncode != 0:
        raise SystemExit(f"reference run failed; see {log}")
    t_ref = time.perf_counter() - t0
    startup = startup or 1.0
    has_warm = policy == "compact"
    warm_end = warm_end if has_warm and warm_end else startup
    t = {"startup": startup, "warm": warm_end - startup, "step": (t_ref - warm_end) / steps, "has_warm": has_warm}
    print(f"{policy}: uninterrupted run of {steps} steps: {t_ref:.0f} s (start-up {startup:.0f} s, warm start "
          f"{t['warm']:.0f} s, {t['step']:.2f} s per step)")
    rng = np.random.default_rng(seed)
    kinds = ["step", "checkpoint write", "metrics write"]
    n_warm = kills // 4 if has_warm else 0
    plan = ["warm start"] * n_warm + list(rng.permutation([kinds[i % 3] for i in range(kills - n_warm)]))
    survived, lost, landed, finished_early = 0, [], [], 0
    for kind in plan:
        args = train_args(policy, tasks, run, steps, seed) + (["--resume"] if (run / "config.json").exists() else [])
        proc = spawn(args, log)
        if not kill_at(proc, run, kind, rng, t):
            proc.wait()
            if proc.returncode != 0:
                raise SystemExit(f"a resumed run failed (exit {proc.returncode}); see {log}")
            finished_early += 1
            break
        m_step, c_step = last_steps(run)
        landed.append(where(run) if kind != "step" else "step")
        # GRPO steps redone: those logged but not checkpointed, plus the step in flight unless the kill
        # came while its own checkpoint was written (then it is the last logged one); a warm-start
        # kill loses only the warm-start piece in flight: 0 steps
        lost.append(0 if landed[-1] == "warm start" else
                    max(0, m_step - c_step) + (0 if landed[-1] == "checkpoint write" else 1))
        survived += 1
    code = spawn(train_args(policy, tasks, run, steps, seed) + ["--resume"], log).wait()
    if code != 0:
        raise SystemExit(f"the final resume failed (exit {code}); see {log}")
    wa, wb = final_weights(ref, policy), final_weights(run, policy)
    max_diff = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa) if wa.keys() == wb.keys() else None
    problems = check_records(run, ref)
    return {"policy": policy, "kills": survived, "plan": plan, "landed_each": landed, "finished_before_a_kill": finished_early,
            "survived": survived if not problems and max_diff == 0.0 else None,
            "lost_steps_per_kill": lost, "landed": {k: landed.count(k) for k in sorted(set(landed))},
            "max_abs_weight_diff": max_diff, "problems": problems, "reference_seconds": round(t_ref, 1)}


def add_arguments(ap) -> None:
    ap.add_argument("--policy", choices=("compact", "llm"), default="compact")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--steps", type=int, default=None, help="GRPO steps (compact 40, llm 30)")
    ap.add_argument("--n-train", type=int, default=60, help="2Wiki training tasks in the subset")
    ap.add_argument("--input", default="../shared/data/2wikimultihopqa", help="the official 2Wiki files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the result here")


def run(a) -> int:
    from tinker_explorer.errors import UserError
    if not Path(a.input).is_dir():
        raise UserError(f"{a.input}: the 2Wiki data is not here (--input)")
    steps = a.steps or (40 if a.policy == "compact" else 30)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_benchmark(a.policy, a.kills, steps, a.seed, a.n_train, Path(tmp), str(Path(a.input).resolve()))
    ok = res["survived"] is not None
    print(f"{a.policy}: kills survived {res['kills'] if ok else 0} / {res['kills']}"
          + (f" (the run finished before {res['finished_before_a_kill']} planned kill)" if res["finished_before_a_kill"] else ""))
    print(f"  lost work per kill (steps redone): {res['lost_steps_per_kill']} "
          f"(mean {np.mean(res['lost_steps_per_kill']):.2f}, max {max(res['lost_steps_per_kill'])})")
    print(f"  kills landed in: {res['landed']}")
    print(f"  final weights vs uninterrupted run: max |difference| = {res['max_abs_weight_diff']}")
    print(f"  records: {'; '.join(res['problems']) or 'no torn, duplicated or missing metrics line; every checkpoint path exists; metrics equal the reference'}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        raise SystemExit(child(sys.argv[2:]))
    raise SystemExit(common.main(sys.modules[__name__]))
