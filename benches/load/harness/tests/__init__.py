"""Unit tests of the harness: `cd benches/load && python3 -m unittest`."""
