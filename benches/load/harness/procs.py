"""Processes the harness starts and watches: starting and stopping them by PID, and reading their
CPU time and memory from /proc, plus what the machine is."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat_cpu_seconds(stat_line: str) -> float:
    """utime + stime, in seconds, from the text of /proc/PID/stat (all threads of the process)."""
    # The command name is in parentheses and may hold spaces: the fields start after the last ')'.
    fields = stat_line[stat_line.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (user + system, all threads)."""
    return parse_stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def parse_status_kib(status_text: str, key: str) -> int | None:
    """A `Key:   1234 kB` value of /proc/PID/status, in KiB."""
    for line in status_text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM: the largest resident set the process has had since it started."""
    try:
        return parse_status_kib(Path(f"/proc/{pid}/status").read_text(), "VmHWM")
    except OSError:
        return None


def parse_listen_inodes(proc_net_tcp: str, port: int) -> set[int]:
    """Socket inodes listening on `port`, from the text of /proc/net/tcp or /proc/net/tcp6."""
    inodes = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            inodes.add(int(inode))
    return inodes


def listening_pid(port: int) -> int | None:
    """The process that listens on a TCP port, found through its socket's inode."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            inodes |= parse_listen_inodes(Path(table).read_text(), port)
        except OSError:
            pass
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(entry.name)
        except OSError:
            continue
    return None


def port_open(host: str, port: int) -> bool:
    """Whether a TCP connect to host:port succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def pinned(cpus: str | None, argv: list[str]) -> list[str]:
    """`argv` run under `taskset -c cpus` when a CPU list is given."""
    return ["taskset", "-c", cpus, *argv] if cpus else argv


@dataclass
class Started:
    """A process the harness started: its PID, what it is, and where its output goes."""

    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it is still running."""
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; only this PID."""
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def start(name: str, argv: list[str], log: Path, cpus: str | None = None, env: dict | None = None) -> Started:
    """Starts `argv` in the background (pinned to `cpus` if given), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            pinned(cpus, argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    return Started(name, popen, log)


def wait_port(host: str, port: int, started: Started | None, timeout: float = 30.0) -> None:
    """Waits until host:port accepts connections; raises if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if started is not None and not started.alive():
            tail = started.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{started.name} exited before listening on {host}:{port}:\n{tail}")
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def parse_proc_stat(text: str) -> dict[str, tuple[int, int, int]]:
    """(busy, steal, total) jiffies per line of /proc/stat: `cpu` (all) and `cpu0`, `cpu1`, …
    Idle and iowait are not busy; steal (time the hypervisor gave elsewhere) is counted apart."""
    times = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        name, *values = line.split()
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in values[:8])
        busy = user + nice + system + irq + softirq
        times[name] = (busy, steal, busy + idle + iowait + steal)
    return times


def cpu_times() -> dict[str, tuple[int, int, int]]:
    """(busy, steal, total) jiffies per CPU and for all CPUs (`cpu`), now."""
    return parse_proc_stat(Path("/proc/stat").read_text())


def cpu_busy_between(before: dict, after: dict) -> tuple[dict[str, float], float]:
    """Each CPU's busy share (0–1) between two `cpu_times()` readings, and the steal share of all."""
    busy = {}
    for name, (b1, _, t1) in after.items():
        if name == "cpu" or name not in before:
            continue
        b0, _, t0 = before[name]
        busy[name[3:]] = (b1 - b0) / max(1, t1 - t0)
    _, s0, t0 = before.get("cpu", (0, 0, 0))
    _, s1, t1 = after.get("cpu", (0, 0, 0))
    return busy, (s1 - s0) / max(1, t1 - t0)


def busy_seconds_between(before: dict, after: dict) -> float:
    """CPU seconds all CPUs were busy between two `cpu_times()` readings."""
    return (after.get("cpu", (0, 0, 0))[0] - before.get("cpu", (0, 0, 0))[0]) / CLOCK_TICKS


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (the load generators), user + system."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> tuple[float, float, float]:
    """The 1-, 5- and 15-minute load averages."""
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def machine() -> dict[str, str]:
    """What the machine is: CPU model and count, memory, kernel."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = parse_status_kib(Path("/proc/meminfo").read_text(), "MemTotal") or 0
    uname = os.uname()
    return {
        "cpus": str(os.cpu_count()),
        "model": model,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": f"{uname.sysname} {uname.release} {uname.machine}",
    }
