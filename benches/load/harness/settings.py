"""The harness's settings, all from environment variables (documented in BENCHMARKS.md), and the
peers to measure beside polygate."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HERE = REPO / "benches" / "load"
PEERS_DIR = Path(os.environ.get("BENCH_PEERS_DIR", str(REPO.parent / "shared" / "peers")))
PEER_CACHE = Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "polygate-peers"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "")
    return value if value else default


def seconds(text: str) -> float:
    """`10s`, `2.5s`, `500ms` or a bare number of seconds."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(ms|s)?\s*", text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 10s or 500ms)")
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def cpu_list_len(spec: str) -> int:
    """How many CPUs a taskset list such as `0`, `0-1` or `0,2-3` names."""
    count = 0
    for part in spec.split(","):
        low, _, high = part.partition("-")
        count += int(high) - int(low) + 1 if high else 1
    return count


@dataclass
class Peer:
    """A gateway to measure beside polygate: how to start and stop it for each backend group
    (`unary`: GET and POST in front of the Go backend; `stream`: the Rust bench backend; `soap`:
    its SOAP endpoint), and the port of the backend it uses (to read that backend's CPU time)."""

    name: str
    url: dict[str, str] = field(default_factory=dict)
    start: dict[str, str] = field(default_factory=dict)
    stop: dict[str, str] = field(default_factory=dict)
    backend_port: dict[str, int] = field(default_factory=dict)

    def serves(self, group: str) -> bool:
        """Whether a start command is known for this backend group."""
        return bool(self.start.get(group)) and bool(self.url.get(group))


# The backend groups and the infix of their peer variables (BENCH_PEER_<NAME><INFIX>_START, …).
GROUP_INFIX = {"unary": "", "stream": "_STREAM", "soap": "_SOAP"}


def env_id(name: str) -> str:
    """A peer name as it appears in environment variable names: `grpc-gateway` → `GRPC_GATEWAY`."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def default_peers() -> list[Peer]:
    """The two ready peers of ../shared/peers, when their builds are present."""
    peers = []
    gg_run = PEERS_DIR / "grpc-gateway" / "run.sh"
    gg_work = PEER_CACHE / "grpc-gateway"
    if gg_run.exists() and (gg_work / "bin" / "proxy").exists():
        peers.append(
            Peer(
                "grpc-gateway",
                url={"unary": "http://127.0.0.1:8081"},
                # -camel: lowerCamelCase names, so the bodies are byte-identical to polygate's.
                start={"unary": f"PROXY_FLAGS=-camel {gg_run} >/dev/null"},
                stop={"unary": f"{gg_run} stop >/dev/null"},
                backend_port={"unary": 50051},
            )
        )
    sp_run = PEERS_DIR / "structured-proxy" / "run.sh"
    sp_work = PEER_CACHE / "structured-proxy"
    if sp_run.exists() and (sp_work / "bin" / "structured-proxy").exists():
        stream_script = HERE / "peers" / "structured-proxy-stream.sh"
        peers.append(
            Peer(
                "structured-proxy",
                url={"unary": "http://127.0.0.1:8082", "stream": "http://127.0.0.1:8083"},
                start={"unary": f"{sp_run} >/dev/null", "stream": f"{stream_script} start"},
                stop={"unary": f"{sp_run} stop >/dev/null", "stream": f"{stream_script} stop"},
                # The stream group's backend is the harness's Rust bench backend (BENCH_BACKEND_ADDR).
                backend_port={"unary": 50052, "stream": 50061},
            )
        )
    return peers


def peers_from_env() -> list[Peer]:
    """`BENCH_PEERS` names the peers (space-separated; `none` for none); each has
    `BENCH_PEER_<NAME>_URL`, `_START`, `_STOP`, `_BACKEND_PORT` for the unary group (GET and
    POST), and the same with `_STREAM_` or `_SOAP_` after the name for those groups (e.g.
    `BENCH_PEER_<NAME>_STREAM_URL`). Unset: the ready peers, when built."""
    names = os.environ.get("BENCH_PEERS")
    defaults = {peer.name: peer for peer in default_peers()}
    if names is None:
        return list(defaults.values())
    peers = []
    for name in names.split():
        if name == "none":
            continue
        peer = defaults.get(name, Peer(name))
        key = f"BENCH_PEER_{env_id(name)}"
        for group, infix in GROUP_INFIX.items():
            for attr in ("url", "start", "stop", "backend_port"):
                value = os.environ.get(f"{key}{infix}_{attr.upper()}")
                if value:
                    getattr(peer, attr)[group] = int(value) if attr == "backend_port" else value
        peers.append(peer)
    return peers


@dataclass
class Settings:
    """Everything a run is configured by."""

    duration: float
    rate_duration: float
    warmup: float
    rounds: int
    connections: int
    rates: dict[str, int]
    gateway_cpus: str | None
    backend_cpus: str | None
    load_cpus: str | None
    scenarios: list[str] | None
    polygate_bin: Path
    bench_backend_bin: Path
    go_backend_bin: Path | None
    oha_bin: str
    out_dir: Path
    peers: list[Peer]

    @property
    def pinned(self) -> bool:
        """Whether processes are pinned to CPUs."""
        return bool(self.gateway_cpus)

    @classmethod
    def from_env(cls) -> "Settings":
        """Reads the settings from the environment."""
        pin = _env("BENCH_PIN", "0") not in ("0", "", "no", "false")
        go_backend = Path(_env("BENCH_GO_BACKEND", str(PEER_CACHE / "grpc-gateway" / "bin" / "backend")))
        scenarios = os.environ.get("BENCH_SCENARIOS")
        return cls(
            duration=seconds(_env("BENCH_DURATION", "4s")),
            rate_duration=seconds(_env("BENCH_RATE_DURATION", "10s")),
            warmup=seconds(_env("BENCH_WARMUP", "2s")),
            rounds=int(_env("BENCH_ROUNDS", "5")),
            connections=int(_env("BENCH_CONNECTIONS", "32")),
            rates={
                "get": int(_env("BENCH_RATE_GET", "5000")),
                "post": int(_env("BENCH_RATE_POST", "5000")),
                "stream": int(_env("BENCH_RATE_STREAM", "200")),
                "soap": int(_env("BENCH_RATE_SOAP", "5000")),
            },
            gateway_cpus=os.environ.get("BENCH_GATEWAY_CPUS") or ("1" if pin else None),
            backend_cpus=os.environ.get("BENCH_BACKEND_CPUS") or ("0" if pin else None),
            load_cpus=os.environ.get("BENCH_LOAD_CPUS") or ("0" if pin else None),
            scenarios=scenarios.replace(",", " ").split() if scenarios else None,
            polygate_bin=Path(_env("POLYGATE_BIN", str(REPO / "target" / "release" / "polygate"))),
            bench_backend_bin=Path(
                _env("BENCH_BACKEND_BIN", str(REPO / "target" / "release" / "examples" / "bench_backend"))
            ),
            go_backend_bin=go_backend if go_backend.exists() else None,
            oha_bin=_env("OHA", "oha"),
            out_dir=Path(_env("BENCH_OUT", str(REPO / "target" / "bench-load"))),
            peers=peers_from_env(),
        )
