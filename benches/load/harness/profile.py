"""Where polygate's time goes on the GET scenario: a callgrind profile (instructions per request,
exact and repeatable, user space only) and, where the kernel allows it, a perf sample on the
cpu-clock timer (wall-clock share, kernel included). Started by benches/load/profile.sh."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict

from . import loadgen, procs
from .runner import progress, wait_for_quiet_machine
from .scenarios import ACTIVE
from .settings import Settings, seconds
from .targets import POLYGATE_ADDR, host_port, polygate_config, start_backends, start_polygate

# Symbol prefixes → the part of the stack they belong to, first match wins.
CATEGORIES = [
    ("kernel", re.compile(r"^\[k\]")),
    ("allocator (mimalloc; glibc malloc/free in C libraries)", re.compile(r"^(mi_\w+|_mi_\w+|<mimalloc::|_int_malloc|_int_free|malloc|free|cfree|realloc|_int_realloc|calloc|malloc_consolidate|unlink_chunk|tcache_|__libc_malloc|__libc_free|__libc_realloc|__libc_calloc|__GI___libc_(malloc|free|realloc)|alloc::alloc::|__rust_(alloc|dealloc|realloc)|__rdl_|_rjem_)")),
    ("memcpy/memmove/memset", re.compile(r"^(__memcpy|__memmove|__memset|memcpy|memmove|memset|__mempcpy|__memcmp|memcmp|bcmp|__strlen|strlen)")),
    ("JSON ⇄ protobuf transcoding (polygate::codec::protojson)", re.compile(r"^<?polygate::codec::protojson")),
    ("polygate: routing, binding, pipeline, frontend, backend glue", re.compile(r"^<?polygate::")),
    ("hyper (HTTP/1.1 server, HTTP/2 client)", re.compile(r"^<?(hyper|hyper_util)::")),
    ("h2 (HTTP/2 frames to the backend)", re.compile(r"^<?h2::")),
    ("tokio (scheduler, timers, I/O driver)", re.compile(r"^<?(tokio|mio)::")),
    ("tonic/tower", re.compile(r"^<?(tonic|tower|tower_service|tower_layer)::")),
    ("prost / prost-reflect", re.compile(r"^<?(prost|prost_reflect)::")),
    ("serde_json / serde", re.compile(r"^<?(serde_json|serde)::")),
    ("http / bytes / httparse", re.compile(r"^<?(http|bytes|httparse|http_body|http_body_util)::")),
    ("number formatting (zmij, itoa, ryu)", re.compile(r"^<?(zmij|itoa|ryu)::")),
    ("tracing", re.compile(r"^<?(tracing|tracing_core|tracing_subscriber)::")),
    ("Rust std/core (fmt, hashing, collections)", re.compile(r"^<?(core|alloc|std|hashbrown)::")),
    ("libc syscall wrappers and locks", re.compile(r"^(__GI_|__libc_|epoll_|syscall|pthread_|__lll_|__futex|write|writev|read|recv|send|__send|__recv|sendmsg|recvmsg)")),
]


GET = next(s for s in ACTIVE if s.key == "get")


def category(symbol: str) -> str:
    """The stack part a symbol belongs to."""
    for name, pattern in CATEGORIES:
        if pattern.search(symbol):
            return name
    return "other"


def parse_callgrind_annotate(text: str) -> list[tuple[int, str]]:
    """(instructions, function) from `callgrind_annotate --inclusive=no --auto=no` output, summed
    per function (inlined code is listed once per source file), largest first."""
    totals: dict[str, int] = defaultdict(int)
    for line in text.splitlines():
        match = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)\s*$", line)
        if not match or match.group(2).endswith("PROGRAM TOTALS"):
            continue
        location = re.sub(r"\s+\[[^\]]*\]$", "", match.group(2))
        # `file:function`: file names hold no colon, Rust paths do.
        _, _, function = location.partition(":")
        totals[function or location] += int(match.group(1).replace(",", ""))
    return sorted(((cost, name) for name, cost in totals.items()), reverse=True)


def parse_callers(tree_text: str, function: str) -> list[tuple[int, str]]:
    """The callers of `function` with the instructions spent in it on their behalf, from
    `callgrind_annotate --tree=caller` output (caller lines start with `<` above each `*` line
    of the function; a function listed under several source files has several such blocks)."""
    lines = tree_text.splitlines()
    totals: dict[str, int] = defaultdict(int)
    for index, line in enumerate(lines):
        if "*" not in line or not line.rstrip().split(" [")[0].endswith(":" + function):
            continue
        for caller_line in reversed(lines[:index]):
            match = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+<\s+(.+?)\s*$", caller_line)
            if not match:
                break
            location = re.sub(r"\s+\[[^\]]*\]$", "", match.group(2))
            location = re.sub(r"\s+\([\d,]+x\)$", "", location)
            _, _, caller = location.partition(":")
            totals[caller or location] += int(match.group(1).replace(",", ""))
    return sorted(((cost, name) for name, cost in totals.items()), reverse=True)


# Allocator entry points (glibc's, mimalloc's) and Rust's allocator shims: their callers say
# nothing about polygate.
ALLOCATOR_SHIM = re.compile(r"^(malloc|free|realloc|mi_\w+|_mi_\w+|<mimalloc::MiMalloc as [^>]+>::\w+|__rustc::__rdl_\w+|__rustc::__rust_\w+|__rdl_\w+|__rust_\w+)$")


def meaningful_callers(tree_text: str, function: str, depth: int = 4) -> list[tuple[int, str]]:
    """Callers of `function`, looking through allocator shims (`free` ← `__rdl_dealloc` ←
    `__rust_dealloc` ← the code that dropped something) to the first callers that are not."""
    callers = parse_callers(tree_text, function)
    while depth > 0 and callers and ALLOCATOR_SHIM.match(callers[0][1]):
        callers = parse_callers(tree_text, callers[0][1])
        depth -= 1
    return callers


def parse_perf_report(text: str) -> list[tuple[float, str]]:
    """(percent, symbol) from `perf report --no-children --sort sym --stdio`; kernel symbols keep
    their `[k]` mark."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"^\s*([\d.]+)%\s+(\[[k.]\])\s+(.+?)\s*$", line)
        if match:
            mark, symbol = match.group(2), match.group(3)
            rows.append((float(match.group(1)), f"[k] {symbol}" if mark == "[k]" else symbol))
    return rows


def grouped(rows: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Costs summed per category, largest first."""
    totals: dict[str, float] = defaultdict(float)
    for cost, symbol in rows:
        totals[category(symbol)] += cost
    return sorted(((v, k) for k, v in totals.items()), reverse=True)


def callgrind(settings: Settings, backend, requests_rate: int, run_seconds: float) -> list[str]:
    """polygate under callgrind, collecting only while the GET load runs."""
    if not shutil.which("valgrind"):
        return ["callgrind: valgrind is not installed (Debian: valgrind)."]
    out = settings.out_dir / "profile" / "callgrind.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    config = polygate_config("unary", backend, settings.out_dir / "profile" / "polygate.yaml")
    process = procs.start(
        "polygate (callgrind)",
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         str(settings.polygate_bin), "serve", "--config", str(config)],
        settings.out_dir / "profile" / "callgrind.log",
        settings.gateway_cpus,
        env={"RUST_LOG": "warn"},
    )
    try:
        procs.wait_port(*host_port(POLYGATE_ADDR), process, timeout=180)
        url = f"http://{POLYGATE_ADDR}{GET.path}"
        loadgen.oha(url, requests_rate, 2, 4, settings.load_cpus, settings.oha_bin)  # warm the connections
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True)
        result = loadgen.oha(url, requests_rate, run_seconds, 4, settings.load_cpus, settings.oha_bin)
        subprocess.run(["callgrind_control", "-i", "off", str(process.pid)], check=True, capture_output=True)
        requests = round(result.achieved * run_seconds)
    finally:
        process.stop()
    time.sleep(0.5)
    dumps = sorted(out.parent.glob("callgrind.out*"), key=lambda p: p.stat().st_mtime)
    annotate = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", str(dumps[-1])],
        capture_output=True, text=True, check=True,
    ).stdout
    total = re.search(r"^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", annotate, re.M)
    rows = parse_callgrind_annotate(annotate)
    total_ir = int(total.group(1).replace(",", "")) if total else sum(r[0] for r in rows)
    lines = [
        f"callgrind: {requests:,} GET requests at {requests_rate} req/s under valgrind; "
        f"{total_ir / max(1, requests):,.0f} instructions per request in polygate's own process (user space).",
        "",
        "| share of instructions | where |",
        "|---:|---|",
    ]
    for cost, name in grouped([(float(c), s) for c, s in rows])[:12]:
        lines.append(f"| {100 * cost / total_ir:.1f} % | {name} |")
    lines += ["", "Top functions by own instructions:", "", "| share | Ir/request | function |", "|---:|---:|---|"]
    for cost, symbol in rows[:15]:
        lines.append(f"| {100 * cost / total_ir:.1f} % | {cost / max(1, requests):,.0f} | `{symbol[:140]}` |")
    # Who calls the C library's costliest functions: that is where a fix goes.
    # glibc's internal `_int_free`/`_int_malloc` are called by `free`/`malloc`: ask for those.
    # (polygate's own allocations go through mimalloc, whose entry points are `mi_*`.)
    libc = [re.sub(r"^_int_", "", symbol) for _, symbol in rows[:8] if category(symbol).startswith(("memcpy", "allocator"))]
    libc = list(dict.fromkeys(libc))[:2]
    if libc:
        tree = subprocess.run(
            ["callgrind_annotate", "--inclusive=no", "--auto=no", "--tree=caller", "--threshold=100", str(dumps[-1])],
            capture_output=True, text=True, check=True,
        ).stdout
        for symbol in libc:
            lines += ["", f"Callers of `{symbol}`:", "", "| Ir/request | caller |", "|---:|---|"]
            for cost, caller in meaningful_callers(tree, symbol)[:5]:
                lines.append(f"| {cost / max(1, requests):,.0f} | `{caller[:140]}` |")
    return lines + [""]


def perf_sample(settings: Settings, backend, run_seconds: float) -> list[str]:
    """perf on the cpu-clock timer while wrk drives GET at full speed: wall-time shares with the
    kernel's part (callgrind cannot see it)."""
    if not shutil.which("perf"):
        return ["perf: not installed (Debian: linux-perf)."]
    data = settings.out_dir / "profile" / "perf.data"
    data.parent.mkdir(parents=True, exist_ok=True)
    target = start_polygate(settings, backend, "profile")
    try:
        recorder = subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-p", str(target.gateway_pid),
             "-o", str(data), "--", "sleep", f"{run_seconds:g}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        throughput = loadgen.wrk(target.url(GET), run_seconds + 1, settings.connections, settings.load_cpus)
        _, err = recorder.communicate(timeout=60)
        if recorder.returncode != 0:
            return [f"perf: record failed: {err.strip().splitlines()[-1] if err.strip() else recorder.returncode}", ""]
    finally:
        target.stop()
    report_text = subprocess.run(
        ["perf", "report", "-i", str(data), "--no-children", "--sort", "sym", "--stdio", "--percent-limit", "0.05"],
        capture_output=True, text=True,
    ).stdout
    rows = parse_perf_report(report_text)
    lines = [
        f"perf (cpu-clock, {run_seconds:g} s while wrk drove GET at {throughput.per_second:,.0f} req/s): share of "
        "polygate's CPU time, kernel included.",
        "",
        "| share of CPU time | where |",
        "|---:|---|",
    ]
    for share, name in grouped(rows)[:12]:
        lines.append(f"| {share:.1f} % | {name} |")
    lines += ["", "Top symbols:", "", "| share | symbol |", "|---:|---|"]
    for share, symbol in rows[:15]:
        lines.append(f"| {share:.1f} % | `{symbol[:140]}` |")
    return lines + [""]


SYSCALLS = ["writev", "write", "sendto", "sendmsg", "read", "readv", "recvfrom", "recvmsg", "epoll_wait", "epoll_pwait", "futex"]


def parse_perf_stat_csv(text: str) -> dict[str, int]:
    """Event counts from `perf stat -x ,` output (`288294,,syscalls:sys_enter_writev,…`)."""
    counts = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit():
            counts[fields[2]] = int(fields[0])
    return counts


def syscall_counts(settings: Settings, backend, run_seconds: float) -> list[str]:
    """System calls per request while wrk drives GET, from the kernel's syscall tracepoints."""
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{name}" for name in SYSCALLS]
    target = start_polygate(settings, backend, "profile")
    try:
        load = subprocess.Popen(
            procs.pinned(settings.load_cpus, ["wrk", "-t1", f"-c{settings.connections}", f"-d{run_seconds + 2:g}s",
                                              target.url(GET)]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(1)
        argv = ["perf", "stat", "-x", ",", "--no-big-num"]
        for event in events:
            argv += ["-e", event]
        stat = subprocess.run([*argv, "-p", str(target.gateway_pid), "--", "sleep", f"{run_seconds:g}"],
                              capture_output=True, text=True)
        out, _ = load.communicate(timeout=run_seconds + 60)
    finally:
        target.stop()
    counts = parse_perf_stat_csv(stat.stderr)
    if not counts.get("raw_syscalls:sys_enter"):
        return [f"syscalls: perf could not count them ({stat.stderr.strip().splitlines()[-1] if stat.stderr.strip() else 'no output'}).", ""]
    rps = loadgen.parse_wrk(out).per_second
    requests = rps * run_seconds
    per = {name: counts.get(f"syscalls:sys_enter_{name}", 0) / requests for name in SYSCALLS}
    shown = ", ".join(f"{name} {value:.2f}" for name, value in sorted(per.items(), key=lambda kv: -kv[1]) if value >= 0.01)
    return [
        f"System calls (perf tracepoints, {run_seconds:g} s at about {rps:,.0f} req/s): "
        f"{counts['raw_syscalls:sys_enter'] / requests:.2f} per request ({shown}).",
        "",
    ]


def main() -> int:
    """Profiles polygate during the GET scenario and prints Markdown."""
    settings = Settings.from_env()
    if not settings.polygate_bin.exists():
        print(f"{settings.polygate_bin} is missing: run benches/load/run.sh first", file=sys.stderr)
        return 1
    wait_for_quiet_machine()
    backends = start_backends(settings, {"unary"})
    backend = backends["unary"]
    lines = [f"## Profile of polygate, GET /v1/items/42 in front of the {backend.label}", ""]
    try:
        if os.environ.get("PROFILE_PERF", "1") != "0":
            progress("perf sample …")
            perf_seconds = seconds(os.environ.get("PROFILE_PERF_DURATION") or "8s")
            lines += perf_sample(settings, backend, perf_seconds)
            lines += syscall_counts(settings, backend, min(perf_seconds, 4.0))
        if os.environ.get("PROFILE_CALLGRIND", "1") != "0":
            progress("callgrind run (slow: polygate runs ~50× slower under valgrind) …")
            lines += callgrind(
                settings, backend, int(os.environ.get("PROFILE_RATE") or "200"),
                seconds(os.environ.get("PROFILE_DURATION") or "10s"),
            )
    finally:
        backend.process.stop()
    text = "\n".join(lines) + "\n"
    (settings.out_dir / "profile").mkdir(parents=True, exist_ok=True)
    (settings.out_dir / "profile" / "profile.md").write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
