"""Tests of the MQTT scenario's driver: the load client's result line, the config it writes and
the Markdown it reports. Run: cd benches/load && python3 -m unittest."""

import tempfile
import unittest
from pathlib import Path

from harness.drivers import mqtt

RESULT = '{"messages":200000,"seconds":8.000,"rate":25000,"p50_us":1200,"p99_us":4800,"max_us":9000,"missing":0,"duplicates":3}'


class MqttDriverTest(unittest.TestCase):
    def test_the_result_line_is_read_whole(self):
        result = mqtt.parse_result(RESULT)
        self.assertEqual(result["messages"], 200000)
        self.assertEqual(result["p99_us"], 4800)
        with self.assertRaises(ValueError):
            mqtt.parse_result('{"messages": 1}')

    def test_configs_route_the_bench_topic_to_echo_on_either_broker(self):
        with tempfile.TemporaryDirectory() as scratch:
            embedded = mqtt.polygate_config("embedded", 50071, 18830, Path(scratch)).read_text()
            self.assertIn("embedded:\n    listen: 127.0.0.1:18830", embedded)
            self.assertIn("url: http://127.0.0.1:50071", embedded)
            external = mqtt.polygate_config("mosquitto", 50071, 18831, Path(scratch)).read_text()
            self.assertIn("url: mqtt://127.0.0.1:18831", external)
            routes = (Path(scratch) / "mqtt-routes.yaml").read_text()
            self.assertIn("topic: bench/+/echo", routes)

    def test_the_section_states_the_figures_and_the_goals(self):
        result = dict(mqtt.parse_result(RESULT), gateway_cpu=4.0)
        lines = mqtt.section(
            {"embedded": result}, {"devices": 10000, "before_kib": 20480, "after_kib": 61440}
        )
        self.assertIn("| embedded | max | 200,000 | 25,000 | 20.0 µs | 1.20 ms | 4.80 ms | 0 | 3 |", lines)
        self.assertIn(
            "Goal ≥ 20,000 acknowledged msg/s with the embedded broker: **met** (25,000).", lines
        )
        self.assertTrue(any("**4.1 KiB per device** (goal < 10 KiB: met)" in line for line in lines))


if __name__ == "__main__":
    unittest.main()
