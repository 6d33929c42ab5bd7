"""What the REST listener's resource scenarios share: polygate in front of the Rust bench backend
with a given `http:` section, and readings of the gateway's memory and file descriptors."""

from __future__ import annotations

import os
import resource
from pathlib import Path

from .. import procs, targets
from ..settings import Settings


def raise_fd_limit(wanted: int) -> None:
    """Lets this process and its children hold `wanted` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, wanted), hard), hard))


def missing(settings: Settings) -> str | None:
    """Why the scenarios cannot run, or None."""
    if not settings.bench_backend_bin.exists():
        return f"skipped: {settings.bench_backend_bin} is missing (benches/load/run.sh builds it)"
    return None


def start_gateway(
    settings: Settings, name: str, http_extra: str, grpc_extra: str = "", extra: str = ""
) -> tuple[targets.Backend, procs.Started]:
    """The bench backend and polygate, its `http:` section extended with `http_extra`, the
    backend's `grpc:` section with `grpc_extra`, and top-level sections `extra` appended."""
    backend = targets.start_backends(settings, {"stream"})["stream"]
    try:
        return backend, start_polygate(settings, name, backend, "stream", http_extra, grpc_extra, extra)
    except BaseException:
        backend.process.stop()
        raise


def start_polygate(
    settings: Settings,
    name: str,
    backend: targets.Backend,
    group: str,
    http_extra: str = "",
    grpc_extra: str = "",
    extra: str = "",
    listen: str = targets.POLYGATE_ADDR,
) -> procs.Started:
    """polygate in front of `backend` (a group's backend) on `listen`, its config written to
    run/polygate-<name>.yaml with the extra sections, as `start_gateway` says."""
    run = settings.out_dir / "run"
    config = gateway_config_path(settings, name)
    targets.polygate_config(group, backend, config)
    text = config.read_text()
    default = f"  listen: {targets.POLYGATE_ADDR}\n"
    text = text.replace(default, f"  listen: {listen}\n" + http_extra, 1)
    text = text.replace("    grpc:\n", "    grpc:\n" + grpc_extra, 1)
    config.write_text(text + extra)
    process = procs.start(
        "polygate",
        [str(settings.polygate_bin), "serve", "--config", str(config)],
        run / f"polygate-{name}.log",
        settings.gateway_cpus,
        env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    procs.wait_port(*targets.host_port(listen), process)
    return process


def gateway_config_path(settings: Settings, name: str) -> Path:
    """Where `start_polygate` writes the config of the gateway named `name`."""
    return settings.out_dir / "run" / f"polygate-{name}.yaml"


def free_port() -> int:
    """A loopback port free now (for an admin listener)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch_metrics(port: int) -> str:
    """The admin listener's /metrics text."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def rss_kib(pid: int) -> int:
    """The resident set now."""
    return procs.parse_status_kib(Path(f"/proc/{pid}/status").read_text(), "VmRSS") or 0


def open_fds(pid: int) -> int:
    """File descriptors the process holds now."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def pin_note(settings: Settings) -> str:
    """Where the gateway ran."""
    return "gateway on CPU " + settings.gateway_cpus if settings.gateway_cpus else "unpinned"
