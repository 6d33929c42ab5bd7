"""What the cache and composition scenarios share: the Rust bench backend with its gRPC, SOAP and
REST endpoints, polygate in front of all three with the scenarios' routes and an admin listener,
and the gateway CPU per request of several routes measured in one sitting (the GET scenario's wrk
method, rounds alternating the order)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .. import loadgen, procs, targets
from ..runner import progress
from ..settings import REPO, Settings
from . import http_common

REST_BACKEND_ADDR = "127.0.0.1:50063"

# The routes: the GET scenario's gRPC GetItem cached; a slow REST call cached (coalescing); each
# step of the composed route alone, the composed route with its gRPC step only, with its SOAP step
# only (composing's own latency) and with all three.
MAPPING = """# Written by benches/load: the cache and composition scenarios' routes.
xml_mapping:                  # the demo Warehouse's, as in mappings/warehouse.yaml
  default_namespace: "urn:example:warehouse"
  namespaces:
    t: "urn:example:warehouse:types"
  drop_prefixes: true
  arrays: ["GetItemResponse/item/t:tag"]
  types:
    "GetItemResponse/item/t:price": decimal
    "GetItemResponse/item/t:stock": int
http:
  rules:
    - selector: bench.v1.Bench.GetItem
      get: /v1/items/{id}
    - selector: bench.v1.Bench.GetItem
      get: /v1/cached/items/{id}
      cache: {ttl: 1h, assume_safe: true}
routes:
  - get: /v1/slow/{key}
    backend: shop
    rest: {path: "/slow/{key}"}
    timeout: 30s
    cache: {ttl: 1h}
  - get: /v1/warehouse/items/{sku}
    backend: warehouse
    soap: {operation: GetItem, action: urn:example:warehouse/GetItem}
  - get: /v1/shop/items/{id}
    backend: shop
    rest: {path: "/items/{id}"}
  - get: /v1/compose1/{id}
    compose:
      - name: item
        backend: bench
        grpc: bench.v1.Bench.GetItem
        safe: true
        request: {id: "{request.id}"}
  - get: /v1/compose-soap/{id}
    compose:
      - name: stock
        backend: warehouse
        soap: {operation: GetItem, action: urn:example:warehouse/GetItem}
        safe: true
        request: {sku: "{request.id}"}
  - get: /v1/compose3/{id}
    compose:
      - name: item
        backend: bench
        grpc: bench.v1.Bench.GetItem
        safe: true
        request: {id: "{request.id}"}
      - name: stock
        backend: warehouse
        soap: {operation: GetItem, action: urn:example:warehouse/GetItem}
        safe: true
        request: {sku: "{request.id}"}
      - name: shop
        backend: shop
        rest: {path: "/items/{request.id}"}
"""


def config_text(admin_port: int, mapping: Path, listen: str = targets.POLYGATE_ADDR) -> str:
    """polygate's config: REST on `listen`, the admin listener, the three backends, a 64 MiB cache."""
    return f"""# Written by benches/load: polygate in front of the bench backend's gRPC, SOAP and REST endpoints.
http:
  listen: {listen}
admin:
  listen: 127.0.0.1:{admin_port}
backends:
  bench:
    grpc:
      url: http://{targets.RUST_BACKEND_ADDR}
      schema:
        protos: [bench/v1/bench.proto]
        proto_paths: [{REPO / "protos"}]
  warehouse:
    soap:
      url: http://{targets.SOAP_BACKEND_ADDR}/warehouse
      version: "1.1"
  shop:
    rest:
      url: http://{REST_BACKEND_ADDR}
cache:
  max_size: 64MiB
routes:
  json:
    emit_unpopulated: true
mappings: [{mapping}]
"""


@dataclass
class Stack:
    """The running backend and gateway of a scenario."""

    backend: procs.Started
    gateway: procs.Started
    admin_port: int

    def stop(self) -> None:
        """Stops both."""
        self.gateway.stop()
        self.backend.stop()


def start(settings: Settings, name: str, delay_ms: int = 100, under: tuple[str, ...] = ()) -> Stack:
    """The bench backend (gRPC, SOAP and REST, `/slow` answering after `delay_ms`) and polygate,
    run by the command `under` when one is given (valgrind: it starts 50× slower)."""
    run = settings.out_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    argv = [
        str(settings.bench_backend_bin), "--listen", targets.RUST_BACKEND_ADDR,
        "--soap-listen", targets.SOAP_BACKEND_ADDR,
        "--rest-listen", REST_BACKEND_ADDR, "--rest-delay-ms", str(delay_ms),
    ]
    backend = procs.start("bench_backend", argv, run / f"bench_backend-{name}.log", settings.backend_cpus)
    try:
        for addr in (targets.RUST_BACKEND_ADDR, targets.SOAP_BACKEND_ADDR, REST_BACKEND_ADDR):
            procs.wait_port(*targets.host_port(addr), backend)
        mapping = run / f"mapping-{name}.yaml"
        mapping.write_text(MAPPING)
        admin = http_common.free_port()
        config = http_common.gateway_config_path(settings, name)
        config.write_text(config_text(admin, mapping))
        gateway = procs.start(
            "polygate",
            [*under, str(settings.polygate_bin), "serve", "--config", str(config)],
            run / f"polygate-{name}.log",
            settings.gateway_cpus,
            env={"RUST_LOG": "warn"},
        )
        ready_within = 180.0 if under else 30.0
        procs.wait_port(*targets.host_port(targets.POLYGATE_ADDR), gateway, ready_within)
        procs.wait_port("127.0.0.1", admin, gateway, ready_within)
    except BaseException:
        backend.stop()
        raise
    return Stack(backend, gateway, admin)


def get(url: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One GET: status, headers (lower-case names), body."""
    request = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def backend_calls() -> dict[str, int]:
    """The bench backend's REST call counts (`items`, `slow`)."""
    _, _, body = get(f"http://{REST_BACKEND_ADDR}/calls")
    return json.loads(body)


class RunFigures:
    """The figures of `runs`, each (requests, seconds, gateway CPU seconds); the measuring
    dataclasses of the CPU-per-request drivers share them."""

    runs: list[tuple[int, float, float]]

    def per_request_us(self) -> list[float]:
        """Gateway CPU µs per request of each run."""
        return [cpu / requests * 1e6 for requests, _, cpu in self.runs if requests]

    def rates(self) -> list[float]:
        """Requests per second of each run."""
        return [requests / secs for requests, secs, _ in self.runs if secs]


@dataclass
class Measured(RunFigures):
    """One route's runs: (requests, seconds, gateway CPU seconds) each."""

    label: str
    path: str
    runs: list[tuple[int, float, float]] = field(default_factory=list)
    failures: int = 0


def median(values: list[float]) -> float:
    """The median (the mean of the middle two for an even count); NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def cpu_per_request(settings: Settings, gateway: procs.Started, routes: list[Measured], tag: str) -> None:
    """wrk at fixed concurrency on each route in turn, `settings.rounds` rounds alternating the
    order, the gateway's CPU time over each run."""
    base = f"http://{targets.POLYGATE_ADDR}"
    if settings.warmup > 0:
        for route in routes:
            loadgen.wrk(base + route.path, settings.warmup, settings.connections, settings.load_cpus)
    for round_index in range(settings.rounds):
        ordered = routes if round_index % 2 == 0 else list(reversed(routes))
        for route in ordered:
            before = procs.cpu_seconds(gateway.pid)
            throughput = loadgen.wrk(base + route.path, settings.duration, settings.connections, settings.load_cpus)
            cpu = procs.cpu_seconds(gateway.pid) - before
            route.runs.append((throughput.requests, throughput.seconds, cpu))
            route.failures += throughput.failures
            progress(
                f"  [{tag}] {route.label}: {throughput.per_second:,.0f} req/s, "
                f"{cpu / max(throughput.requests, 1) * 1e6:.1f} µs/request"
            )


def cpu_rows(routes: list[Measured]) -> list[str]:
    """The table of routes: req/s, CPU per request (medians) and each run's figure."""
    lines = [
        "| route | req/s (median) | gateway CPU per request (median) | runs (µs/request) |",
        "|---|---|---|---|",
    ]
    for route in routes:
        runs = ", ".join(f"{us:.1f}" for us in route.per_request_us())
        lines.append(
            f"| {route.label} (`GET {route.path}`) | {median(route.rates()):,.0f} | "
            f"{median(route.per_request_us()):.1f} µs | {runs} |"
        )
    return lines


def metric(text: str, line_prefix: str) -> int | None:
    """The value of the series starting with `line_prefix` in /metrics text, or None."""
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return int(float(line[len(line_prefix) + 1:]))
    return None
