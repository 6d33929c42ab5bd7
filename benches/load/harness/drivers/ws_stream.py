"""ws-stream: server-stream messages per second through the WebSocket frontend to one client
and to 100 clients, with the gateway's CPU per message; and the p99 latency a unary call adds
over the socket against the same call over REST. The load client (examples/ws_load.rs) runs in
its own process."""

from __future__ import annotations

import time

from .. import procs
from ..runner import progress
from ..settings import Settings
from . import ws_common

STREAM_PATH = "/v1/items?count=1000"


def _stream(settings: Settings, gateway_pid: int, clients: int) -> tuple[dict, float, float]:
    cpu_before = procs.cpu_seconds(gateway_pid)
    started = time.monotonic()
    result = ws_common.run_client(
        settings,
        ["stream", "--ws", ws_common.WS_URL, "--clients", str(clients), "--path", STREAM_PATH,
         "--seconds", f"{settings.duration * 2:g}"],
        timeout=settings.duration * 2 + 120,
    )
    elapsed = time.monotonic() - started
    return result, procs.cpu_seconds(gateway_pid) - cpu_before, elapsed


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    title = "### ws-stream: WebSocket server stream (messages/s) and unary latency against REST"
    blocker = ws_common.missing(settings)
    if blocker:
        return [title, "", blocker, ""]
    ws_common.raise_fd_limit(4096)
    backend, gateway = ws_common.start_gateway(settings, "ws-stream")
    rows = []
    try:
        # Warm-up: connections to the backend, allocator, caches.
        ws_common.run_client(settings, ["stream", "--ws", ws_common.WS_URL, "--seconds", "1"], timeout=120)
        for clients in (1, 100):
            progress(f"ws-stream: {clients} client(s)")
            result, cpu, elapsed = _stream(settings, gateway.pid, clients)
            rate = result["messages"] / result["seconds"]
            per_core = result["messages"] / cpu if cpu else None
            rows.append(
                f"| {clients} | {result['messages']:,} | {rate:,.0f} | {cpu / elapsed:.2f} | "
                f"{cpu / max(result['messages'], 1) * 1e6:.2f} µs | "
                f"{per_core:,.0f} | {result['errors']} |"
            )
        rate = settings.rates["get"]
        progress(f"ws-stream: unary latency at {rate} calls/s, socket then REST")
        unary = ws_common.run_client(
            settings,
            ["unary", "--ws", ws_common.WS_URL, "--http", ws_common.HTTP_URL, "--path", "/v1/items/42",
             "--rate", str(rate), "--seconds", f"{settings.rate_duration:g}",
             "--connections", str(settings.connections)],
            timeout=settings.rate_duration * 2 + 120,
        )
        peak = procs.peak_rss_kib(gateway.pid)
    finally:
        gateway.stop()
        backend.process.stop()
    ws, rest = unary["websocket"], unary["rest"]

    def row(name: str, r: dict) -> str:
        return (f"| {name} | {r['completed']:,} of {r['planned']:,} | {r['rate']:,.0f} | {r['p50_ms']:.3f} | "
                f"{r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['max_ms']:.3f} |")

    pin = "gateway on CPU " + settings.gateway_cpus if settings.gateway_cpus else "unpinned"
    added = ws["p99_ms"] - rest["p99_ms"]
    return [
        title,
        "",
        f"polygate {ws_common.repo_commit()} with `websocket: {{}}` in front of the Rust bench backend, {pin}; "
        f"`examples/ws_load.rs` in its own process. Each client runs `GET {STREAM_PATH}` "
        "(`ListItems`, 1,000 items of ~500 bytes of JSON each) over the `polygate.v1` envelope, "
        f"one call after the other with credit for all, for {settings.duration * 2:g} s.",
        "",
        "| clients | messages | messages/s | gateway cores busy | gateway CPU per message | messages per gateway core-second | errors |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Target (issue 12): at least 100,000 messages/s per gateway core. "
        f"Peak gateway memory: {'–' if peak is None else f'{peak / 1024:.1f} MiB'}.",
        "",
        f"Unary `GET /v1/items/42` (`GetItem`) at a constant {rate:,} calls/s for {settings.rate_duration:g} s, "
        f"latency from each call's scheduled time: over {settings.connections} sockets (calls named as REST "
        f"clients name them), then over REST with {settings.connections} HTTP/1.1 keep-alive connections, "
        "same client process.",
        "",
        "| path | completed | calls/s | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
        row("WebSocket (polygate.v1)", ws),
        row("REST (HTTP/1.1)", rest),
        "",
        f"Added p99 of the socket over REST: {added:+.3f} ms.",
        "",
    ]
