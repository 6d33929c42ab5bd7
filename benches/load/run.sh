#!/usr/bin/env bash
# polygate's load benchmarks in one command: every scenario through the direct gRPC call, polygate
# and each peer gateway, at fixed concurrency and at a constant rate. Prints Markdown tables
# (also saved in target/bench-load/). BENCHMARKS.md describes the method and the settings.
#   benches/load/run.sh                  everything, unpinned
#   BENCH_PIN=1 benches/load/run.sh      gateway on CPU 1, backend and load generator on CPU 0
#   BENCH_SCENARIOS="reload-load telemetry-cost" benches/load/run.sh
#                                        only those: GET at a constant rate while the config is
#                                        reloaded every second (BENCH_RELOAD_RATE, default 1000;
#                                        BENCH_RELOAD_DURATION, default 30s), and the CPU cost per
#                                        request of metrics vs metrics + the JSON access log
#   BENCH_SCENARIOS="cache-hit coalesce compose" benches/load/run.sh
#                                        the response cache and composed routes: CPU per cached hit
#                                        vs the same GET uncached; 1,000 concurrent identical misses
#                                        on a 100 ms backend (BENCH_COALESCE_CLIENTS, default 1000;
#                                        BENCH_COALESCE_ROUNDS, default 3); a three-step composed
#                                        route vs its steps alone (BENCH_COMPOSE_RATE, default 1000)
#   BENCH_SCENARIOS=instructions benches/load/run.sh
#                                        polygate under callgrind: instructions per request of a
#                                        cache hit, its own 404 and the transcoded GET (valgrind)
# First it installs what is missing (Debian: wrk, nghttp2-client, curl, mosquitto, valgrind; crates.io: oha), builds
# the ready peers of ../shared/peers with their build.sh, and builds polygate and the bench
# backend in release. BENCH_SKIP_BUILD=1 skips all of that.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PEERS_DIR="${BENCH_PEERS_DIR:-$REPO/../shared/peers}"

say() { echo "run.sh: $*" >&2; }

install_tools() {
  local packages=(wrk nghttp2-client curl mosquitto valgrind) missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
      { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
  fi
  if ! command -v "${OHA:-oha}" >/dev/null; then
    say "installing oha from crates.io (cargo install oha --locked; a few minutes once)"
    cargo install oha --locked >&2
  fi
}

build_peers() {
  # The ready peers, unless BENCH_PEERS names others; a peer that fails to build is left out.
  local names="${BENCH_PEERS-grpc-gateway structured-proxy}"
  for name in $names; do
    if [[ -x "$PEERS_DIR/$name/build.sh" ]]; then
      say "building peer $name ($PEERS_DIR/$name/build.sh)"
      "$PEERS_DIR/$name/build.sh" >&2 || say "peer $name did not build; it is left out"
    fi
  done
}

build_polygate() {
  say "building polygate, the bench backend and the MQTT and WebSocket load clients (cargo build --release)"
  (cd "$REPO" && cargo build --release --bin polygate --example bench_backend --example mqtt_load --example ws_load >&2)
  local target="${CARGO_TARGET_DIR:-$REPO/target}"
  export POLYGATE_BIN="${POLYGATE_BIN:-$target/release/polygate}"
  export BENCH_BACKEND_BIN="${BENCH_BACKEND_BIN:-$target/release/examples/bench_backend}"
  export WS_LOAD_BIN="${WS_LOAD_BIN:-$target/release/examples/ws_load}"
}

if [[ "${BENCH_SKIP_BUILD:-0}" == 0 ]]; then
  install_tools
  build_peers
  build_polygate
fi

cd "$HERE"
exec python3 -m harness "$@"
