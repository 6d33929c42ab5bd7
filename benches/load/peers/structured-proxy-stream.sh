#!/usr/bin/env bash
# structured-proxy (the ready peer's binary) in front of the Rust bench backend, serving polygate's
# protos/bench/v1/bench.proto, which adds the server-streaming ListItems: the stream scenario's peer.
#   structured-proxy-stream.sh start   start it on $SP_STREAM_ADDR, wait until it answers
#   structured-proxy-stream.sh stop    stop the process the last start recorded (by PID)
# Environment (the harness sets the BENCH_* ones): BENCH_BACKEND_ADDR (the gRPC backend),
# BENCH_PROTO_DIR (polygate's protos/), BENCH_RUN_DIR (config, descriptor set, PID, log),
# PROXY_CPUS (taskset CPU list), SP_STREAM_ADDR (127.0.0.1:8083), PEER_WORK (the peer's work dir).
set -euo pipefail

WORK="${PEER_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/polygate-peers/structured-proxy}"
RUN_DIR="${BENCH_RUN_DIR:?set by the harness}"
ADDR="${SP_STREAM_ADDR:-127.0.0.1:8083}"
PID_FILE="$RUN_DIR/structured-proxy-stream.pid"
GOOGLEAPIS=/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis

stop() {
  [[ -f "$PID_FILE" ]] || return 0
  pid=$(cat "$PID_FILE")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$PID_FILE"
}

if [[ "${1:-}" == "stop" ]]; then stop; exit 0; fi

[[ -x "$WORK/bin/structured-proxy" ]] || { echo "structured-proxy is not built in $WORK" >&2; exit 1; }
command -v protoc >/dev/null || { echo "protoc is missing (Debian: protobuf-compiler)" >&2; exit 1; }
mkdir -p "$RUN_DIR"
# structured-proxy reads a descriptor set with the google.api.http options kept.
protoc -I "${BENCH_PROTO_DIR:?set by the harness}" -I "$GOOGLEAPIS" -I /usr/include \
  --include_imports -o "$RUN_DIR/bench-stream.pb" bench/v1/bench.proto
cat > "$RUN_DIR/structured-proxy-stream.yaml" <<YAML
listen:
  http: "$ADDR"
upstream:
  default: "http://${BENCH_BACKEND_ADDR:?set by the harness}"
descriptors:
  - file: "$RUN_DIR/bench-stream.pb"
service:
  name: "bench"
YAML
pin=()
[[ -n "${PROXY_CPUS:-}" ]] && pin=(taskset -c "$PROXY_CPUS")
RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "${pin[@]}" "$WORK/bin/structured-proxy" \
  --config "$RUN_DIR/structured-proxy-stream.yaml" >"$RUN_DIR/structured-proxy-stream.log" 2>&1 &
echo $! > "$PID_FILE"
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://$ADDR/v1/items?count=1" 2>/dev/null; then exit 0; fi
  sleep 0.1
done
echo "structured-proxy did not answer on $ADDR within 10 s; log: $RUN_DIR/structured-proxy-stream.log" >&2
stop
exit 1
