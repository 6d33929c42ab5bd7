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
    settings: Settings, name: str, http_extra: str, grpc_extra: str = ""
) -> tuple[targets.Backend, procs.Started]:
    """The bench backend and polygate, its `http:` section extended with `http_extra` and the
    backend's `grpc:` section with `grpc_extra`."""
    backend = targets.start_backends(settings, {"stream"})["stream"]
    run = settings.out_dir / "run"
    config = targets.polygate_config("stream", backend, run / f"polygate-{name}.yaml")
    text = config.read_text()
    listen = f"  listen: {targets.POLYGATE_ADDR}\n"
    text = text.replace(listen, listen + http_extra, 1)
    text = text.replace("    grpc:\n", "    grpc:\n" + grpc_extra, 1)
    config.write_text(text)
    process = procs.start(
        "polygate",
        [str(settings.polygate_bin), "serve", "--config", str(config)],
        run / f"polygate-{name}.log",
        settings.gateway_cpus,
        env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    procs.wait_port(*targets.host_port(targets.POLYGATE_ADDR), process)
    return backend, process


def rss_kib(pid: int) -> int:
    """The resident set now."""
    return procs.parse_status_kib(Path(f"/proc/{pid}/status").read_text(), "VmRSS") or 0


def open_fds(pid: int) -> int:
    """File descriptors the process holds now."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def pin_note(settings: Settings) -> str:
    """Where the gateway ran."""
    return "gateway on CPU " + settings.gateway_cpus if settings.gateway_cpus else "unpinned"
