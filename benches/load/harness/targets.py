"""What a scenario is measured against: the backends, the direct call to them, polygate, and the
peer gateways; how each is started, checked and stopped."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from . import procs
from .scenarios import Scenario
from .settings import REPO, Peer, Settings

POLYGATE_ADDR = "127.0.0.1:8090"
GO_BACKEND_ADDR = "127.0.0.1:50071"
RUST_BACKEND_ADDR = "127.0.0.1:50061"
SOAP_BACKEND_ADDR = "127.0.0.1:50062"


@dataclass
class Backend:
    """A running gRPC backend and what it is, for the tables."""

    addr: str
    label: str
    process: procs.Started


@dataclass
class Target:
    """One thing a scenario's load is sent to."""

    name: str
    kind: str  # "direct", "polygate" or "peer"
    base_url: str
    gateway_pid: int | None
    backend_pid: int | None
    stop_command: str | None = None
    stop_env: dict | None = None
    started: procs.Started | None = None

    def is_grpc(self, scenario: Scenario) -> bool:
        """Whether the load is gRPC (a direct gRPC call); gateways take REST/JSON over HTTP/1.1."""
        return self.kind == "direct" and scenario.direct.kind == "grpc"

    def url(self, scenario: Scenario) -> str:
        """The full URL the load goes to."""
        return self.base_url + (scenario.direct.path if self.kind == "direct" else scenario.path)

    def stop(self) -> None:
        """Stops the gateway this harness started (polygate by PID; a peer by its stop command)."""
        if self.started is not None:
            self.started.stop()
        if self.stop_command:
            subprocess.run(["bash", "-c", self.stop_command], env=self.stop_env, timeout=60, check=False)


def host_port(addr: str) -> tuple[str, int]:
    """(host, port) of `host:port`."""
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def start_backends(settings: Settings, groups: set[str]) -> dict[str, Backend]:
    """The backend of each group: `unary` is a copy of the peers' Go backend (the Rust bench
    backend when the Go one is not built); `stream` is the Rust bench backend; `soap` is the Rust
    bench backend's SOAP endpoint. On failure, what was started is stopped again."""
    started: list[procs.Started] = []
    try:
        return _start_backends(settings, groups, started)
    except BaseException:
        for process in started:
            process.stop()
        raise


def _start_backends(settings: Settings, groups: set[str], started: list[procs.Started]) -> dict[str, Backend]:
    backends: dict[str, Backend] = {}
    run = settings.out_dir / "run"
    needs_rust = bool(groups & {"stream", "soap"}) or ("unary" in groups and settings.go_backend_bin is None)
    rust = None
    if needs_rust:
        if not settings.bench_backend_bin.exists():
            raise RuntimeError(f"{settings.bench_backend_bin} is missing: run benches/load/run.sh (it builds it)")
        argv = [str(settings.bench_backend_bin), "--listen", RUST_BACKEND_ADDR]
        if "soap" in groups:
            # The SOAP scenario's direct call replays the request polygate sends first.
            capture = run / "soap-request.xml"
            capture.unlink(missing_ok=True)
            capture.with_name(capture.name + ".headers").unlink(missing_ok=True)
            argv += ["--soap-listen", SOAP_BACKEND_ADDR, "--soap-capture", str(capture)]
        process = procs.start("bench_backend", argv, run / "bench_backend.log", settings.backend_cpus)
        started.append(process)
        procs.wait_port(*host_port(RUST_BACKEND_ADDR), process)
        rust = Backend(RUST_BACKEND_ADDR, "Rust bench backend (examples/bench_backend.rs, tonic + prost)", process)
        if "soap" in groups:
            procs.wait_port(*host_port(SOAP_BACKEND_ADDR), process)
            backends["soap"] = Backend(
                SOAP_BACKEND_ADDR,
                "SOAP 1.1 endpoint of the Rust bench backend (examples/bench_backend.rs, hyper HTTP/1.1): "
                "the demo Warehouse's GetItemResponse (551 bytes), sent without parsing the request",
                process,
            )
    if "unary" in groups:
        if settings.go_backend_bin is not None:
            process = procs.start(
                "go_backend",
                [str(settings.go_backend_bin), "-listen", GO_BACKEND_ADDR],
                run / "go_backend.log",
                settings.backend_cpus,
            )
            started.append(process)
            procs.wait_port(*host_port(GO_BACKEND_ADDR), process)
            backends["unary"] = Backend(
                GO_BACKEND_ADDR, "Go backend of the grpc-gateway peer (grpc-go 1.33), one copy per gateway", process
            )
        elif rust is not None:
            backends["unary"] = rust
    if "stream" in groups and rust is not None:
        backends["stream"] = rust
    return backends


def direct(scenario: Scenario, backend: Backend) -> Target:
    """The backend called with no gateway in between."""
    return Target(scenario.direct.label, "direct", f"http://{backend.addr}", None, backend.process.pid)


def polygate_config(group: str, backend: Backend, path: Path) -> Path:
    """Writes polygate's config for a backend group: REST/JSON on POLYGATE_ADDR in front of the
    gRPC backend (bench.proto) or, for `soap`, the SOAP endpoint with the demo's Warehouse routes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if group == "soap":
        backends = f"""  warehouse:
    soap:
      url: http://{backend.addr}/warehouse
      version: "1.1"
mappings: [{REPO / "mappings" / "warehouse.yaml"}]
"""
    else:
        backends = f"""  bench:
    grpc:
      url: http://{backend.addr}
      schema:
        protos: [bench/v1/bench.proto]
        proto_paths: [{REPO / "protos"}]
routes:
  json:
    emit_unpopulated: true   # structured-proxy always writes defaults: keep the bodies identical
"""
    path.write_text(
        f"""# Written by benches/load: polygate in front of the benchmark backend.
http:
  listen: {POLYGATE_ADDR}
backends:
{backends}"""
    )
    return path


def start_polygate(settings: Settings, backend: Backend, group: str) -> Target:
    """Starts polygate in front of the group's backend and waits until it listens."""
    config = polygate_config(group, backend, settings.out_dir / "run" / f"polygate-{group}.yaml")
    process = procs.start(
        "polygate",
        [str(settings.polygate_bin), "serve", "--config", str(config)],
        settings.out_dir / "run" / f"polygate-{group}.log",
        settings.gateway_cpus,
        env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    procs.wait_port(*host_port(POLYGATE_ADDR), process)
    return Target(
        "polygate", "polygate", f"http://{POLYGATE_ADDR}", process.pid, backend.process.pid, started=process
    )


def start_peer(settings: Settings, peer: Peer, group: str, backend: Backend | None) -> Target:
    """Runs a peer's start command (it must return once the peer answers) and finds the gateway's
    PID as the process listening on the peer's port, and its backend's by the backend's port."""
    env = {
        **os.environ,
        # The ready peers' run.sh read these names.
        "PROXY_CPUS": settings.gateway_cpus or "",
        "BACKEND_CPUS": settings.backend_cpus or "",
        "BENCH_RUN_DIR": str(settings.out_dir / "run"),
        "BENCH_PROTO_DIR": str(REPO / "protos"),
        "BENCH_BACKEND_ADDR": backend.addr if backend else "",
    }
    command = peer.start[group]
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{peer.name}: `{command}` exited {done.returncode}:\n{done.stdout}{done.stderr}")
    url = peer.url[group].rstrip("/")
    port = urlsplit(url).port or 80
    pid = procs.listening_pid(port)
    backend_port = peer.backend_port.get(group)
    backend_pid = procs.listening_pid(backend_port) if backend_port else None
    return Target(peer.name, "peer", url, pid, backend_pid, stop_command=peer.stop.get(group), stop_env=env)


def fetch(target: Target, scenario: Scenario) -> tuple[int, bytes]:
    """One request through a gateway, for the answer checks."""
    request = urllib.request.Request(target.url(scenario), data=scenario.body, method=scenario.method)
    if scenario.body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post(url: str, body_file: Path, headers: list[str]) -> tuple[int, bytes]:
    """One HTTP/1.1 POST of a file with `name: value` headers, for the direct call's check."""
    request = urllib.request.Request(url, data=body_file.read_bytes(), method="POST")
    for header in headers:
        name, _, value = header.partition(":")
        request.add_header(name.strip(), value.strip())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def grpc_status(target: Target, scenario: Scenario, frame_file: Path) -> str:
    """The grpc-status of one direct call, by curl over HTTP/2 with prior knowledge."""
    done = subprocess.run(
        [
            "curl", "-sS", "--http2-prior-knowledge", "-H", "content-type: application/grpc", "-H", "te: trailers",
            "--data-binary", f"@{frame_file}", "-o", "/dev/null", "-D", "-", target.url(scenario),
        ],
        capture_output=True, text=True, timeout=30,
    )
    for line in done.stdout.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "grpc-status":
            return value.strip()
    return f"none (curl: {done.stderr.strip() or 'no grpc-status header'})"


def describe_answer(scenario: Scenario, status: int, body: bytes) -> str:
    """Checks a gateway's answer and says what it is: `494 B`, `100 lines, 49,431 B`, or the problem."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    if scenario.messages_per_request > 1:
        lines = [line for line in body.split(b"\n") if line.strip()]
        if len(lines) != scenario.messages_per_request:
            return f"{len(lines)} lines, expected {scenario.messages_per_request}"
        return f"{len(lines)} lines, {len(body):,} B"
    try:
        json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    return f"{len(body):,} B"
