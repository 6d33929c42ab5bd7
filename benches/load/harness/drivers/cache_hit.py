"""cache-hit: gateway CPU microseconds per request of a cached REST GET → gRPC answered from the
response cache, against the same GET uncached (the GET scenario's route), in one sitting by the
GET scenario's method (wrk, fixed concurrency, the gateway's CPU time over each run, BENCH_ROUNDS
rounds alternating, median). The hits are confirmed on /metrics."""

from __future__ import annotations

from .. import loadgen
from ..runner import progress
from ..settings import Settings
from ..targets import POLYGATE_ADDR
from . import cache_common, http_common

TITLE = "### cache-hit: a cached GET answered from the cache vs the same GET uncached"
UNCACHED = "/v1/items/42"
CACHED = "/v1/cached/items/42"
HITS = 'polygate_cache_hits_total{method="GET",route="/v1/cached/items/{id}"}'
MISSES = 'polygate_cache_misses_total{method="GET",route="/v1/cached/items/{id}"}'


def section(
    uncached: cache_common.Measured, cached: cache_common.Measured, hits: int, misses: int, settings_line: str
) -> list[str]:
    """The scenario's Markdown section: both routes, then the hit's cost against the GET's."""
    hit = cache_common.median(cached.per_request_us())
    full = cache_common.median(uncached.per_request_us())
    requests = sum(r for r, _, _ in cached.runs)
    lines = [TITLE, "", settings_line, "", *cache_common.cpu_rows([uncached, cached]), ""]
    verdict = "**met**" if hit <= 12.0 else "**not met**"
    lines.append(
        f"A hit costs **{hit:.1f} µs** of gateway CPU, {hit / full * 100:.0f}% of the uncached GET's "
        f"{full:.1f} µs (target: at most 12 µs, half the transcoded GET): {verdict}. /metrics counted "
        f"{hits:,} hits and {misses:,} misses on the cached route ({requests:,} measured requests)."
    )
    failed = [f"{r.label}: {r.failures} failed requests" for r in (uncached, cached) if r.failures]
    if failed:
        lines.append("Failures: " + "; ".join(failed) + ".")
    lines.append("")
    return lines


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    blocker = http_common.missing(settings)
    if blocker:
        return [TITLE, "", blocker, ""]
    uncached = cache_common.Measured("uncached", UNCACHED)
    cached = cache_common.Measured("cached, every request a hit", CACHED)
    try:
        stack = cache_common.start(settings, "cache-hit")
    except (RuntimeError, OSError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    try:
        plain = cache_common.get(f"http://{POLYGATE_ADDR}{UNCACHED}")[0]
        status = cache_common.get(f"http://{POLYGATE_ADDR}{CACHED}")[0]
        again = cache_common.get(f"http://{POLYGATE_ADDR}{CACHED}")[1].get("cache-status")
        if plain != 200 or status != 200 or again != "polygate; hit":
            return [TITLE, "", f"not measured: the uncached route answered {plain}, the cached one {status}, "
                    f"then Cache-Status {again!r}", ""]
        progress("cache-hit: the uncached and the cached GET, alternating")
        cache_common.cpu_per_request(settings, stack.gateway, [uncached, cached], "cache-hit")
        metrics = http_common.fetch_metrics(stack.admin_port)
    except (loadgen.LoadError, RuntimeError, OSError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    finally:
        stack.stop()
    hits = cache_common.metric(metrics, HITS) or 0
    misses = cache_common.metric(metrics, MISSES) or 0
    settings_line = (
        f"polygate in front of the Rust bench backend ({http_common.pin_note(settings)}), "
        f"`cache: {{ttl: 1h}}` on the cached route (GetItem, `assume_safe`); wrk -t1 -c{settings.connections} "
        f"for {settings.duration:g} s per run after a {settings.warmup:g} s warm-up, {settings.rounds} rounds "
        "alternating the order; CPU is the gateway process's user + system time over each run."
    )
    return section(uncached, cached, hits, misses, settings_line)
