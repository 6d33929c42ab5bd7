"""The load-benchmark run: every scenario through the direct call, polygate and each peer, one
Markdown report on stdout (and in $BENCH_OUT/results-<time>.md). Started by benches/load/run.sh."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time

from . import procs, report, scenarios, targets
from .runner import ScenarioRun, progress, wait_for_quiet_machine
from .settings import REPO, Settings


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return "missing"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def header(settings: Settings, load: tuple[float, float, float]) -> list[str]:
    """Date, machine, pinning, tools and the polygate commit."""
    m = procs.machine()
    commit = _version(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    pin = (
        f"gateway on CPU {settings.gateway_cpus}, backend on CPU {settings.backend_cpus}, "
        f"load generator on CPU {settings.load_cpus}"
        if settings.pinned
        else "no pinning (every process may use every CPU)"
    )
    wrk_version = _version(["wrk", "-v"]).split(" [")[0]
    h2load_version = _version(["h2load", "--version"])
    oha_version = _version([settings.oha_bin, "--version"])
    rounds = f", {settings.rounds} rounds (median shown)" if settings.rounds > 1 else ""
    return [
        f"## Load benchmarks, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {m['cpus']} CPUs ({m['model']}), {m['memory']} memory, {m['kernel']}; "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at start.",
        f"- Pinning: {pin}.",
        f"- polygate {commit}; peers: {', '.join(p.name for p in settings.peers) or 'none'}.",
        f"- Fixed concurrency: {settings.connections} requests in flight, {settings.duration:g} s per target{rounds} "
        f"(wrk -t1 -c{settings.connections} over HTTP/1.1 keep-alive to gateways and to a SOAP backend; "
        f"h2load -c1 -m{settings.connections} with raw gRPC frames for direct gRPC calls), "
        f"after a {settings.warmup:g} s warm-up.",
        f"- Constant rate: {settings.rate_duration:g} s per target with oha --latency-correction "
        f"({settings.connections} HTTP/1.1 connections; one HTTP/2 connection with {settings.connections} "
        "streams for direct gRPC calls).",
        f"- Tools: {wrk_version}; {h2load_version}; {oha_version}.",
        "",
    ]


def main() -> int:
    """Runs everything and prints the report; returns the exit status."""
    settings = Settings.from_env()
    wait_for_quiet_machine()
    started = time.monotonic()
    load = procs.loadavg()
    if not settings.polygate_bin.exists():
        print(f"{settings.polygate_bin} is missing: run benches/load/run.sh (it builds polygate)", file=sys.stderr)
        return 1
    chosen = [s for s in scenarios.ACTIVE if settings.scenarios is None or s.key in settings.scenarios]
    pending = [p for p in scenarios.PENDING if settings.scenarios is None or p.key in settings.scenarios]
    run_dir = settings.out_dir / "run"
    skipped = {}
    for scenario in chosen:
        if scenario.requires is not None:
            missing = scenarios.missing_part(scenario.requires, settings.polygate_bin, run_dir)
            if missing:
                skipped[scenario.key] = missing
    active = [s for s in chosen if s.key not in skipped]
    lines = header(settings, load)
    try:
        backends = targets.start_backends(settings, {s.group for s in active})
    except RuntimeError as e:
        print(f"cannot start the backends: {e}", file=sys.stderr)
        return 1
    results = {}
    try:
        for scenario in active:
            results[scenario.key] = ScenarioRun(settings, scenario, backends[scenario.group]).run()
    finally:
        for backend in {id(b.process): b for b in backends.values()}.values():
            backend.process.stop()
    for scenario in chosen:
        if scenario.key in results:
            lines += report.scenario_section(results[scenario.key], settings.rates[scenario.key], settings.pinned)
        else:
            lines += [f"### {scenario.key}: {scenario.title}", "", skipped[scenario.key], ""]
    for item in pending:
        blocker = scenarios.pending_blocker(item, settings.polygate_bin, run_dir)
        if blocker is None:
            lines += scenarios.driver(item).run(settings)
        else:
            lines += [f"### {item.key}: {item.title}", "", blocker, ""]
    lines.append(f"_Whole run: {time.monotonic() - started:.0f} s._")
    text = "\n".join(lines) + "\n"
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    out = settings.out_dir / f"results-{datetime.datetime.now():%Y%m%d-%H%M%S}.md"
    out.write_text(text)
    sys.stdout.write(text)
    progress(f"report written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
