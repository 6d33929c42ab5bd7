"""Runs one scenario: starts polygate and the peers in front of the scenario's backend, checks
their answers, then measures each target at fixed concurrency and at a constant rate."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import loadgen, procs
from .scenarios import Scenario
from .settings import GROUP_INFIX, Settings, env_id, seconds
from .targets import Backend, Target, describe_answer, direct, fetch, grpc_status, post, start_peer, start_polygate


@dataclass
class FixedRun:
    """One fixed-concurrency run of one target, with the CPU its gateway and backend used."""

    throughput: loadgen.Throughput
    gateway_cpu: float | None
    backend_cpu: float | None
    cpu_busy: dict[str, float]
    steal: float
    load_cpu: float = 0.0
    unattributed_cpu: float = 0.0

    def per_request_us(self, cpu: float | None) -> float | None:
        """CPU microseconds per request (per call, for streams)."""
        if cpu is None or not self.throughput.requests:
            return None
        return cpu / self.throughput.requests * 1e6


@dataclass
class TargetResult:
    """Everything measured for one target in one scenario."""

    name: str
    kind: str
    answer: str = ""
    fixed: list[FixedRun] = field(default_factory=list)
    rate: loadgen.Latency | None = None
    peak_rss_kib: int | None = None
    problems: list[str] = field(default_factory=list)

    def median_run(self) -> FixedRun | None:
        """The fixed run with the median throughput (the lower middle one for an even count)."""
        if not self.fixed:
            return None
        ordered = sorted(self.fixed, key=lambda run: run.throughput.per_second)
        return ordered[(len(ordered) - 1) // 2]


@dataclass
class ScenarioResult:
    """One scenario's results, with the backend used and the lines about what was left out."""

    scenario: Scenario
    backend: str
    targets: list[TargetResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, kind: str) -> TargetResult | None:
        """The first target of a kind (`direct`, `polygate`)."""
        return next((t for t in self.targets if t.kind == kind), None)


def progress(message: str) -> None:
    """A progress line on stderr, so that stdout holds only the tables."""
    print(message, file=sys.stderr, flush=True)


def wait_for_quiet_machine() -> None:
    """With BENCH_WAIT_LOAD=0.6, waits (up to BENCH_WAIT_MAX, 20 min by default) until the
    1-minute load average is below 0.6, so that other work does not share the cores."""
    limit = os.environ.get("BENCH_WAIT_LOAD")
    if not limit:
        return
    deadline = time.monotonic() + seconds(os.environ.get("BENCH_WAIT_MAX") or "1200s")
    while procs.loadavg()[0] >= float(limit):
        if time.monotonic() > deadline:
            progress(f"load average still {procs.loadavg()[0]:.2f}; measuring anyway")
            return
        progress(f"waiting: 1-minute load average {procs.loadavg()[0]:.2f} ≥ {limit}")
        time.sleep(15)


@dataclass
class LoadRequest:
    """What a load generator sends: method, body file, headers; `grpc` for raw gRPC frames over
    HTTP/2; `script` is the wrk script that sends the same (None for a plain GET)."""

    method: str
    body: Path | None = None
    headers: list[str] = field(default_factory=list)
    grpc: bool = False
    script: Path | None = None


def wrk_script(path: Path, request: LoadRequest) -> Path | None:
    """Writes the wrk script sending `request` (the body is read from its file at start-up)."""
    if request.body is None and request.method == "GET" and not request.headers:
        return None
    lines = [f'wrk.method = "{request.method}"']
    if request.body is not None:
        lines.append(f'local file = assert(io.open("{request.body}", "rb"))')
        lines.append("wrk.body = file:read(\"*a\")")
        lines.append("file:close()")
    for header in request.headers:
        name, _, value = header.partition(":")
        lines.append(f'wrk.headers["{name.strip()}"] = "{value.strip().replace(chr(34), chr(92) + chr(34))}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def gateway_request(scenario: Scenario, run_dir: Path) -> LoadRequest:
    """The REST request every gateway gets."""
    run_dir.mkdir(parents=True, exist_ok=True)
    request = LoadRequest(scenario.method)
    if scenario.body is not None:
        request.body = run_dir / f"{scenario.key}.json"
        request.body.write_bytes(scenario.body)
        request.headers = ["content-type: application/json"]
    request.script = wrk_script(run_dir / f"{scenario.key}.lua", request)
    return request


def direct_request(scenario: Scenario, run_dir: Path) -> LoadRequest | None:
    """The direct call: raw gRPC frames, or the HTTP request polygate sent to the backend as the
    backend captured it (None until it has)."""
    if scenario.direct.kind == "grpc":
        frame = run_dir / f"{scenario.key}.grpc"
        frame.write_bytes(scenario.direct.request or b"")
        return LoadRequest("POST", frame, list(loadgen.GRPC_HEADERS), grpc=True)
    body = run_dir / f"{scenario.key}-request.xml"
    headers_file = run_dir / f"{scenario.key}-request.xml.headers"
    if not body.exists() or not headers_file.exists():
        return None
    request = LoadRequest("POST", body, [line for line in headers_file.read_text().splitlines() if line])
    request.script = wrk_script(run_dir / f"{scenario.key}-direct.lua", request)
    return request


def peer_missing(name: str, group: str) -> str:
    """Why a peer is not measured in a backend group, and how to add it."""
    variables = f"BENCH_PEER_{env_id(name)}{GROUP_INFIX[group]}_START and _URL"
    if group == "soap":
        return f"no start command for a SOAP backend ({variables}); the ready peers transcode to gRPC only"
    if group == "stream":
        return (
            f"no start command for the stream scenario ({variables}); it must serve "
            "protos/bench/v1/bench.proto, which has ListItems, in front of $BENCH_BACKEND_ADDR"
        )
    return f"no start command ({variables})"


class ScenarioRun:
    """The state of one scenario while it runs."""

    def __init__(self, settings: Settings, scenario: Scenario, backend: Backend):
        self.settings = settings
        self.scenario = scenario
        self.backend = backend
        self.run_dir = settings.out_dir / "run"
        self.request = gateway_request(scenario, self.run_dir)
        self.direct_request: LoadRequest | None = direct_request(scenario, self.run_dir)
        self.result = ScenarioResult(scenario, backend.label)
        self.targets: list[tuple[Target, TargetResult]] = []

    def start_targets(self) -> None:
        """The direct call, polygate, and every peer that serves this scenario's backend group."""
        group = self.scenario.group
        target = direct(self.scenario, self.backend)
        self.targets.append((target, TargetResult(target.name, target.kind)))
        try:
            target = start_polygate(self.settings, self.backend, group)
            self.targets.append((target, TargetResult(target.name, target.kind)))
        except RuntimeError as e:
            self.result.notes.append(f"polygate did not start: {e}")
        for peer in self.settings.peers:
            if not peer.serves(group):
                self.result.notes.append(f"{peer.name}: not measured: {peer_missing(peer.name, group)}")
                continue
            try:
                target = start_peer(self.settings, peer, group, self.backend)
                self.targets.append((target, TargetResult(target.name, target.kind)))
            except (RuntimeError, OSError) as e:
                self.result.notes.append(f"{peer.name}: did not start: {e}")

    def stop_targets(self) -> None:
        """Records each gateway's peak memory, then stops the gateways (never the backends)."""
        for target, result in self.targets:
            if target.gateway_pid is not None:
                result.peak_rss_kib = procs.peak_rss_kib(target.gateway_pid)
            target.stop()

    def check_answers(self) -> None:
        """One request per target, polygate's first (a captured direct call replays it): 200 with
        the expected shape; GET bodies must equal polygate's; the direct call must succeed."""
        reference = None
        ordered = sorted(self.targets, key=lambda pair: pair[0].kind != "polygate")
        for target, result in ordered:
            if target.kind == "direct":
                self.check_direct(target, result)
                continue
            status, body = fetch(target, self.scenario)
            result.answer = describe_answer(self.scenario, status, body)
            if status != 200:
                result.problems.append(f"answered {result.answer}")
                continue
            if self.scenario.key == "get":
                if reference is None:
                    reference = body
                elif body == reference:
                    result.answer += ", identical to polygate's"
                else:
                    result.answer += ", DIFFERS from polygate's"
                    result.problems.append(f"body differs from polygate's: {body[:120]!r}…")

    def check_direct(self, target: Target, result: TargetResult) -> None:
        """The direct call answers: `grpc-status: 0`, or HTTP 200 to the replayed request."""
        if self.scenario.direct.kind == "grpc" and self.direct_request is not None:
            status = grpc_status(target, self.scenario, self.direct_request.body)
            result.answer = f"grpc-status {status}"
            if status != "0":
                result.problems.append(f"direct call answered grpc-status {status}")
            return
        self.direct_request = direct_request(self.scenario, self.run_dir)
        if self.direct_request is None:
            result.problems.append("no request to replay: the backend captured none from polygate")
            return
        status, body = post(target.url(self.scenario), self.direct_request.body, self.direct_request.headers)
        result.answer = f"HTTP {status}, {len(body):,} B"
        if status != 200:
            result.problems.append(f"direct call answered {result.answer}: {body[:200]!r}")

    def load_request(self, target: Target) -> LoadRequest:
        """What the load generator sends to this target."""
        if target.kind == "direct" and self.direct_request is not None:
            return self.direct_request
        return self.request

    def fixed_load(self, target: Target, seconds: float) -> loadgen.Throughput:
        """Fixed concurrency: h2load for a direct gRPC call, wrk for everything else."""
        s = self.settings
        request = self.load_request(target)
        if request.grpc:
            return loadgen.h2load(target.url(self.scenario), seconds, s.connections, request.body, s.load_cpus)
        return loadgen.wrk(target.url(self.scenario), seconds, s.connections, s.load_cpus, request.script)

    def measure_fixed(self, target: Target, result: TargetResult) -> None:
        """One fixed-concurrency run with the gateway's and the backend's CPU time around it."""
        gateway_before = procs.cpu_seconds(target.gateway_pid) if target.gateway_pid else None
        backend_pid = target.backend_pid
        backend_before = procs.cpu_seconds(backend_pid) if backend_pid else None
        machine_before = procs.cpu_times()
        load_before = procs.children_cpu_seconds()
        throughput = self.fixed_load(target, self.settings.duration)
        load_cpu = procs.children_cpu_seconds() - load_before
        machine_after = procs.cpu_times()
        busy, steal = procs.cpu_busy_between(machine_before, machine_after)
        gateway_cpu = procs.cpu_seconds(target.gateway_pid) - gateway_before if gateway_before is not None else None
        backend_cpu = procs.cpu_seconds(backend_pid) - backend_before if backend_before is not None else None
        machine_cpu = procs.busy_seconds_between(machine_before, machine_after)
        unattributed = machine_cpu - load_cpu - (gateway_cpu or 0.0) - (backend_cpu or 0.0)
        result.fixed.append(
            FixedRun(throughput, gateway_cpu, backend_cpu, busy, steal, load_cpu, unattributed / throughput.seconds)
        )
        if throughput.failures:
            result.problems.append(f"fixed-concurrency run: {throughput.note}")
        unit = self.scenario.unit
        rate = throughput.per_second * self.scenario.messages_per_request
        progress(f"  [{self.scenario.key}] {target.name}: {rate:,.0f} {unit}/s at {self.settings.connections} in flight")

    def measure_rate(self, target: Target, result: TargetResult) -> None:
        """One constant-rate run, latency corrected for coordinated omission."""
        s = self.settings
        rate = s.rates[self.scenario.key]
        request = self.load_request(target)
        latency = loadgen.oha(
            target.url(self.scenario), rate, s.rate_duration, s.connections, s.load_cpus, s.oha_bin,
            method=request.method, body=request.body, headers=request.headers, grpc=request.grpc,
        )
        result.rate = latency
        if latency.failures:
            result.problems.append(f"constant-rate run: {latency.note}")
        progress(f"  [{self.scenario.key}] {target.name}: p99 {latency.percentiles_ms['p99']:.2f} ms at {rate:,} req/s")

    def run(self) -> ScenarioResult:
        """Starts, checks, warms up and measures every target, then stops the gateways."""
        progress(f"[{self.scenario.key}] {self.scenario.title}")
        self.start_targets()
        try:
            self.check_answers()
            live = [(t, r) for t, r in self.targets if not r.problems]
            for target, result in live:
                if self.settings.warmup > 0:
                    self.fixed_load(target, self.settings.warmup)
            for round_index in range(self.settings.rounds):
                # Alternate the order each round so that drift on a shared machine spreads evenly.
                ordered = live if round_index % 2 == 0 else list(reversed(live))
                for target, result in ordered:
                    self._guarded(result, self.measure_fixed, target)
            for target, result in live:
                self._guarded(result, self.measure_rate, target)
        finally:
            self.stop_targets()
        self.result.targets = [result for _, result in self.targets]
        return self.result

    @staticmethod
    def _guarded(result: TargetResult, step, target: Target) -> None:
        try:
            step(target, result)
        except (loadgen.LoadError, OSError) as e:
            result.problems.append(str(e).splitlines()[0])
            progress(f"  {target.name}: {e}")
