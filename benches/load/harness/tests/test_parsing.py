"""Tests of what the harness reads: load-generator output, /proc files, request encodings, the
probe of pending scenarios and the settings. Run: cd benches/load && python3 -m unittest."""

import math
import unittest

from harness import loadgen, procs, report, scenarios, settings
import tempfile
from pathlib import Path

from harness.runner import FixedRun, LoadRequest, ScenarioResult, TargetResult, direct_request, wrk_script

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8090/v1/items/42
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.79ms  512.00us  12.00ms   80.00%
    Req/Sec    16.45k     1.20k   18.00k    70.00%
  Latency Distribution
     50%    1.79ms
     75%    2.00ms
     90%    2.40ms
     99%    3.91ms
  163612 requests in 10.00s, 95.28MB read
  Non-2xx or 3xx responses: 5
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  16355.12
Transfer/sec:      9.52MB
"""

H2LOAD_OUTPUT = """starting benchmark...
finished in 10.00s, 65936.20 req/s, 24.01MB/s
requests: 659362 total, 659394 started, 659362 done, 659360 succeeded, 2 failed, 0 errored, 0 timeout
status codes: 659362 2xx, 0 3xx, 0 4xx, 0 5xx
"""

OHA_REPORT = {
    "summary": {"successRate": 1.0, "requestsPerSec": 4999.5},
    "latencyPercentiles": {"p10": 0.0001, "p50": 0.00021, "p90": 0.0004, "p99": 0.0012, "p99.9": 0.0031},
    "statusCodeDistribution": {"200": 49990, "503": 5},
    "errorDistribution": {"connection closed": 3, "aborted due to deadline": 31},
}

STAT_LINE = "4242 (tokio rt (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 3 0 100 1000 500"


class LoadOutputs(unittest.TestCase):
    def test_wrk_counts_requests_and_every_failure(self):
        result = loadgen.parse_wrk(WRK_OUTPUT)
        self.assertEqual(result.requests, 163612)
        self.assertEqual(result.seconds, 10.0)
        self.assertEqual(result.failures, 8)
        self.assertEqual(result.note, "5 non-2xx; socket errors 0,2,0,1")
        self.assertAlmostEqual(result.per_second, 16361.2)

    def test_wrk_without_a_count_is_an_error(self):
        with self.assertRaises(loadgen.LoadError):
            loadgen.parse_wrk("unable to connect to 127.0.0.1:8090 Connection refused\n")

    def test_h2load_counts_succeeded_calls_only(self):
        result = loadgen.parse_h2load(H2LOAD_OUTPUT)
        self.assertEqual((result.requests, result.seconds, result.failures), (659360, 10.0, 2))
        self.assertEqual(result.note, "2 failed, 0 errored")

    def test_h2load_duration_in_milliseconds(self):
        text = H2LOAD_OUTPUT.replace("finished in 10.00s", "finished in 500.5ms")
        self.assertAlmostEqual(loadgen.parse_h2load(text).seconds, 0.5005)

    def test_oha_percentiles_become_milliseconds(self):
        result = loadgen.parse_oha(OHA_REPORT, 5000)
        self.assertEqual(result.rate, 5000)
        self.assertEqual(result.achieved, 4999.5)
        self.assertEqual(
            {k: round(v, 6) for k, v in result.percentiles_ms.items()},
            {"p50": 0.21, "p90": 0.4, "p99": 1.2, "p99.9": 3.1},
        )
        self.assertEqual(result.failures, 8)
        self.assertEqual(result.note, "5 non-2xx; errors: connection closed ×3")

    def test_oha_missing_percentile_is_nan(self):
        result = loadgen.parse_oha({"summary": {}, "latencyPercentiles": {}}, 10)
        self.assertTrue(math.isnan(result.percentiles_ms["p99.9"]))
        self.assertEqual(result.failures, 0)


class ProcFiles(unittest.TestCase):
    def test_stat_cpu_skips_a_command_name_with_spaces_and_parentheses(self):
        self.assertEqual(procs.parse_stat_cpu_seconds(STAT_LINE), 400 / procs.CLOCK_TICKS)

    def test_status_value_in_kib(self):
        text = "Name:\tpolygate\nVmHWM:\t   15244 kB\nVmRSS:\t   14000 kB\n"
        self.assertEqual(procs.parse_status_kib(text, "VmHWM"), 15244)
        self.assertIsNone(procs.parse_status_kib(text, "VmSwap"))

    def test_listen_inodes_match_port_and_listen_state_only(self):
        table = (
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            "   0: 0100007F:1F9A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1\n"
            "   1: 0100007F:1F9A 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 222 1\n"
            "   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1\n"
        )
        self.assertEqual(procs.parse_listen_inodes(table, 8090), {111})
        self.assertEqual(procs.parse_listen_inodes(table, 8081), {333})

    def test_proc_stat_busy_and_steal_per_cpu(self):
        before = procs.parse_proc_stat(
            "cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 60 0 20 400 5 0 0 15 0 0\ncpu1 40 0 30 400 5 0 0 25 0 0\nintr 1\n"
        )
        after = procs.parse_proc_stat(
            "cpu  250 0 100 840 10 5 5 40 0 0\ncpu0 160 0 40 400 5 5 5 15 0 0\ncpu1 90 0 60 440 5 0 0 25 0 0\n"
        )
        self.assertEqual(before["cpu0"], (80, 15, 500))
        busy, steal = procs.cpu_busy_between(before, after)
        self.assertEqual(busy, {"0": 1.0, "1": 80 / 120})
        self.assertEqual(steal, 0.0)

    def test_pinned_prefixes_taskset_only_when_asked(self):
        self.assertEqual(procs.pinned("1", ["polygate"]), ["taskset", "-c", "1", "polygate"])
        self.assertEqual(procs.pinned(None, ["polygate"]), ["polygate"])


class Encodings(unittest.TestCase):
    def test_get_item_frame_matches_the_peers_h2load_file(self):
        self.assertEqual(scenarios.ACTIVE[0].direct.request, b"\x00\x00\x00\x00\x04\x0a\x0242")

    def test_echo_body_is_one_kibibyte_and_its_frame_holds_the_same_fields(self):
        post = scenarios.ACTIVE[1]
        self.assertEqual(len(post.body), 1024)
        message = scenarios.ECHO_MESSAGE.encode()
        expected = b"\x0a\xe4\x07" + message + b"\x10\x2a"
        self.assertEqual(post.direct.request, b"\x00" + len(expected).to_bytes(4, "big") + expected)

    def test_list_items_frame_asks_for_100(self):
        self.assertEqual(scenarios.ACTIVE[2].direct.request, b"\x00\x00\x00\x00\x02\x08\x64")


class Requests(unittest.TestCase):
    def test_plain_get_needs_no_wrk_script(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assertIsNone(wrk_script(Path(tmp) / "get.lua", LoadRequest("GET")))

    def test_wrk_script_reads_the_body_file_and_sets_headers(self):
        with tempfile.TemporaryDirectory() as tmp:
            body = Path(tmp) / "b.xml"
            script = wrk_script(
                Path(tmp) / "s.lua",
                LoadRequest("POST", body, ['content-type: text/xml; charset=utf-8', 'soapaction: "urn:x/GetItem"']),
            )
            self.assertEqual(
                script.read_text(),
                'wrk.method = "POST"\n'
                f'local file = assert(io.open("{body}", "rb"))\n'
                'wrk.body = file:read("*a")\n'
                "file:close()\n"
                'wrk.headers["content-type"] = "text/xml; charset=utf-8"\n'
                'wrk.headers["soapaction"] = "\\"urn:x/GetItem\\""\n',
            )

    def test_soap_direct_call_waits_for_the_capture_then_replays_it(self):
        soap = next(s for s in scenarios.ACTIVE if s.key == "soap")
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp)
            self.assertIsNone(direct_request(soap, run_dir))
            (run_dir / "soap-request.xml").write_text("<Envelope/>")
            (run_dir / "soap-request.xml.headers").write_text('content-type: text/xml\nsoapaction: "a"\n')
            request = direct_request(soap, run_dir)
            self.assertEqual(
                (request.method, request.body, request.headers, request.grpc),
                ("POST", run_dir / "soap-request.xml", ["content-type: text/xml", 'soapaction: "a"'], False),
            )
            self.assertEqual(request.script, run_dir / "soap-direct.lua")


class Probe(unittest.TestCase):
    def test_unknown_field_and_variant_are_refusals(self):
        self.assertTrue(scenarios.refuses_key("error: p.yaml:1: unknown field `websocket`, expected one of", "websocket"))
        self.assertTrue(scenarios.refuses_key("error: p.yaml:3: unknown variant `soap`, expected `grpc`", "soap"))

    def test_other_errors_mean_the_key_is_known(self):
        self.assertFalse(scenarios.refuses_key("error: p.yaml:1: missing field `listen`", "mqtt"))


class Settings(unittest.TestCase):
    def test_durations(self):
        self.assertEqual(settings.seconds("10s"), 10.0)
        self.assertEqual(settings.seconds("500ms"), 0.5)
        self.assertEqual(settings.seconds("3"), 3.0)
        with self.assertRaises(ValueError):
            settings.seconds("ten")

    def test_cpu_lists(self):
        self.assertEqual(settings.cpu_list_len("0"), 1)
        self.assertEqual(settings.cpu_list_len("0-1"), 2)
        self.assertEqual(settings.cpu_list_len("0,2-3"), 3)


def _target(name, kind, requests, gateway_cpu):
    result = TargetResult(name, kind)
    result.fixed.append(FixedRun(loadgen.Throughput(requests, 10.0), gateway_cpu, None, {}, 0.0))
    return result


class Report(unittest.TestCase):
    def test_goal_line_says_how_far_polygate_is(self):
        res = ScenarioResult(scenarios.ACTIVE[0], "Go backend")
        res.targets = [
            _target("polygate", "polygate", 300_000, 9.0),
            _target("structured-proxy", "peer", 200_000, 10.0),
            _target("grpc-gateway", "peer", 100_000, 7.5),
        ]
        res.targets[0].fixed[0].cpu_busy = {"0": 0.97, "1": 0.9}
        line = report.goal_lines(res, pinned=True)[0]
        self.assertEqual(
            line,
            "**Goal (GET, one gateway core (pinned)):** polygate 30,000 req/s = "
            "1.50× structured-proxy (goal 1.7×: 1.13× short), 3.00× grpc-gateway (goal 2.4×: met); "
            "per gateway core (1 / CPU per request: 33,333 req/s) 1.67× structured-proxy (1.02× short), "
            "2.50× grpc-gateway (met); gateway CPU 30.0 µs per request (goal ≤ 30: met). "
            "polygate's core was 90 % busy (CPU 0 97 %, CPU 1 90 %): the load generator and the backend "
            "limited its req/s, so the per-core ratios are the fairer reading.",
        )

    def test_goal_line_unpinned_says_so_and_skips_the_busy_note(self):
        res = ScenarioResult(scenarios.ACTIVE[0], "Go backend")
        res.targets = [_target("polygate", "polygate", 300_000, 12.0)]
        line = report.goal_lines(res, pinned=False)[0]
        self.assertEqual(
            line,
            "**Goal (GET, unpinned; the goal is stated for one pinned gateway core):** polygate 30,000 req/s = "
            "structured-proxy not measured (goal 1.7×), grpc-gateway not measured (goal 2.4×); "
            "gateway CPU 40.0 µs per request (goal ≤ 30: 1.33× over).",
        )

    def test_median_run_is_the_lower_middle(self):
        result = _target("polygate", "polygate", 100, 1.0)
        result.fixed.append(FixedRun(loadgen.Throughput(300, 10.0), 1.0, None, {}, 0.0))
        result.fixed.append(FixedRun(loadgen.Throughput(200, 10.0), 1.0, None, {}, 0.0))
        self.assertEqual(result.median_run().throughput.requests, 200)


if __name__ == "__main__":
    unittest.main()
