"""telemetry-cost: what the access log adds to polygate's REST GET → gRPC hot path, in gateway
CPU microseconds per request, measured in one sitting by the GET scenario's method (wrk, fixed
concurrency, the gateway's CPU time over the run, BENCH_ROUNDS rounds alternating, median).
Two gateways run side by side in front of the same backend: one with metrics only (metrics are
always recorded), one with metrics and the JSON access log written to a file."""

from __future__ import annotations

from dataclasses import dataclass

from .. import loadgen, procs, targets
from ..runner import progress
from ..settings import Settings
from . import http_common
from .cache_common import RunFigures, median

PATH = "/v1/items/42"


@dataclass
class Variant(RunFigures):
    """One gateway configuration and what its runs measured."""

    label: str
    extra: str
    runs: list[tuple[int, float, float]]  # (requests, seconds, gateway CPU seconds)
    failures: int = 0


def section(variants: list[Variant], settings_line: str, log_lines: int) -> list[str]:
    """The scenario's Markdown section: one row per variant, then the difference."""
    lines = [
        "### telemetry-cost: metrics and the JSON access log on the REST GET → gRPC path",
        "",
        settings_line,
        "",
        "| polygate | req/s (median) | gateway CPU per request (median) | runs (µs/request) |",
        "|---|---|---|---|",
    ]
    for v in variants:
        runs = ", ".join(f"{us:.1f}" for us in v.per_request_us())
        lines.append(f"| {v.label} | {median(v.rates()):,.0f} | {median(v.per_request_us()):.1f} µs | {runs} |")
    base, logged = (median(v.per_request_us()) for v in variants[:2])
    lines += [
        "",
        f"The JSON access log adds **{logged - base:.2f} µs** of gateway CPU per request "
        f"({log_lines:,} lines written). Metrics cannot be turned off, so their own recording cost is "
        "the criterion figure in BENCHMARKS.md, not a difference here.",
    ]
    failed = [f"{v.label}: {v.failures} failed requests" for v in variants if v.failures]
    if failed:
        lines.append("Failures: " + "; ".join(failed) + ".")
    lines.append("")
    return lines


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    title = "### telemetry-cost: metrics and the JSON access log on the REST GET → gRPC path"
    blocker = http_common.missing(settings)
    if blocker:
        return [title, "", blocker, ""]
    run_dir = settings.out_dir / "run"
    log = run_dir / "telemetry-cost-access.log"
    run_dir.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    variants = [
        Variant("metrics only", "", []),
        Variant("metrics + JSON access log to a file", f"access_log:\n  format: json\n  path: {log}\n", []),
    ]
    backend = targets.start_backends(settings, {"unary"})["unary"]
    gateways: list[tuple[Variant, procs.Started, str]] = []
    try:
        for index, variant in enumerate(variants):
            listen = targets.POLYGATE_ADDR if index == 0 else f"127.0.0.1:{http_common.free_port()}"
            name = f"telemetry-cost-{index}"
            process = http_common.start_polygate(settings, name, backend, "unary", extra=variant.extra, listen=listen)
            gateways.append((variant, process, f"http://{listen}{PATH}"))
        for variant, _, url in gateways:
            if settings.warmup > 0:
                loadgen.wrk(url, settings.warmup, settings.connections, settings.load_cpus)
        for round_index in range(settings.rounds):
            ordered = gateways if round_index % 2 == 0 else list(reversed(gateways))
            for variant, process, url in ordered:
                before = procs.cpu_seconds(process.pid)
                throughput = loadgen.wrk(url, settings.duration, settings.connections, settings.load_cpus)
                cpu = procs.cpu_seconds(process.pid) - before
                variant.runs.append((throughput.requests, throughput.seconds, cpu))
                variant.failures += throughput.failures
                progress(
                    f"  [telemetry-cost] {variant.label}: {throughput.per_second:,.0f} req/s, "
                    f"{cpu / max(throughput.requests, 1) * 1e6:.1f} µs/request"
                )
    except (loadgen.LoadError, RuntimeError, OSError) as e:
        return [title, "", f"not measured: {str(e).splitlines()[0]}", ""]
    finally:
        for _, process, _ in gateways:
            process.stop()
        backend.process.stop()
    with log.open("rb") as f:
        log_lines = sum(1 for _ in f)
    settings_line = (
        f"Both gateways in front of the {backend.label}, {http_common.pin_note(settings)}; wrk -t1 "
        f"-c{settings.connections} `GET {PATH}` for {settings.duration:g} s per run after a "
        f"{settings.warmup:g} s warm-up, {settings.rounds} rounds alternating the order; CPU is the "
        "gateway process's user + system time over each run."
    )
    return section(variants, settings_line, log_lines)
