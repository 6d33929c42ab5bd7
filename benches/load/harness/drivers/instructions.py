"""instructions: the instructions polygate's process executes per request, counted by callgrind
(user space; exact, and unmoved by the host's speed, which the CPU-time scenarios are not), for a
cached GET hit, polygate's own 404 and the transcoded GET → gRPC. Each route gets one keep-alive
connection sending what wrk sends (the request line and Host), BENCH_INSTRUCTIONS_WARMUP
requests uncounted (default 300), then BENCH_INSTRUCTIONS_REQUESTS counted (default 2,000):
callgrind counts only between `callgrind_control -i on` and `-i off`, and each route's count is
dumped on its own."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..runner import progress
from ..settings import Settings
from ..targets import POLYGATE_ADDR, host_port
from . import cache_common, http_common

TITLE = "### instructions: polygate's instructions per request (callgrind)"

# (label, path, the status every answer must carry)
ROUTES = [
    ("cache hit", "/v1/cached/items/42", 200),
    ("polygate's own 404", "/nothing/here", 404),
    ("transcoded GET → gRPC", "/v1/items/42", 200),
]


@dataclass
class Counted:
    """One route's count: the requests sent while callgrind counted and what they executed."""

    label: str
    path: str
    requests: int
    instructions: int

    def per_request(self) -> float:
        """Instructions per request."""
        return self.instructions / self.requests if self.requests else 0.0


def load_settings() -> tuple[int, int]:
    """(uncounted warm-up requests, counted requests) per route."""
    warmup = int(os.environ.get("BENCH_INSTRUCTIONS_WARMUP") or "300")
    requests = int(os.environ.get("BENCH_INSTRUCTIONS_REQUESTS") or "2000")
    return warmup, requests


def split_answer(buffer: bytes) -> tuple[int, int] | None:
    """(status, length of the whole answer) of the first HTTP/1.1 answer in `buffer`, or None
    while its head or body is incomplete. Answers here carry Content-Length (no chunking)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    whole = end + 4 + length
    return (status, whole) if len(buffer) >= whole else None


def send_sequentially(path: str, count: int) -> Counter:
    """`count` GETs of `path`, one after the other on one keep-alive connection: the statuses."""
    host, port = host_port(POLYGATE_ADDR)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    statuses: Counter = Counter()
    buffer = b""
    with socket.create_connection((host, port), timeout=60) as connection:
        for _ in range(count):
            connection.sendall(request)
            while (answer := split_answer(buffer)) is None:
                chunk = connection.recv(65536)
                if not chunk:
                    raise RuntimeError(f"polygate closed the connection during GET {path}")
                buffer += chunk
            status, whole = answer
            statuses[status] += 1
            buffer = buffer[whole:]
    return statuses


def parse_totals(text: str) -> int:
    """The instruction total of one callgrind dump (its `totals:` line, else `summary:`)."""
    found = re.search(r"^totals:\s+(\d+)", text, re.M) or re.search(r"^summary:\s+(\d+)", text, re.M)
    if not found:
        raise RuntimeError("the callgrind dump has no totals line")
    return int(found.group(1))


def callgrind_control(pid: int, *args: str) -> None:
    """One command to the callgrind running as `pid`; callgrind_control waits for its answer."""
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def dump(pid: int, out: Path, before: set[Path]) -> Path:
    """Dumps the counts since the last dump and returns the new file. An idle process reads the
    command only when a thread wakes: a /healthz request (not counted) wakes one."""
    callgrind_control(pid, "-d")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = set(out.parent.glob(out.name + ".*")) - before
        if new:
            return new.pop()
        send_sequentially("/healthz", 1)
        time.sleep(0.2)
    raise RuntimeError("callgrind wrote no dump within 60 s")


def count(pid: int, out: Path, label: str, path: str, status: int, warmup: int, requests: int) -> Counted:
    """The instructions polygate executes for `requests` GETs of `path` after `warmup` uncounted."""
    warm = send_sequentially(path, warmup)
    before = set(out.parent.glob(out.name + ".*"))
    callgrind_control(pid, "-i", "on")
    statuses = send_sequentially(path, requests)
    callgrind_control(pid, "-i", "off")
    if statuses != Counter({status: requests}) or set(warm) - {status}:
        raise RuntimeError(f"GET {path} answered {dict(warm + statuses)}, every answer should be {status}")
    dumped = dump(pid, out, before)
    return Counted(label, path, requests, parse_totals(dumped.read_text(errors="replace")))


def section(counted: list[Counted], settings_line: str) -> list[str]:
    """The scenario's Markdown section: one row per route, then the hit against the GET."""
    lines = [TITLE, "", settings_line, "", "| request | counted requests | instructions per request |", "|---|---:|---:|"]
    for route in counted:
        lines.append(f"| {route.label} (`GET {route.path}`) | {route.requests:,} | {route.per_request():,.0f} |")
    by_label = {route.label: route for route in counted}
    hit, get = by_label.get("cache hit"), by_label.get("transcoded GET → gRPC")
    if hit and get and get.per_request():
        lines += ["", f"A hit executes {hit.per_request() / get.per_request() * 100:.0f} % of the transcoded GET's instructions."]
    return lines + [""]


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    blocker = http_common.missing(settings)
    if blocker:
        return [TITLE, "", blocker, ""]
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        return [TITLE, "", "skipped: valgrind is not installed (Debian: valgrind)", ""]
    warmup, requests = load_settings()
    out = settings.out_dir / "run" / "instructions" / "callgrind.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    for old in out.parent.glob(out.name + "*"):
        old.unlink()
    under = ("valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}")
    try:
        stack = cache_common.start(settings, "instructions", under=under)
    except (RuntimeError, OSError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    counted: list[Counted] = []
    try:
        for label, path, status in ROUTES:
            progress(f"instructions: {label}, {requests:,} requests under callgrind")
            counted.append(count(stack.gateway.pid, out, label, path, status, warmup, requests))
        cache_status = cache_common.get(f"http://{POLYGATE_ADDR}{ROUTES[0][1]}")[1].get("cache-status")
        if cache_status != "polygate; hit":
            return [TITLE, "", f"not measured: the cached route answered Cache-Status {cache_status!r}", ""]
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    finally:
        stack.stop()
    settings_line = (
        f"polygate under valgrind's callgrind in front of the Rust bench backend ({http_common.pin_note(settings)}), "
        f"the cache scenarios' config; per route one keep-alive connection sending what wrk sends, {warmup:,} "
        f"requests uncounted, then {requests:,} counted. Instructions of polygate's process, user space only."
    )
    return section(counted, settings_line)
