"""MQTT QoS 1 publish → gRPC call → acknowledgement, through polygate's MQTT frontend, with the
embedded broker and with Mosquitto; plus the memory of 10,000 idle devices on the embedded broker.

The load client is `examples/mqtt_load.rs` (`MQTT_LOAD_BIN`, default the release build), in its
own process: it serves the benchmark backend's `Echo` and publishes through the broker, so the
gateway's CPU and memory are its own. Each message carries its send time; the backend records when
it arrives (p50/p99 publish → backend). polygate's CPU per message is its CPU time over the run
divided by the messages. Settings: `BENCH_MQTT_MESSAGES` (200000), `BENCH_MQTT_DEVICES` (8),
`BENCH_MQTT_INFLIGHT` (100 per device), `BENCH_RATE_MQTT` (5000 msg/s for BENCH_RATE_DURATION, the
latency run), `BENCH_MQTT_IDLE` (10000), `MOSQUITTO` (its binary)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .. import procs
from ..settings import REPO, Settings

RATE_GOAL = 20_000
IDLE_GOAL_KIB = 10


def free_port() -> int:
    """A free loopback port (bound, then released for a server that needs it named)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_result(line: str) -> dict:
    """The load client's result line (one JSON object)."""
    result = json.loads(line)
    for key in ("messages", "seconds", "rate", "p50_us", "p99_us", "missing", "duplicates"):
        if key not in result:
            raise ValueError(f"the load client's result has no {key}: {line}")
    return result


def polygate_config(mode: str, backend_port: int, broker_port: int, run_dir: Path) -> Path:
    """polygate with an MQTT frontend (`embedded` broker, or `mosquitto` on broker_port) routing
    bench/+/echo to bench.v1.Bench/Echo."""
    run_dir.mkdir(parents=True, exist_ok=True)
    mapping = run_dir / "mqtt-routes.yaml"
    mapping.write_text(
        "http:\n  rules:\n    - selector: bench.v1.Bench.Echo\n      topic: bench/+/echo\n"
        "      retry: {max_attempts: 0}\n"
    )
    if mode == "embedded":
        storage = run_dir / "mqtt-storage"
        shutil.rmtree(storage, ignore_errors=True)
        frontend = (
            f"mqtt:\n  embedded:\n    listen: 127.0.0.1:{broker_port}\n    storage_dir: {storage}\n"
            "    allow_anonymous: true\n"
        )
    else:
        frontend = f"mqtt:\n  broker:\n    url: mqtt://127.0.0.1:{broker_port}\n  client_id: polygate-bench\n"
    frontend += "  receive_maximum: 256\n"
    path = run_dir / f"polygate-mqtt-{mode}.yaml"
    path.write_text(
        f"""# Written by benches/load: polygate's MQTT frontend in front of the benchmark backend.
{frontend}backends:
  bench:
    grpc:
      url: http://127.0.0.1:{backend_port}
      schema:
        protos: [bench/v1/bench.proto]
        proto_paths: [{REPO / "protos"}]
mappings: [{mapping}]
"""
    )
    return path


def wait_for_line(path: Path, needle: str, started: procs.Started, timeout: float = 60.0) -> None:
    """Waits until `needle` appears in a process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in path.read_text(errors="replace"):
            return
        if not started.alive():
            raise RuntimeError(f"{started.name} exited:\n{path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{started.name} did not log {needle!r} within {timeout:.0f} s")


def start_mosquitto(run_dir: Path, port: int) -> procs.Started:
    """Debian's Mosquitto on a loopback port, in memory, queues large enough for the run."""
    binary = os.environ.get("MOSQUITTO") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_dir / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\nmax_inflight_messages 256\n"
    )
    started = procs.start("mosquitto", [binary, "-c", str(config)], run_dir / "mosquitto.log")
    procs.wait_port("127.0.0.1", port, started)
    return started


def load_client(settings: Settings) -> Path:
    return Path(os.environ.get("MQTT_LOAD_BIN", str(REPO / "target" / "release" / "examples" / "mqtt_load")))


def measure(settings: Settings, mode: str, rate: int = 0) -> dict:
    """One run: polygate's CPU over the run, and the load client's result; `rate` > 0 sends at
    that constant rate for BENCH_RATE_DURATION (latency), else as fast as possible (throughput)."""
    run_dir = settings.out_dir / "run" / f"mqtt-{mode}"
    backend_port, broker_port = free_port(), free_port()
    messages = int(os.environ.get("BENCH_MQTT_MESSAGES", "200000"))
    if rate:
        messages = int(rate * settings.rate_duration)
    devices = os.environ.get("BENCH_MQTT_DEVICES", "8")
    inflight = os.environ.get("BENCH_MQTT_INFLIGHT", "100")
    mosquitto = start_mosquitto(run_dir, broker_port) if mode == "mosquitto" else None
    client = subprocess.Popen(
        procs.pinned(
            settings.load_cpus,
            [
                str(load_client(settings)), "run",
                "--backend-listen", f"127.0.0.1:{backend_port}",
                "--broker", f"127.0.0.1:{broker_port}",
                "--messages", str(messages), "--devices", devices, "--inflight", inflight,
                "--rate", str(rate),
            ],
        ),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    gateway = None
    try:
        if client.stdout is None or client.stdin is None or client.stdout.readline().strip() != "backend ready":
            raise RuntimeError("the load client did not start its backend")
        config = polygate_config(mode, backend_port, broker_port, run_dir)
        log = run_dir / "polygate.log"
        gateway = procs.start(
            "polygate",
            [str(settings.polygate_bin), "serve", "--config", str(config)],
            log,
            settings.gateway_cpus,
            env={"RUST_LOG": "info"},
        )
        wait_for_line(log, "MQTT bridge ready", gateway)
        cpu_before, wall_before = procs.cpu_seconds(gateway.pid), time.monotonic()
        client.stdin.write("go\n")
        client.stdin.flush()
        result = parse_result(client.stdout.readline())
        result["gateway_cpu"] = procs.cpu_seconds(gateway.pid) - cpu_before
        result["wall"] = time.monotonic() - wall_before
        result["gateway_peak_kib"] = procs.peak_rss_kib(gateway.pid)
        return result
    finally:
        client.kill()
        client.wait()
        if gateway:
            gateway.stop()
        if mosquitto:
            mosquitto.stop()


def idle_memory(settings: Settings) -> dict:
    """polygate's memory before and with 10,000 idle devices on its embedded broker."""
    run_dir = settings.out_dir / "run" / "mqtt-idle"
    broker_port = free_port()
    count = int(os.environ.get("BENCH_MQTT_IDLE", "10000"))
    config = polygate_config("embedded", free_port(), broker_port, run_dir)
    log = run_dir / "polygate.log"
    gateway = procs.start(
        "polygate", [str(settings.polygate_bin), "serve", "--config", str(config)], log,
        settings.gateway_cpus, env={"RUST_LOG": "info"},
    )
    client = None
    try:
        wait_for_line(log, "MQTT bridge ready", gateway)
        before = rss_kib(gateway.pid)
        client = subprocess.Popen(
            procs.pinned(settings.load_cpus, [str(load_client(settings)), "idle", "--broker", f"127.0.0.1:{broker_port}", "--connections", str(count)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        line = client.stdout.readline().strip() if client.stdout else ""
        connected = int(line.split()[-1]) if line.startswith("connected") else 0
        time.sleep(2)  # let allocations settle before reading RSS (a measurement, not a sync)
        after = rss_kib(gateway.pid)
        return {"devices": connected, "before_kib": before, "after_kib": after}
    finally:
        if client:
            client.kill()
            client.wait()
        gateway.stop()


def rss_kib(pid: int) -> int:
    return procs.parse_status_kib(Path(f"/proc/{pid}/status").read_text(), "VmRSS") or 0


def section(results: dict[str, dict], idle: dict | None, latency: dict[str, dict] | None = None) -> list[str]:
    """The scenario's Markdown section: throughput (as fast as possible), latency at a constant
    rate, idle memory."""
    lines = [
        "### MQTT QoS 1 publish → gRPC call → acknowledgement",
        "",
        "| broker | run | messages | msg/s | gateway CPU per message | p50 publish → backend | p99 | missing | duplicates |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(mode, "max", result) for mode, result in results.items()]
    rows += [(mode, f"{result['rate_asked']:,}/s", result) for mode, result in (latency or {}).items()]
    for mode, run_kind, result in rows:
        per_message = result["gateway_cpu"] / result["messages"] * 1e6 if result["messages"] else 0
        lines.append(
            f"| {mode} | {run_kind} | {result['messages']:,} | {result['rate']:,.0f} | {per_message:.1f} µs "
            f"| {result['p50_us'] / 1000:.2f} ms | {result['p99_us'] / 1000:.2f} ms "
            f"| {result['missing']} | {result['duplicates']} |"
        )
    embedded = results.get("embedded")
    if embedded:
        verdict = "met" if embedded["rate"] >= RATE_GOAL else "not met"
        lines += ["", f"Goal ≥ {RATE_GOAL:,} acknowledged msg/s with the embedded broker: **{verdict}** ({embedded['rate']:,.0f})."]
    if idle:
        per_device = (idle["after_kib"] - idle["before_kib"]) / max(idle["devices"], 1)
        verdict = "met" if per_device < IDLE_GOAL_KIB else "not met"
        lines += [
            "",
            f"**{idle['devices']:,} idle devices** on the embedded broker: RSS {idle['before_kib'] / 1024:.1f} MiB → "
            f"{idle['after_kib'] / 1024:.1f} MiB, **{per_device:.1f} KiB per device** "
            f"(goal < {IDLE_GOAL_KIB} KiB: {verdict}).",
        ]
    return lines + [""]


def run(settings: Settings) -> list[str]:
    """Measures both brokers and the idle fleet; returns the Markdown section."""
    if not load_client(settings).exists():
        return [f"skipped: {load_client(settings)} is missing (cargo build --release --example mqtt_load)", ""]
    modes = ["embedded"]
    if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists() or os.environ.get("MOSQUITTO"):
        modes.append("mosquitto")
    results = {mode: measure(settings, mode) for mode in modes}
    rate = int(os.environ.get("BENCH_RATE_MQTT", "5000"))
    latency = {mode: dict(measure(settings, mode, rate), rate_asked=rate) for mode in modes}
    return section(results, idle_memory(settings), latency)
