"""policies: the cost of the front-door policies on the REST → gRPC GET hot path, in gateway CPU
µs per request, measured in one sitting: no policy, an API key, a JWT (RS256, ES256) and a JWT
with a local rate limit. The same token is sent on every request, so after the first one JWTs
are served from the verified-token cache (until their expiry): the figures are the repeated
token's cost, which is what the issue's 5 µs target is about."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .. import loadgen, procs, targets
from ..runner import LoadRequest, progress, wrk_script
from ..settings import REPO, Settings
from . import http_common

PATH = "/v1/items/42"
API_KEY = "bench-key"
ISSUER = "https://issuer.bench"
AUDIENCE = "polygate-bench"
KEYS = REPO / "tests" / "keys"
# A rate limit that never refuses: its buckets are still looked up and charged per request.
RATE_LIMIT = "  rate_limit: {rate: 1000000000, per: 1s, key: caller, name: bench}\n"


@dataclass(frozen=True)
class Variant:
    """One configuration measured: its name, the config lines it adds (`policies:` section,
    `routes:` keys) and the headers each request carries."""

    name: str
    policies: str
    routes: str
    headers: tuple[str, ...]


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_to_raw(der: bytes, size: int) -> bytes:
    """An ECDSA signature as OpenSSL writes it (DER `SEQUENCE {r, s}`) in JWS form: r and s,
    each big-endian on `size` bytes."""
    if len(der) < 8 or der[0] != 0x30:
        raise ValueError("not a DER ECDSA signature")
    at = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    raw = b""
    for _ in range(2):
        if der[at] != 0x02:
            raise ValueError("not a DER ECDSA signature")
        length = der[at + 1]
        value = der[at + 2 : at + 2 + length].lstrip(b"\x00")
        if len(value) > size:
            raise ValueError("an ECDSA integer longer than the curve")
        raw += value.rjust(size, b"\x00")
        at += 2 + length
    return raw


def sign_jwt(algorithm: str, kid: str, claims: dict, key_pem: Path) -> str:
    """A JWT signed with `openssl dgst` (RS256: PKCS#1 v1.5; ES256: P-256, converted to r‖s)."""
    header = {"alg": algorithm, "typ": "JWT", "kid": kid}
    compact = lambda value: json.dumps(value, separators=(",", ":")).encode()  # noqa: E731
    signing_input = f"{b64url(compact(header))}.{b64url(compact(claims))}"
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(key_pem)],
        input=signing_input.encode(),
        capture_output=True,
        check=True,
    ).stdout
    if algorithm == "ES256":
        signature = der_to_raw(signature, 32)
    return f"{signing_input}.{b64url(signature)}"


def variants(now: float | None = None) -> list[Variant]:
    """What is measured, in order; tokens live for a day from `now`."""
    claims = {"sub": "bench", "iss": ISSUER, "aud": AUDIENCE, "exp": int((now or time.time()) + 86400)}
    rs256 = sign_jwt("RS256", "rs", claims, KEYS / "rsa.pem")
    es256 = sign_jwt("ES256", "es", claims, KEYS / "ec256.pem")
    key_hash = hashlib.sha256(API_KEY.encode()).hexdigest()
    api_keys = f"  default_auth: any\n  api_keys:\n    keys: [{{name: bench, sha256: {key_hash}}}]\n"
    jwt = (
        f"  default_auth: any\n  jwt:\n    issuers: [{ISSUER}]\n    audiences: [{AUDIENCE}]\n    keys:\n"
        f"      - {{kid: rs, algorithm: RS256, pem_file: {KEYS / 'rsa.pub.pem'}}}\n"
        f"      - {{kid: es, algorithm: ES256, pem_file: {KEYS / 'ec256.pub.pem'}}}\n"
    )
    return [
        Variant("none", "", "", ()),
        Variant("API key", api_keys, "", (f"x-api-key: {API_KEY}",)),
        Variant("JWT RS256", jwt, "", (f"authorization: Bearer {rs256}",)),
        Variant("JWT ES256", jwt, "", (f"authorization: Bearer {es256}",)),
        Variant("JWT RS256 + rate limit", jwt, RATE_LIMIT, (f"authorization: Bearer {rs256}",)),
        Variant("JWT ES256 + rate limit", jwt, RATE_LIMIT, (f"authorization: Bearer {es256}",)),
    ]


def config_text(base: str, variant: Variant) -> str:
    """polygate's bench config (the `stream` group's, which has `routes:`) with the variant's
    `routes:` keys and `policies:` section added."""
    if variant.routes:
        if "\nroutes:\n" not in base:
            raise ValueError("the bench config has no routes: section")
        base = base.replace("\nroutes:\n", "\nroutes:\n" + variant.routes, 1)
    if variant.policies:
        base += "policies:\n" + variant.policies
    return base


def _get(url: str, headers: tuple[str, ...]) -> int:
    request = urllib.request.Request(url)
    for header in headers:
        name, _, value = header.partition(":")
        request.add_header(name.strip(), value.strip())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def measure(settings: Settings, backend: targets.Backend, variant: Variant, index: int) -> dict:
    """Starts polygate with the variant, checks one request, warms up, then one fixed run with
    the gateway's CPU time around it."""
    run = settings.out_dir / "run"
    config = targets.polygate_config("stream", backend, run / f"polygate-policies-{index}.yaml")
    config.write_text(config_text(config.read_text(), variant))
    gateway = procs.start(
        "polygate",
        [str(settings.polygate_bin), "serve", "--config", str(config)],
        run / f"polygate-policies-{index}.log",
        settings.gateway_cpus,
        env={"RUST_LOG": os.environ.get("RUST_LOG", "warn")},
    )
    try:
        procs.wait_port(*targets.host_port(targets.POLYGATE_ADDR), gateway)
        url = f"http://{targets.POLYGATE_ADDR}{PATH}"
        status = _get(url, variant.headers)
        if status != 200:
            return {"name": variant.name, "problem": f"answered HTTP {status}"}
        script = wrk_script(run / f"policies-{index}.lua", LoadRequest("GET", headers=list(variant.headers)))
        if settings.warmup > 0:
            loadgen.wrk(url, settings.warmup, settings.connections, settings.load_cpus, script)
        before = procs.cpu_seconds(gateway.pid)
        throughput = loadgen.wrk(url, settings.duration, settings.connections, settings.load_cpus, script)
        cpu = procs.cpu_seconds(gateway.pid) - before
    finally:
        gateway.stop()
    progress(f"  [policies] {variant.name}: {throughput.per_second:,.0f} req/s")
    result = {"name": variant.name, "requests": throughput.requests, "per_second": throughput.per_second, "cpu": cpu}
    if throughput.failures:
        result["problem"] = throughput.note
    return result


def section(results: list[dict], note: str) -> list[str]:
    """The scenario's Markdown: throughput and gateway CPU per request, and what each policy
    adds to the no-policy run."""
    lines = [
        "### policies: REST GET → gRPC with front-door policies (gateway CPU per request)",
        "",
        note,
        "",
        "| policies | req/s | gateway CPU per request | added to none |",
        "|---|---|---|---|",
    ]
    base = None
    for result in results:
        if "problem" in result and "requests" not in result:
            lines.append(f"| {result['name']} | – | – | {result['problem']} |")
            continue
        per_request = result["cpu"] / result["requests"] * 1e6 if result["requests"] else float("nan")
        if base is None and result["name"] == "none":
            base = per_request
        added = "–" if base is None or result["name"] == "none" else f"{per_request - base:+.1f} µs"
        lines.append(f"| {result['name']} | {result['per_second']:,.0f} | {per_request:.1f} µs | {added} |")
    lines += [
        "",
        "The first verification of a token (before it is cached) is not in these figures: "
        "`cargo bench --bench policy` measures it per algorithm (`jwt_first_verification_*`).",
        "",
    ]
    return lines


def run(settings: Settings) -> list[str]:
    """Measures every variant against one backend and returns the scenario's Markdown section."""
    blocker = http_common.missing(settings)
    if blocker:
        return ["### policies: REST GET → gRPC with front-door policies", "", blocker, ""]
    backend = targets.start_backends(settings, {"stream"})["stream"]
    try:
        results = [measure(settings, backend, variant, i) for i, variant in enumerate(variants())]
    finally:
        backend.process.stop()
    note = (
        f"`GET {PATH}` through polygate to the Rust bench backend, {http_common.pin_note(settings)}; "
        f"wrk -c{settings.connections}, {settings.duration:g} s per configuration after a "
        f"{settings.warmup:g} s warm-up, one polygate process per configuration, the same credential "
        "on every request (JWTs from the verified-token cache after the first)."
    )
    return section(results, note)
