"""stalled: 100 clients that ask for a long server stream and never read it — the gateway's memory
and file descriptors, and the latency of unary calls to the same backend while they stall."""

from __future__ import annotations

import http.client
import socket
import statistics
import time

from ..runner import progress
from ..settings import Settings
from ..targets import POLYGATE_ADDR, host_port
from . import http_common

STALLED = 100
UNARY_CALLS = 400
STALL_TIMEOUT = 20.0


def _unary_latencies(host: str, port: int, calls: int) -> list[float]:
    """Milliseconds of `calls` sequential GETs on one kept-alive connection."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        connection.request("GET", "/v1/items/42")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"a unary call answered {response.status}")
        latencies.append((time.perf_counter() - started) * 1000)
    connection.close()
    return latencies


def _summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"{statistics.median(ordered):.3f} / {p99:.3f} ms"


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    title = "### stalled: 100 stalled stream readers (memory, unary latency)"
    blocker = http_common.missing(settings)
    if blocker:
        return [title, "", blocker, ""]
    backend, gateway = http_common.start_gateway(
        settings, "stalled", "", f"      stalled_reader_timeout: {STALL_TIMEOUT:g}s\n"
    )
    host, port = host_port(POLYGATE_ADDR)
    readers: list[socket.socket] = []
    try:
        time.sleep(1.0)
        alone = _unary_latencies(host, port, UNARY_CALLS)
        rss_before, fds_before = http_common.rss_kib(gateway.pid), http_common.open_fds(gateway.pid)
        progress(f"stalled: {STALLED} clients ask for 100,000-item streams and never read")
        for _ in range(STALLED):
            reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reader.connect((host, port))
            reader.sendall(b"GET /v1/items?count=100000 HTTP/1.1\r\nHost: bench\r\n\r\n")
            readers.append(reader)
        time.sleep(3.0)  # a bench's settle time: the stalled streams fill their windows
        rss_stalled, fds_stalled = http_common.rss_kib(gateway.pid), http_common.open_fds(gateway.pid)
        during = _unary_latencies(host, port, UNARY_CALLS)
        progress("stalled: waiting past the stalled-reader timeout")
        time.sleep(STALL_TIMEOUT + 5.0)
        rss_cancelled = http_common.rss_kib(gateway.pid)
        peak = (http_common.procs.peak_rss_kib(gateway.pid) or 0) / 1024
    finally:
        for reader in readers:
            reader.close()
        gateway.stop()
        backend.process.stop()
    return [
        title,
        "",
        f"polygate with its defaults (`stream_window: 256KiB`, `connection_window` HTTP/2's largest, one backend "
        f"connection) except `stalled_reader_timeout: {STALL_TIMEOUT:g}s`, {http_common.pin_note(settings)}; "
        f"each stalled client has a 4 KiB receive buffer and asks for `/v1/items?count=100000` (about 30 MB). "
        f"Unary latency: {UNARY_CALLS} sequential `GET /v1/items/42` on one connection, median / p99.",
        "",
        "| | gateway RSS | file descriptors | unary GET median / p99 |",
        "|---|---|---|---|",
        f"| no stalled readers | {rss_before / 1024:.1f} MiB | {fds_before} | {_summary(alone)} |",
        f"| {STALLED} stalled readers | {rss_stalled / 1024:.1f} MiB | {fds_stalled} | {_summary(during)} |",
        f"| after `stalled_reader_timeout` cancelled them | {rss_cancelled / 1024:.1f} MiB | | |",
        "",
        f"Peak RSS over the scenario: {peak:.1f} MiB.",
        "",
    ]
