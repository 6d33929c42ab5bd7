"""The tables: one Markdown section per scenario (throughput with CPU and memory, latency at a
constant rate, ratios), the goal line for the GET scenario, and the run's header."""

from __future__ import annotations

import math

from .runner import ScenarioResult, TargetResult

# The goal of issue 4 on the GET scenario, with one gateway core.
GOAL_VS = {"structured-proxy": 1.7, "grpc-gateway": 2.4}
GOAL_CPU_US = 30.0


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.2f}×"


def _mib(kib: int | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def _throughput(result: TargetResult, messages: int) -> float | None:
    run = result.median_run()
    return run.throughput.per_second * messages if run else None


def _range(result: TargetResult, messages: int) -> str:
    if len(result.fixed) < 2:
        return ""
    values = sorted(run.throughput.per_second * messages for run in result.fixed)
    return f" ({values[0]:,.0f}–{values[-1]:,.0f})"


def _machine_busy(run) -> str:
    """`0: 97 % · 1: 88 % · rest 0.04`: how busy each CPU was during the run, and the cores' worth
    of work not done by the gateway, its backend or the load generator (other processes, and
    interrupt time not charged to a process); steal added when above 1 %."""
    text = " · ".join(f"{cpu}: {100 * share:.0f} %" for cpu, share in sorted(run.cpu_busy.items()))
    text += f" · rest {max(0.0, run.unattributed_cpu):.2f}"
    return text + (f" (steal {100 * run.steal:.0f} %)" if run.steal > 0.01 else "")


def throughput_table(res: ScenarioResult) -> list[str]:
    """Fixed concurrency: rate, CPU per request and per 10,000 requests, core use, peak RSS."""
    sc = res.scenario
    unit = f"{sc.unit}/s"
    per = "call" if sc.messages_per_request > 1 else "req"
    polygate = res.get("polygate")
    reference = _throughput(polygate, sc.messages_per_request) if polygate else None
    lines = [
        f"| target | {unit} | polygate ÷ target | gateway CPU µs/{per} | gateway CPU s / 10k {per} "
        f"| gateway cores busy | backend CPU µs/{per} | gateway peak RSS | CPUs busy · rest | answer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for t in res.targets:
        run = t.median_run()
        if run is None:
            lines.append(f"| {t.name} | – | – | – | – | – | – | {_mib(t.peak_rss_kib)} | – | {t.answer} |")
            continue
        value = run.throughput.per_second * sc.messages_per_request
        gw_us = run.per_request_us(run.gateway_cpu)
        busy = run.gateway_cpu / run.throughput.seconds if run.gateway_cpu is not None else None
        lines.append(
            f"| {t.name} | {value:,.0f}{_range(t, sc.messages_per_request)} "
            f"| {'' if t.kind == 'polygate' else _ratio(reference, value)} "
            f"| {_num(gw_us, 1)} | {_num(gw_us / 100 if gw_us is not None else None, 3)} "
            f"| {_num(busy, 2)} | {_num(run.per_request_us(run.backend_cpu), 1)} "
            f"| {_mib(t.peak_rss_kib)} | {_machine_busy(run)} | {t.answer} |"
        )
    return lines


def latency_table(res: ScenarioResult, rate: int) -> list[str]:
    """Constant rate: the percentiles, corrected for coordinated omission, and the rate reached."""
    polygate = res.get("polygate")
    lines = [
        f"| target at {rate:,} req/s | reached req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | polygate p99 ÷ target p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    ref_p99 = polygate.rate.percentiles_ms.get("p99") if polygate and polygate.rate else None
    for t in res.targets:
        r = t.rate
        if r is None:
            lines.append(f"| {t.name} | – | – | – | – | – | – |")
            continue
        p = r.percentiles_ms
        lines.append(
            f"| {t.name} | {r.achieved:,.0f} | {p['p50']:.3f} | {p['p90']:.3f} | {p['p99']:.3f} | {p['p99.9']:.3f} "
            f"| {'' if t.kind == 'polygate' else _ratio(ref_p99, p.get('p99'))} |"
        )
    return lines


def _verdict(ratio: float, goal: float) -> str:
    return "met" if ratio >= goal else f"{goal / ratio:.2f}× short"


def goal_lines(res: ScenarioResult, pinned: bool) -> list[str]:
    """How far polygate is from the GET goal: ≥1.7× structured-proxy's and ≥2.4× grpc-gateway's
    req/s on one gateway core, at ≤30 µs of gateway CPU per request. Judged on measured req/s and
    on req/s per gateway core (1 / CPU per request), which still holds when the load generator's
    and backend's CPU, not the gateway's, limited the run."""
    polygate = res.get("polygate")
    run = polygate.median_run() if polygate else None
    us = run.per_request_us(run.gateway_cpu) if run else None
    if run is None or not us:
        return ["Goal: polygate was not measured."]
    rps = run.throughput.per_second
    measured, per_core = [], []
    for name, goal in GOAL_VS.items():
        peer = next((t for t in res.targets if t.name == name), None)
        peer_run = peer.median_run() if peer else None
        peer_us = peer_run.per_request_us(peer_run.gateway_cpu) if peer_run else None
        if peer_run is None or not peer_us:
            measured.append(f"{name} not measured (goal {goal}×)")
            continue
        ratio = rps / peer_run.throughput.per_second
        measured.append(f"{ratio:.2f}× {name} (goal {goal}×: {_verdict(ratio, goal)})")
        per_core.append(f"{peer_us / us:.2f}× {name} ({_verdict(peer_us / us, goal)})")
    cpu_verdict = "met" if us <= GOAL_CPU_US else f"{us / GOAL_CPU_US:.2f}× over"
    cores = "one gateway core (pinned)" if pinned else "unpinned; the goal is stated for one pinned gateway core"
    line = f"**Goal (GET, {cores}):** polygate {rps:,.0f} req/s = " + ", ".join(measured)
    if per_core:
        line += f"; per gateway core (1 / CPU per request: {1e6 / us:,.0f} req/s) " + ", ".join(per_core)
    line += f"; gateway CPU {us:.1f} µs per request (goal ≤ {GOAL_CPU_US:.0f}: {cpu_verdict})."
    busy = run.gateway_cpu / run.throughput.seconds if run.gateway_cpu is not None else None
    if pinned and busy is not None and busy < 0.95:
        others = [f"CPU {cpu} {100 * share:.0f} %" for cpu, share in sorted(run.cpu_busy.items())]
        line += (
            f" polygate's core was {100 * busy:.0f} % busy ({', '.join(others)}): the load generator and the "
            "backend limited its req/s, so the per-core ratios are the fairer reading."
        )
    return [line]


def scenario_section(res: ScenarioResult, rate: int, pinned: bool) -> list[str]:
    """A scenario's whole section."""
    sc = res.scenario
    lines = [f"### {sc.key}: {sc.title}", "", f"Backend: {res.backend}.", ""]
    lines += ["Fixed concurrency (throughput):", ""] + throughput_table(res) + [""]
    lines += ["Constant rate (latency from each request's scheduled time):", ""] + latency_table(res, rate) + [""]
    polygate, direct = res.get("polygate"), res.get("direct")
    if polygate and direct and polygate.median_run() and direct.median_run() and polygate.rate and direct.rate:
        m = sc.messages_per_request
        pr, dr = polygate.rate.percentiles_ms, direct.rate.percentiles_ms
        lines.append(
            f"polygate ÷ direct: {_ratio(_throughput(polygate, m), _throughput(direct, m))} the throughput; "
            f"polygate's latency minus the direct call's: {pr['p50'] - dr['p50']:+.3f} ms at p50, "
            f"{pr['p99'] - dr['p99']:+.3f} ms at p99."
        )
        lines.append("")
    if sc.key == "get":
        lines += goal_lines(res, pinned) + [""]
    for t in res.targets:
        for problem in t.problems:
            lines.append(f"- {t.name}: {problem}")
    for note in res.notes:
        lines.append(f"- {note}")
    if any(t.problems for t in res.targets) or res.notes:
        lines.append("")
    return lines
