"""What the WebSocket drivers share: polygate with its WebSocket frontend in front of the Rust
bench backend, the load client (examples/ws_load.rs, a process of its own), and /proc readings."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

from .. import procs, targets
from ..settings import REPO, Settings

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


def raise_fd_limit(wanted: int) -> None:
    """Lets this process and its children (gateway, load client) hold `wanted` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def start_gateway(settings: Settings, name: str) -> tuple[targets.Backend, procs.Started]:
    """The bench backend and polygate (REST and WebSocket on one port, default settings)."""
    backend = targets.start_backends(settings, {"stream"})["stream"]
    run = settings.out_dir / "run"
    config = targets.polygate_config("stream", backend, run / f"polygate-{name}.yaml")
    config.write_text(config.read_text() + "websocket: {}\n")
    process = procs.start(
        "polygate",
        [str(settings.polygate_bin), "serve", "--config", str(config)],
        run / f"polygate-{name}.log",
        settings.gateway_cpus,
        env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    procs.wait_port(*targets.host_port(targets.POLYGATE_ADDR), process)
    return backend, process


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


def rss_kib(pid: int) -> int | None:
    """The current resident set of a process (VmRSS)."""
    try:
        return procs.parse_status_kib(Path(f"/proc/{pid}/status").read_text(), "VmRSS")
    except OSError:
        return None


def repo_commit() -> str:
    """The polygate commit measured."""
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"
