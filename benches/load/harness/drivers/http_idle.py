"""idle-conns: 10,000 HTTP connections that never send a byte — the gateway's memory and file
descriptors while they are open, and after `header_read_timeout` closed them."""

from __future__ import annotations

import socket
import time

from ..runner import progress
from ..settings import Settings
from ..targets import POLYGATE_ADDR, host_port
from . import http_common

CONNECTIONS = 10_000
# Longer than opening the connections takes on a busy machine (48 s seen), so every one is
# still open when they are counted.
HEADER_TIMEOUT = 120.0


def _wait(condition, limit: float) -> float:
    """Polls `condition` until it holds or `limit` seconds passed; returns the time it took."""
    started = time.monotonic()
    while not condition() and time.monotonic() - started < limit:
        time.sleep(0.1)
    return time.monotonic() - started


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    title = "### idle-conns: 10,000 idle HTTP connections (memory, file descriptors)"
    blocker = http_common.missing(settings)
    if blocker:
        return [title, "", blocker, ""]
    http_common.raise_fd_limit(CONNECTIONS + 4096)
    backend, gateway = http_common.start_gateway(
        settings, "idle-conns", f"  max_connections: 20000\n  header_read_timeout: {HEADER_TIMEOUT:g}s\n"
    )
    sockets: list[socket.socket] = []
    try:
        time.sleep(1.0)
        rss_before, fds_before = http_common.rss_kib(gateway.pid), http_common.open_fds(gateway.pid)
        progress(f"idle-conns: opening {CONNECTIONS} connections")
        host, port = host_port(POLYGATE_ADDR)
        started = time.monotonic()
        for _ in range(CONNECTIONS):
            sockets.append(socket.create_connection((host, port)))
        connect_seconds = time.monotonic() - started
        _wait(lambda: http_common.open_fds(gateway.pid) >= fds_before + CONNECTIONS, 30.0)
        rss_open, fds_open = http_common.rss_kib(gateway.pid), http_common.open_fds(gateway.pid)
        progress("idle-conns: waiting for the header timeout to close them")
        closed_after = _wait(
            lambda: http_common.open_fds(gateway.pid) <= fds_before + 16, HEADER_TIMEOUT + 60.0
        )
        rss_closed, fds_closed = http_common.rss_kib(gateway.pid), http_common.open_fds(gateway.pid)
    finally:
        for s in sockets:
            s.close()
        gateway.stop()
        backend.process.stop()
    per_connection = (rss_open - rss_before) / CONNECTIONS
    return [
        title,
        "",
        f"polygate with `max_connections: 20000` and `header_read_timeout: {HEADER_TIMEOUT:g}s`, "
        f"{http_common.pin_note(settings)}; the harness opens {CONNECTIONS:,} TCP connections in "
        f"{connect_seconds:.1f} s and sends nothing on them.",
        "",
        "| | gateway RSS | file descriptors |",
        "|---|---|---|",
        f"| before | {rss_before / 1024:.1f} MiB | {fds_before} |",
        f"| {CONNECTIONS:,} idle connections open | {rss_open / 1024:.1f} MiB ({per_connection:.2f} KiB each) | {fds_open} |",
        f"| after the header timeout closed them ({closed_after:.1f} s later) | {rss_closed / 1024:.1f} MiB | {fds_closed} |",
        "",
    ]
