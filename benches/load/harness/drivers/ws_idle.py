"""ws-idle: 10,000 idle WebSocket connections after `init_ack` — the gateway's memory per
connection, its CPU while they idle (the server's pings included), and the time to connect them.
The load client (examples/ws_load.rs) runs in its own process."""

from __future__ import annotations

import json
import subprocess
import time

from .. import procs
from ..runner import progress
from ..settings import Settings
from . import ws_common

CONNECTIONS = 10_000
# Longer than the default ping_interval (30 s), so that every connection is pinged in the window.
IDLE_WINDOW = 40.0


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    title = "### ws-idle: 10,000 idle WebSocket connections (memory)"
    blocker = ws_common.missing(settings)
    if blocker:
        return [title, "", blocker, ""]
    ws_common.raise_fd_limit(CONNECTIONS + 1024)
    backend, gateway = ws_common.start_gateway(settings, "ws-idle")
    client = None
    try:
        time.sleep(1.0)
        before = ws_common.rss_kib(gateway.pid) or 0
        progress(f"ws-idle: opening {CONNECTIONS} connections")
        client = subprocess.Popen(
            procs.pinned(
                settings.load_cpus,
                [
                    str(ws_common.load_client(settings)),
                    "idle",
                    "--ws",
                    ws_common.WS_URL,
                    "--connections",
                    str(CONNECTIONS),
                    "--hold",
                    str(IDLE_WINDOW + 10),
                ],
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        ready = None
        for line in client.stdout:
            if line.startswith("READY "):
                ready = json.loads(line[len("READY ") :])
                break
        if ready is None:
            raise RuntimeError("the load client never reported its connections ready")
        time.sleep(2.0)
        connected = ws_common.rss_kib(gateway.pid) or 0
        cpu_before = procs.cpu_seconds(gateway.pid)
        started = time.monotonic()
        progress(f"ws-idle: {ready['connected']} connected; idling {IDLE_WINDOW:g} s")
        time.sleep(IDLE_WINDOW)
        idle_cpu = (procs.cpu_seconds(gateway.pid) - cpu_before) / (time.monotonic() - started)
        after = ws_common.rss_kib(gateway.pid) or 0
        peak = procs.peak_rss_kib(gateway.pid)
        done_line = client.stdout.readline()
        client.wait(timeout=60)
    finally:
        if client is not None and client.poll() is None:
            client.kill()
        gateway.stop()
        backend.process.stop()
    n = max(ready["connected"], 1)
    per_connection = (max(connected, after) - before) / n
    pin = "gateway on CPU " + settings.gateway_cpus if settings.gateway_cpus else "unpinned"
    return [
        title,
        "",
        f"polygate {ws_common.repo_commit()} with `websocket: {{}}` (2 KiB read and 4 KiB write buffers, "
        f"pings after 30 s of silence), {pin}; the load client (`examples/ws_load.rs idle`) in its own "
        f"process opens the connections 256 at a time, each sending `init` and waiting for `init_ack`.",
        "",
        "| connections | failed | connect time | gateway RSS before | with the connections | per connection | idle CPU (40 s, pings included) | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
        f"| {ready['connected']:,} | {ready['failed']} | {ready['connect_seconds']:.2f} s | "
        f"{before / 1024:.1f} MiB | {max(connected, after) / 1024:.1f} MiB | {per_connection:.2f} KiB | "
        f"{idle_cpu * 100:.2f} % of a core | {(peak or 0) / 1024:.1f} MiB |",
        "",
        f"Targets (issue 12): under 8 KiB per connection, idle CPU under 2 % of a core, 10,000 connects "
        f"in under 10 s. After the window the client still had {done_line.strip() or 'DONE (no report)'}.",
        "",
    ]
