#!/usr/bin/env bash
# Where polygate's time goes on the GET scenario: a perf sample on the cpu-clock timer (kernel
# included) and a callgrind profile (exact instructions per request, user space), as Markdown.
# Run benches/load/run.sh once first (it installs and builds what this needs).
#   benches/load/profile.sh
#   BENCH_PIN=1 benches/load/profile.sh      polygate on CPU 1, backend and load on CPU 0
# Environment: PROFILE_PERF=0 / PROFILE_CALLGRIND=0 (leave one out), PROFILE_PERF_DURATION (8s),
# PROFILE_RATE (200 req/s under callgrind), PROFILE_DURATION (10s under callgrind).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v valgrind >/dev/null; then
  echo "profile.sh: installing valgrind" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind >&2
fi
cd "$HERE"
exec python3 -m harness.profile "$@"
