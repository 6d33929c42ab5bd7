"""compose: a three-step composed route (gRPC GetItem, SOAP GetItem and a REST GET run side by
side) against its steps alone. Two measurements in one sitting:

- latency: oha at a constant rate (BENCH_COMPOSE_RATE, default 1000 req/s, for the harness's
  rate duration) on the composed route and on each step's route alone; the goal is the composed
  route's p50 within 0.1 ms of its slowest step's. The SOAP step composed on its own, run right
  after the SOAP route alone, separates what composing costs from what running the other two
  calls beside the slowest one costs (on a small machine the three calls share its CPUs);
- CPU: the GET scenario's wrk method on each route, on the composed route with its gRPC step
  only and with all three, and on a cache hit (the request's fixed cost: HTTP in and out, routing,
  no backend call). Per extra step = (three steps − one step) / 2; the same calls alone = each
  added step's route alone minus the hit; the difference is what composing adds per step (the
  goal: at most 5 µs)."""

from __future__ import annotations

import os

from .. import loadgen
from ..runner import progress
from ..settings import Settings
from ..targets import POLYGATE_ADDR
from . import cache_common, http_common

TITLE = "### compose: a three-step composed route (gRPC + SOAP + REST) vs its steps alone"
COMPOSED = "/v1/compose3/42"
# The SOAP step composed on its own, and the same call on its plain route.
ONE_STEP = ("SOAP GetItem", "/v1/compose-soap/42")
# SOAP last: its composed-alone run follows it.
ALONE = [("gRPC GetItem alone", "/v1/items/42"), ("REST GET alone", "/v1/shop/items/42"),
         ("SOAP GetItem alone", "/v1/warehouse/items/42")]


def load_rate() -> int:
    """The constant rate of the latency runs."""
    return int(os.environ.get("BENCH_COMPOSE_RATE") or "1000")


def latency_section(
    rate: int,
    seconds: float,
    composed: loadgen.Latency,
    alone: list[tuple[str, loadgen.Latency]],
    one_step: tuple[str, loadgen.Latency, loadgen.Latency] | None = None,
) -> list[str]:
    """The latency table and the p50 difference to the slowest step; with `one_step` (a step's
    label, that step composed on its own, the same call on its plain route), what composing
    itself adds."""
    lines = [
        f"Latency at {rate:,} req/s for {seconds:g} s each (oha, latency corrected):",
        "",
        "| route | rate reached | failed | p50 | p90 | p99 |",
        "|---|---|---|---|---|---|",
    ]
    rows = [("composed, three steps", composed), *alone]
    if one_step:
        rows.append((f"composed, the {one_step[0]} step only", one_step[1]))
    for label, latency in rows:
        p = latency.percentiles_ms
        lines.append(
            f"| {label} | {latency.achieved:,.0f} req/s | {latency.failures} | {p['p50']:.3f} ms | "
            f"{p['p90']:.3f} ms | {p['p99']:.3f} ms |"
        )
    slowest_label, slowest = max(alone, key=lambda item: item[1].percentiles_ms["p50"])
    difference = composed.percentiles_ms["p50"] - slowest.percentiles_ms["p50"]
    verdict = "**met**" if difference <= 0.1 else "**not met**"
    lines += [
        "",
        f"The composed route's p50 is **{difference:+.3f} ms** from its slowest step's ({slowest_label}) "
        f"(goal: within 0.1 ms): {verdict}.",
        "",
    ]
    if one_step:
        label, composed_alone, plain = one_step
        own = composed_alone.percentiles_ms["p50"] - plain.percentiles_ms["p50"]
        lines[-1:-1] = [
            f"Composing itself: the {label} step composed on its own is **{own:+.3f} ms** from the same call "
            f"on its plain route (p50); the rest of the three-step route's difference is what the other "
            f"two calls beside it cost on this machine.",
        ]
    return lines


def cpu_figures(routes: dict[str, cache_common.Measured]) -> tuple[float, float, float]:
    """(per extra step, the same calls alone, composing's own cost per step), in µs."""
    us = {key: cache_common.median(route.per_request_us()) for key, route in routes.items()}
    per_extra_step = (us["compose3"] - us["compose1"]) / 2
    calls_alone = ((us["soap"] - us["hit"]) + (us["rest"] - us["hit"])) / 2
    return per_extra_step, calls_alone, per_extra_step - calls_alone


def cpu_section(routes: dict[str, cache_common.Measured]) -> list[str]:
    """The CPU table and the per-step figures."""
    per_extra_step, calls_alone, overhead = cpu_figures(routes)
    verdict = "**met**" if overhead <= 5.0 else "**not met**"
    lines = ["Gateway CPU per request (wrk, fixed concurrency):", "", *cache_common.cpu_rows(list(routes.values())), ""]
    lines.append(
        f"Each extra step (SOAP, REST) costs **{per_extra_step:.1f} µs** of gateway CPU; the same calls alone "
        f"cost {calls_alone:.1f} µs beyond a cache hit's fixed cost, so composing adds **{overhead:.1f} µs** per "
        f"step (goal: at most 5 µs): {verdict}."
    )
    failed = [f"{r.label}: {r.failures} failed requests" for r in routes.values() if r.failures]
    if failed:
        lines.append("Failures: " + "; ".join(failed) + ".")
    lines.append("")
    return lines


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    blocker = http_common.missing(settings)
    if blocker:
        return [TITLE, "", blocker, ""]
    rate = load_rate()
    routes = {
        "grpc": cache_common.Measured("gRPC GetItem alone", "/v1/items/42"),
        "soap": cache_common.Measured("SOAP GetItem alone", "/v1/warehouse/items/42"),
        "rest": cache_common.Measured("REST GET alone", "/v1/shop/items/42"),
        "compose1": cache_common.Measured("composed, the gRPC step only", "/v1/compose1/42"),
        "compose3": cache_common.Measured("composed, three steps", COMPOSED),
        "hit": cache_common.Measured("cache hit (fixed cost)", "/v1/cached/items/42"),
    }
    try:
        stack = cache_common.start(settings, "compose")
    except (RuntimeError, OSError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    base = f"http://{POLYGATE_ADDR}"
    try:
        for path in [route.path for route in routes.values()] + [ONE_STEP[1]]:
            status, _, body = cache_common.get(base + path)
            if status != 200:
                return [TITLE, "", f"not measured: GET {path} answered {status}: {body[:200]!r}", ""]
        progress(f"compose: {rate:,} req/s on the composed route and on each step alone")

        def at_rate(path: str) -> loadgen.Latency:
            return loadgen.oha(base + path, rate, settings.rate_duration, settings.connections,
                               settings.load_cpus, settings.oha_bin)

        composed = at_rate(COMPOSED)
        alone = [(label, at_rate(path)) for label, path in ALONE]
        # Right after the plain SOAP route's run, with which it is compared.
        one_step = (ONE_STEP[0], at_rate(ONE_STEP[1]), alone[-1][1])
        progress("compose: gateway CPU per request of each route")
        cache_common.cpu_per_request(settings, stack.gateway, list(routes.values()), "compose")
    except (loadgen.LoadError, RuntimeError, OSError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    finally:
        stack.stop()
    intro = (
        f"polygate ({http_common.pin_note(settings)}) in front of the Rust bench backend's gRPC, SOAP 1.1 and "
        f"REST endpoints; route `GET /v1/compose3/{{id}}` runs the three steps side by side. wrk -t1 "
        f"-c{settings.connections} for {settings.duration:g} s per run after a {settings.warmup:g} s warm-up, "
        f"{settings.rounds} rounds alternating the order."
    )
    return [TITLE, "", intro, "", *latency_section(rate, settings.rate_duration, composed, alone, one_step),
            *cpu_section(routes)]
