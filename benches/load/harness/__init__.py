"""polygate's load-benchmark harness: run with `python3 -m harness` from benches/load (run.sh does)."""
