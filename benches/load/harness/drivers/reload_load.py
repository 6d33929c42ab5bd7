"""reload-load: constant-rate REST GET → gRPC while polygate's config file is rewritten every
second, so polygate hot-reloads under traffic. Reports failed requests (the goal: none), latency
percentiles, and the reloads polygate applied and refused, read from the admin listener's
/metrics. BENCH_RELOAD_RATE (default 1000 req/s) and BENCH_RELOAD_DURATION (default 30s) set the
load."""

from __future__ import annotations

import os
import re
import threading
import time

from .. import loadgen, procs
from ..runner import progress
from ..settings import Settings, seconds
from ..targets import POLYGATE_ADDR
from . import http_common

PATH = "/v1/items/42"
MARK = "# reload-load: rewrite "


def load_settings() -> tuple[int, float]:
    """The rate and duration of the run."""
    rate = int(os.environ.get("BENCH_RELOAD_RATE") or "1000")
    duration = seconds(os.environ.get("BENCH_RELOAD_DURATION") or "30s")
    return rate, duration


def rewritten(text: str, count: int) -> str:
    """The config with its rewrite mark set to `count`: the same settings, another file (its
    length changes with each rewrite too, so a watcher comparing sizes sees it)."""
    base = "".join(line for line in text.splitlines(keepends=True) if not line.startswith(MARK))
    return base + f"{MARK}{count}{' ' * (count % 2)}\n"


def reload_counts(metrics: str) -> tuple[int, int]:
    """`polygate_config_reloads_total` for success and failure."""
    counts = {}
    for result in ("success", "failure"):
        match = re.search(
            rf'^polygate_config_reloads_total\{{result="{result}"\}} (\d+)$', metrics, re.M
        )
        if not match:
            raise ValueError(f"/metrics has no polygate_config_reloads_total{{result=\"{result}\"}}")
        counts[result] = int(match.group(1))
    return counts["success"], counts["failure"]


def section(
    rate: int, duration: float, latency: loadgen.Latency, rewrites: int, applied: int, refused: int, pin: str
) -> list[str]:
    """The scenario's Markdown section."""
    p = latency.percentiles_ms
    verdict = "**met**" if latency.failures == 0 else f"**not met** ({latency.note})"
    return [
        "### reload-load: constant-rate GET while the config is reloaded every second",
        "",
        f"polygate in front of the Rust bench backend ({pin}), `reload: {{watch: true, interval: 1s}}`; "
        f"oha sends `GET {PATH}` at {rate:,} req/s for {duration:g} s (latency corrected) while the harness "
        f"rewrites the config file every second ({rewrites} rewrites).",
        "",
        "| rate reached | failed requests | p50 | p90 | p99 | p99.9 | reloads applied | reloads refused |",
        "|---|---|---|---|---|---|---|---|",
        f"| {latency.achieved:,.0f} req/s | {latency.failures} | {p['p50']:.2f} ms | {p['p90']:.2f} ms | "
        f"{p['p99']:.2f} ms | {p['p99.9']:.2f} ms | {applied} | {refused} |",
        "",
        f"Goal: zero failed requests while reloading: {verdict}.",
        "",
    ]


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    title = "### reload-load: constant-rate GET while the config is reloaded every second"
    blocker = http_common.missing(settings)
    if blocker:
        return [title, "", blocker, ""]
    rate, duration = load_settings()
    admin = http_common.free_port()
    backend, gateway = http_common.start_gateway(
        settings,
        "reload-load",
        "",
        extra=f"admin:\n  listen: 127.0.0.1:{admin}\nreload:\n  watch: true\n  interval: 1s\n",
    )
    config = http_common.gateway_config_path(settings, "reload-load")
    text = config.read_text()
    outcome: dict = {}

    def load() -> None:
        try:
            outcome["latency"] = loadgen.oha(
                f"http://{POLYGATE_ADDR}{PATH}", rate, duration, settings.connections,
                settings.load_cpus, settings.oha_bin,
            )
        except (loadgen.LoadError, OSError) as e:
            outcome["error"] = e

    try:
        procs.wait_port("127.0.0.1", admin, gateway)
        before = reload_counts(http_common.fetch_metrics(admin))
        progress(f"reload-load: {rate:,} req/s for {duration:g} s, the config rewritten every second")
        thread = threading.Thread(target=load)
        started = time.monotonic()
        thread.start()
        rewrites = 0
        while thread.is_alive():
            thread.join(timeout=1.0)
            if thread.is_alive() and time.monotonic() - started < duration:
                rewrites += 1
                config.write_text(rewritten(text, rewrites))
        # The last rewrite is picked up at the next check (interval: 1s).
        time.sleep(2.5)
        after = reload_counts(http_common.fetch_metrics(admin))
    finally:
        gateway.stop()
        backend.process.stop()
    if "error" in outcome:
        return [title, "", f"the load generator failed: {str(outcome['error']).splitlines()[0]}", ""]
    applied, refused = after[0] - before[0], after[1] - before[1]
    return section(rate, duration, outcome["latency"], rewrites, applied, refused, http_common.pin_note(settings))
