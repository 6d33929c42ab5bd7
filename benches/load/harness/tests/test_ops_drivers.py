"""Tests of the operations scenarios' drivers (reload-load, telemetry-cost): the config rewrite,
the reload counts read from /metrics, the medians and the Markdown they report. Run:
cd benches/load && python3 -m unittest."""

import math
import os
import unittest
from unittest import mock

from harness import loadgen, scenarios
from harness.drivers import reload_load, telemetry_cost

METRICS = """# HELP polygate_config_reloads_total Configuration reloads, by result.
# TYPE polygate_config_reloads_total counter
polygate_config_reloads_total{result="success"} 29
polygate_config_reloads_total{result="failure"} 1
"""


class ReloadLoadTest(unittest.TestCase):
    def test_each_rewrite_keeps_the_settings_and_changes_the_file(self):
        config = "http:\n  listen: 127.0.0.1:8090\nreload:\n  interval: 1s\n"
        first = reload_load.rewritten(config, 1)
        second = reload_load.rewritten(first, 2)
        self.assertTrue(first.startswith(config))
        self.assertTrue(second.startswith(config))
        self.assertEqual(second.count(reload_load.MARK), 1)
        self.assertNotEqual(first, second)
        # Sizes alternate, so a watcher comparing lengths sees every rewrite too.
        self.assertNotEqual(len(first), len(second))

    def test_reload_counts_come_from_the_metrics_text(self):
        self.assertEqual(reload_load.reload_counts(METRICS), (29, 1))
        with self.assertRaises(ValueError):
            reload_load.reload_counts("polygate_requests_in_flight{frontend=\"rest\"} 0\n")

    def test_rate_and_duration_come_from_the_environment(self):
        with mock.patch.dict(os.environ, {"BENCH_RELOAD_RATE": "", "BENCH_RELOAD_DURATION": ""}):
            self.assertEqual(reload_load.load_settings(), (1000, 30.0))
        with mock.patch.dict(os.environ, {"BENCH_RELOAD_RATE": "250", "BENCH_RELOAD_DURATION": "3s"}):
            self.assertEqual(reload_load.load_settings(), (250, 3.0))

    def test_the_section_reports_failures_latency_and_reloads(self):
        latency = loadgen.Latency(1000, 999.7, {"p50": 0.21, "p90": 0.4, "p99": 1.2, "p99.9": 3.1})
        lines = reload_load.section(1000, 30.0, latency, 29, 29, 0, "unpinned")
        self.assertIn("| 1,000 req/s | 0 | 0.21 ms | 0.40 ms | 1.20 ms | 3.10 ms | 29 | 0 |", lines)
        self.assertIn("Goal: zero failed requests while reloading: **met**.", lines)
        failed = loadgen.Latency(1000, 990.0, latency.percentiles_ms, 3, "3 non-2xx")
        lines = reload_load.section(1000, 30.0, failed, 29, 28, 1, "unpinned")
        self.assertIn("Goal: zero failed requests while reloading: **not met** (3 non-2xx).", lines)


class TelemetryCostTest(unittest.TestCase):
    def test_median_of_odd_even_and_no_values(self):
        self.assertEqual(telemetry_cost.median([3.0, 1.0, 2.0]), 2.0)
        self.assertEqual(telemetry_cost.median([4.0, 1.0, 2.0, 3.0]), 2.5)
        self.assertTrue(math.isnan(telemetry_cost.median([])))

    def test_the_section_states_each_variant_and_the_difference(self):
        base = telemetry_cost.Variant("metrics only", "", [(100_000, 4.0, 2.0), (110_000, 4.0, 2.2), (100_000, 4.0, 3.0)])
        logged = telemetry_cost.Variant(
            "metrics + JSON access log to a file", "x", [(100_000, 4.0, 2.1), (100_000, 4.0, 2.5), (100_000, 4.0, 3.0)]
        )
        self.assertEqual(base.per_request_us(), [20.0, 20.0, 30.0])
        lines = telemetry_cost.section([base, logged], "settings", 210_000)
        self.assertIn("| metrics only | 25,000 | 20.0 µs | 20.0, 20.0, 30.0 |", lines)
        self.assertIn("| metrics + JSON access log to a file | 25,000 | 25.0 µs | 21.0, 25.0, 30.0 |", lines)
        # The rounds' differences are 1, 5 and 0 µs: their median, not the medians' difference (5).
        self.assertTrue(
            any("adds **1.00 µs** of gateway CPU per request (the median of the rounds' differences; 210,000 lines written)" in line for line in lines)
        )


class ScenarioListTest(unittest.TestCase):
    def test_both_scenarios_are_listed_with_their_drivers(self):
        keys = {p.key: p for p in scenarios.PENDING}
        self.assertEqual(keys["reload-load"].module, "reload_load")
        self.assertEqual(keys["reload-load"].requires.key, "reload")
        self.assertEqual(keys["telemetry-cost"].module, "telemetry_cost")
        self.assertEqual(keys["telemetry-cost"].requires.key, "access_log")


if __name__ == "__main__":
    unittest.main()
