"""Tests of the policies scenario's driver: JWTs it signs with openssl, the configs it writes and
the Markdown it reports. Run: cd benches/load && python3 -m unittest."""

import base64
import json
import unittest

from harness.drivers import http_policies


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class PoliciesDriverTest(unittest.TestCase):
    def test_der_signatures_become_fixed_width_r_and_s(self):
        # r has a leading zero byte (its high bit is set), s is short.
        der = bytes([0x30, 0x26, 0x02, 0x21, 0x00]) + b"\x80" + b"\x01" * 31 + bytes([0x02, 0x01, 0x05])
        raw = http_policies.der_to_raw(der, 32)
        self.assertEqual(raw, b"\x80" + b"\x01" * 31 + b"\x00" * 31 + b"\x05")
        with self.assertRaises(ValueError):
            http_policies.der_to_raw(b"\x02\x01\x05", 32)

    def test_tokens_carry_the_bench_claims_and_a_signature_of_the_algorithms_size(self):
        variants = {v.name: v for v in http_policies.variants(now=1_000_000)}
        self.assertEqual(list(variants)[0], "none")
        for name, size in [("JWT RS256", 256), ("JWT ES256", 64)]:
            token = variants[name].headers[0].removeprefix("authorization: Bearer ")
            header, claims, signature = token.split(".")
            self.assertEqual(json.loads(_decode(header))["alg"], name[-5:])
            self.assertEqual(
                json.loads(_decode(claims)),
                {"sub": "bench", "iss": http_policies.ISSUER, "aud": http_policies.AUDIENCE, "exp": 1_086_400},
            )
            self.assertEqual(len(_decode(signature)), size)

    def test_configs_add_the_policies_and_the_rate_limit_under_routes(self):
        base = "http:\n  listen: 127.0.0.1:8090\nbackends:\n  bench: {}\nroutes:\n  json:\n    emit_unpopulated: true\n"
        limited = next(v for v in http_policies.variants() if v.name == "JWT ES256 + rate limit")
        text = http_policies.config_text(base, limited)
        self.assertIn("\nroutes:\n  rate_limit: {rate: 1000000000, per: 1s, key: caller, name: bench}\n  json:\n", text)
        self.assertTrue(text.split("policies:\n", 1)[1].startswith("  default_auth: any\n  jwt:\n"))
        none = http_policies.variants()[0]
        self.assertEqual(http_policies.config_text(base, none), base)

    def test_the_section_states_the_cost_added_to_no_policy(self):
        results = [
            {"name": "none", "requests": 100_000, "per_second": 25_000.0, "cpu": 4.0},
            {"name": "API key", "requests": 100_000, "per_second": 24_000.0, "cpu": 4.2},
            {"name": "JWT ES256", "problem": "answered HTTP 401"},
        ]
        lines = http_policies.section(results, "note")
        self.assertIn("| none | 25,000 | 40.0 µs | – |", lines)
        self.assertIn("| API key | 24,000 | 42.0 µs | +2.0 µs |", lines)
        self.assertIn("| JWT ES256 | – | – | answered HTTP 401 |", lines)


if __name__ == "__main__":
    unittest.main()
