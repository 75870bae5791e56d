"""Pytest fixture: one real Tinker-API server (SkyRL's, on CPU, SmolLM2-135M) shared by a test session.

Built and started by ``scripts/tinker_server.py`` (a separate venv, cached under .tinker-server/);
stopped by its process id when the session ends. Skipped, with the reason, where SkyRL's source
is absent and GitHub cannot be reached.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "tml-local-test"


def server_module():
    spec = importlib.util.spec_from_file_location("tinker_server_script", ROOT / "scripts" / "tinker_server.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _github_reachable() -> bool:
    try:
        socket.create_connection(("github.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


def skip_reason() -> str | None:
    vendor = os.environ.get("SKYRL_SRC") or str(ROOT.parent / "shared" / "vendor" / "skyrl")
    if (Path(vendor) / "skyrl" / "tinker" / "api.py").is_file() or _github_reachable():
        return None
    return f"no SkyRL source for the Tinker-API server ({vendor} is absent and GitHub is unreachable)"


_RUNNING: list = []  # one server per test session, whichever test module asks first


@pytest.fixture(scope="session")
def tinker_server():
    """``(url, model_dir)`` of a running server; the set-up time is printed (-s) and kept on the object."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    if _RUNNING:
        yield _RUNNING[0]
        return
    mod = server_module()
    os.environ.setdefault("PROJECT_PYTHON", sys.executable)
    t = time.perf_counter()
    times = mod.setup()
    srv = mod.start()
    srv.setup_seconds = {**{k: round(v, 1) for k, v in times.items()}, "total_s": round(time.perf_counter() - t, 1)}
    print(f"\ntinker server: {srv.url} (set-up {srv.setup_seconds})", file=sys.stderr)
    _RUNNING.append(srv)
    try:
        yield srv
    finally:
        mod.stop(srv.pid)
