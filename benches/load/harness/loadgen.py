"""The load generators: wrk (HTTP/1.1, fixed concurrency), h2load (gRPC over HTTP/2, fixed
concurrency) and oha (constant request rate with latency correction, HTTP/1.1 or HTTP/2), how
they are called and how their output is read."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .procs import pinned
from .settings import cpu_list_len

GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"]


@dataclass
class Throughput:
    """One fixed-concurrency run: requests completed over the run's duration."""

    requests: int
    seconds: float
    failures: int = 0
    note: str = ""

    @property
    def per_second(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Latency:
    """One constant-rate run: latency percentiles in milliseconds, measured from each request's
    scheduled send time (so a stalled server is charged for the requests it delayed)."""

    rate: int
    achieved: float
    percentiles_ms: dict[str, float] = field(default_factory=dict)
    failures: int = 0
    note: str = ""


class LoadError(RuntimeError):
    """A load generator failed or printed something the harness cannot read."""


def _duration_seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise LoadError(f"unreadable duration {text!r}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[match.group(2)]
    return float(match.group(1)) * scale


def parse_wrk(output: str) -> Throughput:
    """Reads `wrk` output: the completed requests, the duration, and any errors or non-2xx answers."""
    match = re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.M)
    if not match:
        raise LoadError(f"wrk printed no request count:\n{output}")
    failures, notes = 0, []
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        failures += int(non2xx.group(1))
        notes.append(f"{non2xx.group(1)} non-2xx")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if errors:
        count = sum(int(v) for v in errors.groups())
        if count:
            failures += count
            notes.append(f"socket errors {','.join(errors.groups())}")
    return Throughput(int(match.group(1)), _duration_seconds(match.group(2)), failures, "; ".join(notes))


def parse_h2load(output: str) -> Throughput:
    """Reads `h2load` output: succeeded requests over the run, failed and errored ones."""
    finished = re.search(r"finished in ([\d.]+\w+),", output)
    counts = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", output)
    if not finished or not counts:
        raise LoadError(f"h2load printed no summary:\n{output}")
    succeeded, failed, errored = (int(v) for v in counts.groups())
    note = f"{failed} failed, {errored} errored" if failed or errored else ""
    return Throughput(succeeded, _duration_seconds(finished.group(1)), failed + errored, note)


def parse_oha(report: dict, rate: int) -> Latency:
    """Reads oha's JSON report (`--output-format json`): latency percentiles (seconds there,
    milliseconds here), the rate reached, and the answers that were not 2xx or failed."""
    summary = report.get("summary", {})
    percentiles = report.get("latencyPercentiles", {})
    wanted = {"p50": "p50", "p90": "p90", "p99": "p99", "p99.9": "p99.9"}
    result = {}
    for key, label in wanted.items():
        value = percentiles.get(key)
        result[label] = float("nan") if value is None else value * 1000.0
    # In HTTP/2 mode oha ends each idle stream worker with an "aborted due to deadline" entry even
    # when no request was under way; those entries are the end of the run, not failures.
    errors_by_kind = {k: v for k, v in report.get("errorDistribution", {}).items() if "deadline" not in k}
    bad_status = sum(n for code, n in report.get("statusCodeDistribution", {}).items() if not code.startswith("2"))
    errors = sum(errors_by_kind.values())
    notes = []
    if bad_status:
        notes.append(f"{bad_status} non-2xx")
    if errors:
        notes.append("errors: " + ", ".join(f"{k} ×{v}" for k, v in errors_by_kind.items()))
    return Latency(rate, float(summary.get("requestsPerSec", 0.0)), result, bad_status + errors, "; ".join(notes))


def _run(argv: list[str], timeout: float) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LoadError(f"{argv[0]} did not finish in {timeout:.0f} s") from e
    if done.returncode != 0:
        raise LoadError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wrk(url: str, seconds: float, connections: int, cpus: str | None, script: Path | None = None) -> Throughput:
    """HTTP/1.1 keep-alive load at fixed concurrency: `connections` connections, one request each
    in flight, one wrk thread."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    return parse_wrk(_run(pinned(cpus, [*argv, url]), seconds + 30))


def h2load(url: str, seconds: float, streams: int, body: Path, cpus: str | None) -> Throughput:
    """gRPC load at fixed concurrency with no gateway: one HTTP/2 connection carrying `streams`
    calls at a time (a gateway also reaches its backend over one connection), raw gRPC frames."""
    argv = ["h2load", "-t1", "-c1", f"-m{streams}", f"-D{seconds:g}", "-d", str(body)]
    for header in GRPC_HEADERS:
        argv += ["-H", header]
    return parse_h2load(_run(pinned(cpus, [*argv, url]), seconds + 30))


def oha(
    url: str,
    rate: int,
    seconds: float,
    connections: int,
    cpus: str | None,
    oha_bin: str,
    method: str = "GET",
    body: Path | None = None,
    headers: list[str] | None = None,
    grpc: bool = False,
) -> Latency:
    """Constant-rate load: `rate` requests per second for `seconds`, latency measured from each
    request's scheduled time (`--latency-correction`). gRPC targets get HTTP/2 with raw frames over
    one connection (pass GRPC_HEADERS in `headers`); HTTP targets get `connections` HTTP/1.1
    keep-alive connections."""
    argv = [oha_bin, "--no-tui", "--output-format", "json", "-z", f"{seconds:g}s", "-q", str(rate), "--latency-correction",
            # Requests still in flight at the end finish and count, rather than being cut off as errors.
            "--wait-ongoing-requests-after-deadline"]
    if cpus:
        argv += ["--worker-threads", str(cpu_list_len(cpus))]
    if grpc:
        # One HTTP/2 connection with `connections` streams; the gRPC headers come with `headers`.
        argv += ["--http2", "-c", "1", "-p", str(connections), "-m", "POST"]
    else:
        argv += ["-c", str(connections), "-m", method]
    for header in headers or []:
        argv += ["-H", header]
    if body is not None:
        argv += ["-D", str(body)]
    output = _run(pinned(cpus, [*argv, url]), seconds + 60)
    try:
        report = json.loads(output)
    except json.JSONDecodeError as e:
        raise LoadError(f"oha printed no JSON report:\n{output[:2000]}") from e
    return parse_oha(report, rate)
