"""What the WebSocket drivers share: polygate with its WebSocket frontend in front of the Rust
bench backend, the load client (examples/ws_load.rs, a process of its own), and /proc readings."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .. import procs, targets
from ..settings import REPO, Settings
from . import http_common
from .http_common import raise_fd_limit, rss_kib  # noqa: F401  (the WebSocket drivers use them)

WS_URL = f"ws://{targets.POLYGATE_ADDR}/ws"
HTTP_URL = f"http://{targets.POLYGATE_ADDR}"


def load_client(settings: Settings) -> Path:
    """The load client binary (benches/load/run.sh builds it)."""
    default = settings.polygate_bin.parent / "examples" / "ws_load"
    return Path(os.environ.get("WS_LOAD_BIN", str(default)))


def missing(settings: Settings) -> str | None:
    """Why the WebSocket scenarios cannot run, or None."""
    for binary in (settings.bench_backend_bin, load_client(settings)):
        if not binary.exists():
            return f"skipped: {binary} is missing (benches/load/run.sh builds it)"
    return None


def start_gateway(settings: Settings, name: str) -> tuple[targets.Backend, procs.Started]:
    """The bench backend and polygate (REST and WebSocket on one port, default settings)."""
    return http_common.start_gateway(settings, name, "", extra="websocket: {}\n")


def run_client(settings: Settings, args: list[str], timeout: float) -> dict:
    """Runs the load client to the end and returns the JSON it prints last."""
    done = subprocess.run(
        procs.pinned(settings.load_cpus, [str(load_client(settings)), *args]),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"ws_load {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def repo_commit() -> str:
    """The polygate commit measured."""
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"
