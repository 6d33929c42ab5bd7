"""coalesce: 1,000 concurrent identical misses on a cached route whose backend answers after
100 ms must make exactly one backend call. The harness opens every connection first, then sends
all the requests at once, and reads the backend's own call count before and after
(BENCH_COALESCE_CLIENTS, default 1000; BENCH_COALESCE_ROUNDS, default 3, each on a fresh key)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass

from ..runner import progress
from ..settings import Settings
from ..targets import POLYGATE_ADDR, host_port
from . import cache_common, http_common

TITLE = "### coalesce: concurrent identical misses on a 100 ms backend"
DELAY_MS = 100


@dataclass
class Round:
    """One herd: the key, the answers' statuses and Cache-Status values, the backend calls."""

    key: str
    statuses: Counter
    cache_status: Counter
    backend_calls: int
    seconds: float


def load_settings() -> tuple[int, int]:
    """How many concurrent clients, how many rounds."""
    clients = int(os.environ.get("BENCH_COALESCE_CLIENTS") or "1000")
    rounds = int(os.environ.get("BENCH_COALESCE_ROUNDS") or "3")
    return clients, rounds


def parse_answer(raw: bytes) -> tuple[int, str]:
    """The status and the Cache-Status header of one HTTP/1.1 answer's head."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    cache_status = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "cache-status":
            cache_status = value.strip()
    return status, cache_status


async def _herd(path: str, clients: int, timeout: float) -> list[tuple[int, str]]:
    host, port = host_port(POLYGATE_ADDR)
    connections = [await asyncio.open_connection(host, port) for _ in range(clients)]
    request = f"GET {path} HTTP/1.1\r\nHost: {POLYGATE_ADDR}\r\nConnection: close\r\n\r\n".encode()
    for _, writer in connections:
        writer.write(request)
    await asyncio.gather(*(writer.drain() for _, writer in connections))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, str]:
        try:
            raw = await asyncio.wait_for(reader.read(-1), timeout)
            return parse_answer(raw)
        except (asyncio.TimeoutError, OSError):
            return 0, ""
        finally:
            writer.close()

    return await asyncio.gather(*(answer(reader, writer) for reader, writer in connections))


def herd(key: str, clients: int) -> Round:
    """Sends `clients` identical requests for `key` at once and counts the backend calls."""
    before = cache_common.backend_calls()["slow"]
    started = time.monotonic()
    answers = asyncio.run(_herd(f"/v1/slow/{key}", clients, 30.0))
    seconds = time.monotonic() - started
    after = cache_common.backend_calls()["slow"]
    return Round(
        key,
        Counter(status for status, _ in answers),
        Counter(cache_status for _, cache_status in answers),
        after - before,
        seconds,
    )


def section(rounds: list[Round], clients: int, pin: str) -> list[str]:
    """The scenario's Markdown section: one row per herd, then the verdict."""
    lines = [
        TITLE,
        "",
        f"polygate ({pin}) in front of the Rust bench backend's REST endpoint `/slow/{{key}}`, which "
        f"answers after {DELAY_MS} ms and counts its calls; route `GET /v1/slow/{{key}}` with "
        f"`cache: {{ttl: 1h}}`. Each round opens {clients:,} connections, then sends the same request "
        "for a fresh key on all of them at once.",
        "",
        "| round | requests | answers 200 | backend calls | Cache-Status | time |",
        "|---|---|---|---|---|---|",
    ]
    for index, r in enumerate(rounds, 1):
        statuses = "; ".join(f"`{value or 'none'}` × {count:,}" for value, count in r.cache_status.most_common())
        lines.append(
            f"| {index} | {sum(r.statuses.values()):,} | {r.statuses.get(200, 0):,} | {r.backend_calls} | "
            f"{statuses} | {r.seconds * 1000:,.0f} ms |"
        )
    met = all(r.backend_calls == 1 and r.statuses.get(200, 0) == clients for r in rounds)
    lines += [
        "",
        f"Goal: {clients:,} concurrent identical misses make exactly one backend call: "
        f"{'**met**' if met else '**not met**'}.",
        "",
    ]
    return lines


def run(settings: Settings) -> list[str]:
    """Measures and returns the scenario's Markdown section."""
    blocker = http_common.missing(settings)
    if blocker:
        return [TITLE, "", blocker, ""]
    clients, count = load_settings()
    http_common.raise_fd_limit(clients * 3 + 1024)
    try:
        stack = cache_common.start(settings, "coalesce", delay_ms=DELAY_MS)
    except (RuntimeError, OSError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    rounds: list[Round] = []
    try:
        for index in range(count):
            key = f"herd-{time.time_ns()}-{index}"
            rounds.append(herd(key, clients))
            progress(f"  [coalesce] round {index + 1}: {rounds[-1].backend_calls} backend call(s)")
    except (RuntimeError, OSError, ValueError) as e:
        return [TITLE, "", f"not measured: {str(e).splitlines()[0]}", ""]
    finally:
        stack.stop()
    return section(rounds, clients, http_common.pin_note(settings))
