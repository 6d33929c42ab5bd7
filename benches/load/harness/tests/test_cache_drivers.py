"""Tests of the cache and composition scenarios' drivers (cache-hit, coalesce, compose,
instructions): the answers read off the wire, the /metrics values and callgrind's totals, the
per-step arithmetic and the Markdown they report. Run: cd benches/load && python3 -m unittest."""

import collections
import os
import unittest
from unittest import mock

from harness import loadgen, scenarios
from harness.drivers import cache_common, cache_hit, coalesce, compose, instructions


def measured(label: str, path: str, us: float) -> cache_common.Measured:
    """A route whose one run cost `us` µs of gateway CPU per request at 10,000 req/s."""
    return cache_common.Measured(label, path, [(10_000, 1.0, us * 10_000 / 1e6)])


class CommonTest(unittest.TestCase):
    def test_a_series_is_read_whole_from_the_metrics_text(self):
        text = (
            'polygate_cache_hits_total{method="GET",route="/v1/cached/items/{id}"} 5092\n'
            'polygate_cache_hits_total{method="GET",route="/v1/cached/items/{id}/x"} 7\n'
        )
        self.assertEqual(cache_common.metric(text, cache_hit.HITS), 5092)
        self.assertIsNone(cache_common.metric(text, cache_hit.MISSES))

    def test_the_config_names_the_three_backends_and_the_mapping(self):
        text = cache_common.config_text(9911, cache_common.REPO / "m.yaml")
        for part in ("admin:\n  listen: 127.0.0.1:9911", "  bench:\n    grpc:", "  warehouse:\n    soap:",
                     f"  shop:\n    rest:\n      url: http://{cache_common.REST_BACKEND_ADDR}", "cache:\n  max_size: 64MiB"):
            self.assertIn(part, text)
        for route in ("/v1/cached/items/{id}", "/v1/slow/{key}", "/v1/compose1/{id}", "/v1/compose-soap/{id}",
                      "/v1/compose3/{id}"):
            self.assertIn(route, cache_common.MAPPING)

    def test_medians_and_per_request_figures(self):
        route = cache_common.Measured("r", "/p", [(100_000, 4.0, 2.0), (110_000, 4.0, 2.2), (0, 0.0, 0.0)])
        self.assertEqual(route.per_request_us(), [20.0, 20.0])
        self.assertEqual(cache_common.median([4.0, 1.0, 2.0, 3.0]), 2.5)


class CacheHitTest(unittest.TestCase):
    def test_the_section_states_the_hit_against_the_uncached_get(self):
        uncached = measured("uncached", cache_hit.UNCACHED, 24.0)
        cached = measured("cached, every request a hit", cache_hit.CACHED, 9.0)
        lines = cache_hit.section(uncached, cached, 10_000, 1, "settings")
        self.assertIn("| uncached (`GET /v1/items/42`) | 10,000 | 24.0 µs | 24.0 |", lines)
        self.assertTrue(any(
            "A hit costs **9.0 µs** of gateway CPU, 38% of the uncached GET's 24.0 µs" in line
            and "**met**" in line and "10,000 hits and 1 misses" in line for line in lines
        ))
        slow = cache_hit.section(uncached, measured("cached", cache_hit.CACHED, 13.0), 1, 1, "settings")
        self.assertTrue(any("**not met**" in line for line in slow))


class CoalesceTest(unittest.TestCase):
    def test_an_answer_head_gives_its_status_and_cache_status(self):
        raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nCache-Status: polygate; hit; detail=coalesced\r\n\r\n{}"
        self.assertEqual(coalesce.parse_answer(raw), (200, "polygate; hit; detail=coalesced"))
        self.assertEqual(coalesce.parse_answer(b"HTTP/1.1 504 Gateway Timeout\r\n\r\n"), (504, ""))
        self.assertEqual(coalesce.parse_answer(b""), (0, ""))

    def test_clients_and_rounds_come_from_the_environment(self):
        with mock.patch.dict(os.environ, {"BENCH_COALESCE_CLIENTS": "", "BENCH_COALESCE_ROUNDS": ""}):
            self.assertEqual(coalesce.load_settings(), (1000, 3))
        with mock.patch.dict(os.environ, {"BENCH_COALESCE_CLIENTS": "50", "BENCH_COALESCE_ROUNDS": "1"}):
            self.assertEqual(coalesce.load_settings(), (50, 1))

    def test_the_goal_is_one_backend_call_and_every_answer_200(self):
        one = coalesce.Round(
            "k", collections.Counter({200: 1000}),
            collections.Counter({"polygate; hit; detail=coalesced": 999, "polygate; fwd=miss; stored": 1}), 1, 0.21,
        )
        lines = coalesce.section([one], 1000, "unpinned")
        self.assertIn(
            "| 1 | 1,000 | 1,000 | 1 | `polygate; hit; detail=coalesced` × 999; `polygate; fwd=miss; stored` × 1 | 210 ms |",
            lines,
        )
        self.assertIn("Goal: 1,000 concurrent identical misses make exactly one backend call: **met**.", lines)
        two = coalesce.Round("k", collections.Counter({200: 1000}), collections.Counter(), 2, 0.3)
        self.assertIn(
            "Goal: 1,000 concurrent identical misses make exactly one backend call: **not met**.",
            coalesce.section([one, two], 1000, "unpinned"),
        )


class ComposeTest(unittest.TestCase):
    def test_the_per_step_figures(self):
        routes = {
            "grpc": measured("g", "/g", 24.0), "soap": measured("s", "/s", 40.0), "rest": measured("r", "/r", 20.0),
            "compose1": measured("c1", "/c1", 30.0), "compose3": measured("c3", "/c3", 72.0),
            "hit": measured("h", "/h", 10.0),
        }
        per_extra_step, calls_alone, overhead = compose.cpu_figures(routes)
        self.assertEqual((per_extra_step, calls_alone, overhead), (21.0, 20.0, 1.0))
        lines = compose.cpu_section(routes)
        self.assertTrue(any("costs **21.0 µs**" in line and "adds **1.0 µs**" in line and "**met**" in line
                            for line in lines))

    def test_the_p50_is_compared_with_the_slowest_step(self):
        def latency(p50: float) -> loadgen.Latency:
            return loadgen.Latency(1000, 1000.0, {"p50": p50, "p90": p50 * 2, "p99": p50 * 4})

        lines = compose.latency_section(
            1000, 10.0, latency(0.45), [("gRPC", latency(0.30)), ("SOAP", latency(0.40)), ("REST", latency(0.20))]
        )
        self.assertIn("| composed, three steps | 1,000 req/s | 0 | 0.450 ms | 0.900 ms | 1.800 ms |", lines)
        self.assertIn(
            "The composed route's p50 is **+0.050 ms** from its slowest step's (SOAP) (goal: within 0.1 ms): **met**.",
            lines,
        )

    def test_the_one_step_route_shows_what_composing_itself_adds(self):
        def latency(p50: float) -> loadgen.Latency:
            return loadgen.Latency(1000, 1000.0, {"p50": p50, "p90": p50 * 2, "p99": p50 * 4})

        lines = compose.latency_section(
            1000, 10.0, latency(0.65), [("gRPC", latency(0.30)), ("SOAP", latency(0.50))],
            ("SOAP", latency(0.52), latency(0.50)),
        )
        self.assertIn("| composed, the SOAP step only | 1,000 req/s | 0 | 0.520 ms | 1.040 ms | 2.080 ms |", lines)
        self.assertIn(
            "The composed route's p50 is **+0.150 ms** from its slowest step's (SOAP) (goal: within 0.1 ms): **not met**.",
            lines,
        )
        self.assertIn(
            "Composing itself: the SOAP step composed on its own is **+0.020 ms** from the same call on its plain "
            "route (p50); the rest of the three-step route's difference is what the other two calls beside it "
            "cost on this machine.",
            lines,
        )
        self.assertEqual(lines[-1], "")


class InstructionsTest(unittest.TestCase):
    def test_an_answer_is_whole_only_with_its_body(self):
        answer = b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\nCache-Status: x\r\n\r\nabcde"
        self.assertEqual(instructions.split_answer(answer + b"HTTP/1.1 200"), (404, len(answer)))
        self.assertIsNone(instructions.split_answer(answer[:-1]))
        self.assertIsNone(instructions.split_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n"))
        self.assertEqual(instructions.split_answer(b"HTTP/1.1 204 No Content\r\n\r\n"), (204, 27))

    def test_the_dump_total_is_read(self):
        dump = "version: 1\ncreator: callgrind-3.24.0\nevents: Ir\nfn=(1) main\n3 7\nsummary: 56986000\ntotals: 56986000\n"
        self.assertEqual(instructions.parse_totals(dump), 56_986_000)
        self.assertEqual(instructions.parse_totals("events: Ir\nsummary: 12\n"), 12)
        with self.assertRaises(RuntimeError):
            instructions.parse_totals("events: Ir\n")

    def test_the_section_gives_each_route_per_request_and_the_hit_against_the_get(self):
        counted = [
            instructions.Counted("cache hit", "/v1/cached/items/42", 2000, 57_000_000),
            instructions.Counted("polygate's own 404", "/nothing/here", 2000, 45_600_000),
            instructions.Counted("transcoded GET → gRPC", "/v1/items/42", 2000, 186_000_000),
        ]
        lines = instructions.section(counted, "settings")
        self.assertEqual(lines[:3], [instructions.TITLE, "", "settings"])
        self.assertIn("| cache hit (`GET /v1/cached/items/42`) | 2,000 | 28,500 |", lines)
        self.assertIn("| polygate's own 404 (`GET /nothing/here`) | 2,000 | 22,800 |", lines)
        self.assertIn("| transcoded GET → gRPC (`GET /v1/items/42`) | 2,000 | 93,000 |", lines)
        self.assertIn("A hit executes 31 % of the transcoded GET's instructions.", lines)
        self.assertEqual(lines[-1], "")


class ScenarioListTest(unittest.TestCase):
    def test_the_four_scenarios_are_listed_with_their_drivers(self):
        keys = {p.key: p for p in scenarios.PENDING}
        for key, module in (("cache-hit", "cache_hit"), ("coalesce", "coalesce"), ("compose", "compose"),
                            ("instructions", "instructions")):
            self.assertEqual(keys[key].module, module)
            self.assertEqual(keys[key].requires.key, "cache")


if __name__ == "__main__":
    unittest.main()
