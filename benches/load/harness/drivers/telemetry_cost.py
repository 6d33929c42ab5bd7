"""telemetry-cost: what the access log adds to polygate's REST GET → gRPC hot path, in gateway
CPU microseconds per request (wrk at fixed concurrency, the gateway's CPU time over the run,
BENCH_ROUNDS rounds, median). Two gateways run in front of the same backend: one with metrics
only (metrics are always recorded), one with metrics and the JSON access log written to a file.

Both are loaded at once, each by its own wrk, and share the gateway CPU: a shared VM's speed
drifts by ±20 % from one second to the next, far more than the 1-2 µs measured here, and two
runs at the same time see the same drift where two runs one after the other do not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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
    base, logged = variants[:2]
    differences = [b - a for a, b in zip(base.per_request_us(), logged.per_request_us())]
    lines += [
        "",
        f"The JSON access log adds **{median(differences):.2f} µs** of gateway CPU per request (the "
        f"median of the rounds' differences; {log_lines:,} lines written). Metrics cannot be turned off, "
        "so their own recording cost is the criterion figure in BENCHMARKS.md, not a difference here.",
    ]
    failed = [f"{v.label}: {v.failures} failed requests" for v in variants if v.failures]
    if failed:
        lines.append("Failures: " + "; ".join(failed) + ".")
    lines.append("")
    return lines


def measure_together(settings: Settings, gateways: list[tuple[Variant, procs.Started, str]], rounds: int) -> None:
    """Loads every gateway at once, each by its own wrk, for `rounds` rounds after the warm-up,
    and notes each round's requests and CPU time in its variant."""
    with ThreadPoolExecutor(len(gateways)) as pool:

        def load_all(seconds: float) -> list[loadgen.Throughput]:
            runs = [pool.submit(loadgen.wrk, url, seconds, settings.connections, settings.load_cpus) for _, _, url in gateways]
            return [run.result() for run in runs]

        if settings.warmup > 0:
            load_all(settings.warmup)
        for _ in range(rounds):
            before = [procs.cpu_seconds(process.pid) for _, process, _ in gateways]
            throughputs = load_all(settings.duration)
            after = [procs.cpu_seconds(process.pid) for _, process, _ in gateways]
            for (variant, _, _), throughput, start, end in zip(gateways, throughputs, before, after):
                cpu = end - start
                variant.runs.append((throughput.requests, throughput.seconds, cpu))
                variant.failures += throughput.failures
                progress(
                    f"  [telemetry-cost] {variant.label}: {throughput.per_second:,.0f} req/s, "
                    f"{cpu / max(throughput.requests, 1) * 1e6:.1f} µs/request"
                )


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
        # Two halves with the gateways' places swapped (port, start order, which wrk starts
        # first): two identical gateways measured this way differ by about 1 µs by place alone.
        for half, ordered in enumerate([variants, variants[::-1]]):
            rounds = (settings.rounds + 1 - half) // 2
            gateways = []
            for index, variant in enumerate(ordered):
                listen = f"127.0.0.1:{http_common.free_port()}"
                name = f"telemetry-cost-{half}-{index}"
                process = http_common.start_polygate(settings, name, backend, "unary", extra=variant.extra, listen=listen)
                gateways.append((variant, process, f"http://{listen}{PATH}"))
            measure_together(settings, gateways, rounds)
            for _, process, _ in gateways:
                process.stop()
    except (loadgen.LoadError, RuntimeError, OSError) as e:
        return [title, "", f"not measured: {str(e).splitlines()[0]}", ""]
    finally:
        for _, process, _ in gateways:
            process.stop()
        backend.process.stop()
    with log.open("rb") as f:
        log_lines = sum(1 for _ in f)
    settings_line = (
        f"Both gateways in front of the {backend.label}, {http_common.pin_note(settings)} (shared by "
        f"both); each loaded by its own wrk -t1 -c{settings.connections} `GET {PATH}` at the same time, "
        f"{settings.duration:g} s per round after a {settings.warmup:g} s warm-up, {settings.rounds} "
        "rounds (half of them with the gateways' places swapped); CPU is each gateway process's user + "
        "system time over the round."
    )
    return section(variants, settings_line, log_lines)
