"""The scenarios: what each sends, through which path, to which backend; and the parts of polygate
some need, with the probe that finds out whether a part has landed."""

from __future__ import annotations

import importlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .settings import HERE

# 1,024 bytes of JSON: {"message":"<996 characters>","sequence":42}.
_TEXT = "polygate carries this sentence from a REST client to a gRPC service and back again. "
ECHO_MESSAGE = (_TEXT * 12)[:996]
ECHO_JSON = f'{{"message":"{ECHO_MESSAGE}","sequence":42}}'.encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def grpc_frame(message: bytes) -> bytes:
    """One uncompressed gRPC message frame: flag 0, big-endian length, the message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def proto_string(field_number: int, text: str) -> bytes:
    """A length-delimited protobuf field holding `text`."""
    data = text.encode()
    return _varint(field_number << 3 | 2) + _varint(len(data)) + data


def proto_varint(field_number: int, value: int) -> bytes:
    """A varint protobuf field."""
    return _varint(field_number << 3) + _varint(value)


@dataclass(frozen=True)
class Requirement:
    """A part of polygate a scenario needs, and how to find out whether it is there: `probe` is a
    config using it; `polygate check` refusing `key` as unknown means the part has not landed."""

    part: str
    probe: str
    key: str


SOAP_BACKEND = Requirement("SOAP backend", "backends:\n  probe:\n    soap: {}\n", "soap")
MQTT_FRONTEND = Requirement("MQTT frontend", "mqtt: {}\n", "mqtt")
WEBSOCKET_FRONTEND = Requirement("WebSocket frontend", "websocket: {}\n", "websocket")
POLICIES = Requirement("front-door policies", "policies:\n  default_auth: none\n", "policies")
HOT_RELOAD = Requirement("hot reload and the admin listener's /metrics", "reload: {}\nadmin: {}\n", "reload")
ACCESS_LOG = Requirement("access log", "access_log: {}\n", "access_log")
RESPONSE_CACHE = Requirement("response cache and composed routes", "cache: {}\n", "cache")
LISTENER_LIMITS = Requirement(
    "REST listener limits", "http:\n  listen: 127.0.0.1:0\n  max_connections: 20000\n", "max_connections"
)


@dataclass(frozen=True)
class DirectCall:
    """The backend called with no gateway: `grpc` (raw frames over HTTP/2 to `path`) or `http`
    (an HTTP/1.1 POST to `path` replaying the request polygate sent, captured by the backend)."""

    kind: str
    path: str
    request: bytes | None = None

    @property
    def label(self) -> str:
        """The target's name in the tables."""
        return f"direct ({'gRPC' if self.kind == 'grpc' else 'SOAP'}, no gateway)"


@dataclass(frozen=True)
class Scenario:
    """A REST scenario measured through polygate, the direct call and the peers; `group` names
    the backend (and polygate config) it runs against."""

    key: str
    title: str
    method: str
    path: str
    body: bytes | None
    group: str
    direct: DirectCall
    messages_per_request: int = 1
    requires: Requirement | None = None

    @property
    def unit(self) -> str:
        """What one count of throughput is."""
        return "msg" if self.messages_per_request > 1 else "req"


ACTIVE = [
    Scenario(
        "get",
        "REST GET → gRPC unary, ~500-byte JSON answer",
        "GET",
        "/v1/items/42",
        None,
        "unary",
        DirectCall("grpc", "/bench.v1.Bench/GetItem", grpc_frame(proto_string(1, "42"))),
    ),
    Scenario(
        "post",
        "REST POST 1 KB JSON → gRPC unary (echoed back)",
        "POST",
        "/v1/echo",
        ECHO_JSON,
        "unary",
        DirectCall("grpc", "/bench.v1.Bench/Echo", grpc_frame(proto_string(1, ECHO_MESSAGE) + proto_varint(2, 42))),
    ),
    Scenario(
        "stream",
        "REST GET → gRPC server stream of 100 messages (NDJSON answer)",
        "GET",
        "/v1/items?count=100",
        None,
        "stream",
        DirectCall("grpc", "/bench.v1.Bench/ListItems", grpc_frame(proto_varint(1, 100))),
        messages_per_request=100,
    ),
    Scenario(
        "soap",
        "REST GET → SOAP 1.1 backend, ~600-byte XML answer as JSON",
        "GET",
        "/v1/warehouse/items/CUP-1001",
        None,
        "soap",
        DirectCall("http", "/warehouse"),
        requires=SOAP_BACKEND,
    ),
]


@dataclass(frozen=True)
class Pending:
    """A scenario that needs a part polygate may not have yet and a load driver of its own: once
    `polygate check` accepts the part, it runs from `benches/load/harness/drivers/<module>.py`."""

    key: str
    title: str
    requires: Requirement
    module: str


PENDING = [
    Pending("mqtt", "MQTT QoS 1 → gRPC (messages/s end to end, acknowledged)", MQTT_FRONTEND, "mqtt"),
    Pending(
        "ws-stream",
        "WebSocket server stream (messages/s) and unary latency against REST",
        WEBSOCKET_FRONTEND,
        "ws_stream",
    ),
    Pending("ws-idle", "10,000 idle WebSocket connections (memory)", WEBSOCKET_FRONTEND, "ws_idle"),
    Pending("idle-conns", "10,000 idle HTTP connections (memory, file descriptors)", LISTENER_LIMITS, "http_idle"),
    Pending("stalled", "100 stalled stream readers (memory, unary latency)", LISTENER_LIMITS, "http_stalled"),
    Pending(
        "policies",
        "REST GET → gRPC with front-door policies (gateway CPU per request)",
        POLICIES,
        "http_policies",
    ),
    Pending(
        "reload-load",
        "constant-rate GET while the config is reloaded every second (failed requests, p99)",
        HOT_RELOAD,
        "reload_load",
    ),
    Pending(
        "telemetry-cost",
        "gateway CPU per REST GET → gRPC request: metrics only vs metrics + JSON access log",
        ACCESS_LOG,
        "telemetry_cost",
    ),
    Pending(
        "cache-hit",
        "gateway CPU per request of a cached GET hit vs the same GET uncached",
        RESPONSE_CACHE,
        "cache_hit",
    ),
    Pending(
        "coalesce",
        "1,000 concurrent identical misses on a 100 ms backend (backend calls)",
        RESPONSE_CACHE,
        "coalesce",
    ),
    Pending(
        "compose",
        "three-step composed route vs its slowest step alone (p50 at 1,000 req/s, CPU per extra step)",
        RESPONSE_CACHE,
        "compose",
    ),
    Pending(
        "instructions",
        "instructions per request under callgrind: cache hit, polygate's own 404, transcoded GET",
        RESPONSE_CACHE,
        "instructions",
    ),
]


def refuses_key(check_output: str, key: str) -> bool:
    """Whether `polygate check` output says the config key (or backend kind) is unknown."""
    text = check_output.lower()
    return f"unknown field `{key}`" in text or f"unknown variant `{key}`" in text


def missing_part(requirement: Requirement, polygate_bin: Path, work_dir: Path) -> str | None:
    """None when polygate has the part; else the line to print instead of the scenario."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / f"probe-{requirement.key}.yaml"
    config.write_text(requirement.probe)
    done = subprocess.run(
        [str(polygate_bin), "check", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    if refuses_key(done.stdout + done.stderr, requirement.key):
        return f"skipped: {requirement.part} not in polygate yet (`polygate check` refuses `{requirement.key}`)"
    return None


def pending_blocker(pending: Pending, polygate_bin: Path, work_dir: Path) -> str | None:
    """None when a pending scenario can run (its part landed and its driver exists); else why not."""
    missing = missing_part(pending.requires, polygate_bin, work_dir)
    if missing:
        return missing
    driver_file = Path(__file__).parent / "drivers" / f"{pending.module}.py"
    if not driver_file.exists():
        return (
            f"skipped: polygate accepts `{pending.requires.key}` now, but the scenario's driver "
            f"{driver_file.relative_to(HERE.parents[1])} is missing (see BENCHMARKS.md, 'Scenarios not measured yet')"
        )
    return None


def driver(pending: Pending):
    """The driver module of a pending scenario whose part has landed."""
    return importlib.import_module(f"harness.drivers.{pending.module}")
