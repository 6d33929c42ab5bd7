#!/usr/bin/env bash
# Builds polygate's fuzz targets and runs them (docs/robustness.md, "Fuzzing").
#
#   fuzz/run.sh list                 the targets
#   fuzz/run.sh build                build every target
#   fuzz/run.sh ci                   every target for FUZZ_SECONDS (default 10) each: CI's short run
#   fuzz/run.sh all 1800             every target for 30 minutes each: the long run
#   fuzz/run.sh TARGET [SECONDS]     one target (default 60 s)
#   fuzz/run.sh repro TARGET FILE    run one input through a target (a crash's reproducer)
#
# Environment: FUZZ_JOBS=N runs N targets at once (default 1); FUZZ_SECONDS for `ci`;
# FUZZ_TARGETS="a b" limits `ci` and `all` to those targets; FUZZ_LOG_DIR moves the logs;
# FUZZ_SEED=N fixes libFuzzer's random seed (CI uses 1, so the same commit explores the same
# inputs on every run; 0, the default, picks a new seed each run).
# Targets are built with cargo-fuzz (on nightly when installed), without a sanitizer (the library
# forbids `unsafe`: the failures looked for are panics, failed assertions, overflows — debug
# assertions are on — timeouts and memory blow-ups). Each run reads the committed seeds in
# fuzz/corpus/TARGET and writes what it learns to fuzz/target/corpus/TARGET (not committed);
# a crash is saved under fuzz/artifacts/TARGET/ and its path printed, and the script then
# exits non-zero. Statistics of each run: fuzz/target/logs/TARGET.log, summed up at the end.
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "$0")" && pwd)"
CALLER_DIR="$PWD"
cd "$FUZZ_DIR"

TARGETS=(
  path_template
  path_matcher
  topic
  ws_envelope
  query_binding
  json_proto_roundtrip
  proto_to_json
  xml_to_json
  json_to_xml
  soap_envelope
  soap_answer
  config
  mapping_file
)

# cargo-fuzz is meant for nightly; without a sanitizer it needs no unstable flag, so the
# default toolchain builds the same coverage-guided targets where nightly is not installed.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  TOOLCHAIN=(+nightly)
else
  TOOLCHAIN=()
fi
TRIPLE="$(rustc "${TOOLCHAIN[@]}" -vV | sed -n 's/^host: //p')"
BIN_DIR="$FUZZ_DIR/target/$TRIPLE/release"

dict_of() {
  case "$1" in
    json_proto_roundtrip | query_binding | json_to_xml) echo "$FUZZ_DIR/dict/json.dict" ;;
    xml_to_json | soap_envelope | soap_answer) echo "$FUZZ_DIR/dict/xml.dict" ;;
    *) echo "" ;;
  esac
}

build() {
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
  fi
  nice -n 10 cargo "${TOOLCHAIN[@]}" fuzz build --sanitizer none
}

# run TARGET SECONDS: one time-bounded run; returns non-zero on a crash.
run_one() {
  local target="$1" seconds="$2"
  local work="$FUZZ_DIR/target/corpus/$target" artifacts="$FUZZ_DIR/artifacts/$target/"
  local log="${FUZZ_LOG_DIR:-$FUZZ_DIR/target/logs}/$target.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  local args=(
    "$work" "$FUZZ_DIR/corpus/$target"
    -max_total_time="$seconds"
    -timeout=30
    -rss_limit_mb=2048
    -max_len=16384
    -print_final_stats=1
    -seed="${FUZZ_SEED:-0}"
    -artifact_prefix="$artifacts"
  )
  local dict
  dict="$(dict_of "$target")"
  if [[ -n "$dict" ]]; then
    args+=(-dict="$dict")
  fi
  local status=0
  nice -n 19 "$BIN_DIR/$target" "${args[@]}" >"$log" 2>&1 || status=$?
  local execs rate
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  if [[ "$status" -ne 0 ]]; then
    echo "FAIL $target after ${execs:-?} executions (exit $status); log: $log"
    grep -E "panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to" "$log" | head -20 || true
    local crash
    crash="$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)"
    if [[ -n "$crash" ]]; then
      echo "reproduce: fuzz/run.sh repro $target $crash"
    fi
    return 1
  fi
  printf '%-22s %8s s  %12s execs  %8s exec/s  corpus %s\n' "$target" "$seconds" "${execs:-?}" \
    "${rate:-?}" "$(find "$work" -type f | wc -l)"
}

# run_many SECONDS TARGET...: runs the targets FUZZ_JOBS at a time; fails if any crashed.
run_many() {
  local seconds="$1"
  shift
  local jobs="${FUZZ_JOBS:-1}" failed=0 pids=()
  for target in "$@"; do
    run_one "$target" "$seconds" &
    pids+=("$!")
    if [[ "${#pids[@]}" -ge "$jobs" ]]; then
      wait "${pids[0]}" || failed=1
      pids=("${pids[@]:1}")
    fi
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  if [[ "$failed" -ne 0 ]]; then
    echo "fuzzing found a crash: see the reproducer paths above" >&2
    return 1
  fi
}

command="${1:-ci}"
case "$command" in
  list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
  build)
    build
    ;;
  ci)
    build
    run_many "${FUZZ_SECONDS:-10}" ${FUZZ_TARGETS:-${TARGETS[@]}}
    ;;
  all)
    build
    run_many "${2:-1800}" ${FUZZ_TARGETS:-${TARGETS[@]}}
    ;;
  repro)
    [[ $# -eq 3 ]] || { echo "usage: fuzz/run.sh repro TARGET FILE" >&2; exit 2; }
    input="$3"
    [[ "$input" == /* ]] || input="$CALLER_DIR/$input"   # relative to where the script was called
    build
    "$BIN_DIR/$2" "$input"
    ;;
  *)
    if [[ " ${TARGETS[*]} " != *" $command "* ]]; then
      echo "unknown target or command '$command'; targets: ${TARGETS[*]}" >&2
      exit 2
    fi
    build
    run_many "${2:-60}" "$command"
    ;;
esac
