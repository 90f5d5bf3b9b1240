"""The process table and who holds a GPU open, read straight from ``/proc`` (Linux, WSL).

NVML misses processes that hold GPU memory: orphaned DataLoader workers, processes in other
PID namespaces, everything under WSL2. The kernel does not: every CUDA process keeps
``/dev/nvidia*`` (native Linux) or ``/dev/dxg`` (WSL2) open and maps ``libcuda``. One pass
over ``/proc/<pid>/stat`` and ``fd`` (and ``maps`` where a device file is open) finds them,
about 40 us of CPU per process.
All paths go through ``ctx.path`` so a synthetic ``/proc`` tree can stand in for the real one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Callable
from typing import NamedTuple

from gpudoctor.probes.base import ProbeContext

#: Device files whose open descriptors mean "talks to the GPU driver".
DEFAULT_DEVICE_PATHS = ("/dev/nvidia", "/dev/dxg")
#: Mapped files that mean "loaded the CUDA driver library".
DEFAULT_MAP_MARKERS = ("libcuda.so", "/usr/lib/wsl/lib/libcuda")
#: Largest part of a maps file we search (a torch process maps a few hundred KiB).
MAX_MAPS_BYTES = 8 << 20

_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "Z": "zombie",
    "T": "stopped",
    "t": "tracing-stop",
    "X": "dead",
    "I": "idle",
    "P": "parked",
    "W": "waking",
}


class ProcStat(NamedTuple):
    """The parts of ``/proc/<pid>/stat`` the inventory needs."""

    pid: int
    name: str
    state: str
    ppid: int
    pgid: int
    cpu_ticks: int
    start_ticks: int
    sid: int = 0


class ProcTable:
    """Every process seen, and which of them hold a GPU device or map libcuda."""

    __slots__ = (
        "stats",
        "devices",
        "sources",
        "unreadable",
        "boot_time",
        "clock_ticks",
        "reread",
        "children_index",
    )

    def __init__(self, boot_time: float | None = None, clock_ticks: int = 100) -> None:
        self.stats: dict[int, ProcStat] = {}
        #: pid -> device paths it holds open (may be empty when seen only through maps)
        self.devices: dict[int, set[str]] = {}
        #: pid -> how it was seen ("open device file", "maps libcuda")
        self.sources: dict[int, set[str]] = {}
        #: processes whose open files could not be read (other users, when not root)
        self.unreadable = 0
        self.boot_time = boot_time
        self.clock_ticks = clock_ticks
        #: Reads one process's stat again (for the CPU sample); the /proc reader by default.
        self.reread: Callable[[int], ProcStat | None] | None = None
        #: ``(len(stats) when built, parent pid -> child pids)``: built by :func:`children_of`.
        self.children_index: tuple[int, dict[int, list[int]]] | None = None


def state_name(code: str) -> str:
    return _STATES.get(code, code)


def parse_stat(pid: int, data: bytes) -> ProcStat | None:
    """Parse one stat line; the name may hold spaces and parentheses, so split at the last ')'."""
    open_paren = data.find(b"(")
    close_paren = data.rfind(b")")
    if open_paren < 0 or close_paren < 0:
        return None
    fields = data[close_paren + 2 :].split()
    if len(fields) < 20:
        return None
    return ProcStat(
        pid=pid,
        name=data[open_paren + 1 : close_paren].decode("utf-8", "replace"),
        state=fields[0].decode("ascii", "replace"),
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
        start_ticks=int(fields[19]),
        sid=int(fields[3]),
    )


def read_stat(ctx: ProbeContext, pid: int) -> ProcStat | None:
    try:
        with open(ctx.path(f"/proc/{pid}/stat"), "rb") as handle:
            return parse_stat(pid, handle.read())
    except (OSError, ValueError):
        return None


def boot_time(ctx: ProbeContext) -> float | None:
    """Seconds since the epoch at boot, from the ``btime`` line of ``/proc/stat``."""
    try:
        text = ctx.read_text("/proc/stat", max_bytes=1 << 20)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return None


def scan(
    ctx: ProbeContext,
    device_paths: Iterable[str] = DEFAULT_DEVICE_PATHS,
    map_markers: Iterable[str] = DEFAULT_MAP_MARKERS,
) -> ProcTable:
    """Read every process once: its stat line and open descriptors, and the maps of candidates.

    Per process, about 35 us of CPU: ``stat`` read with unbuffered ``os.read`` (no file
    object), the ``fd`` links read relative to their opened directory. ``maps`` is the
    costliest read (a few KiB of text the kernel formats), so it is read only for a process
    holding a device file other than a terminal or an everyday pseudo-device (see
    :func:`_may_use_gpu`).
    """
    prefixes = tuple(device_paths)
    markers = tuple(m.encode() for m in map_markers)
    table = ProcTable(boot_time=boot_time(ctx), clock_ticks=_clock_ticks())
    proc = str(ctx.path("/proc"))
    for entry in os.listdir(proc):
        if entry.isdigit():
            _scan_one(table, int(entry), f"{proc}/{entry}", prefixes, markers)
    return table


def _scan_one(
    table: ProcTable, pid: int, base: str, prefixes: tuple[str, ...], markers: tuple[bytes, ...]
) -> None:
    try:
        fd = os.open(base + "/stat", os.O_RDONLY)
        try:
            # One read: the kernel formats the whole line (at most about 1 KiB) at once.
            data = os.read(fd, 8192)
        finally:
            os.close(fd)
        stat = parse_stat(pid, data)
    except (OSError, ValueError):
        return  # gone since the listing
    if stat is None:
        return
    table.stats[pid] = stat
    targets = _fd_targets(base + "/fd")
    if targets is None:
        table.unreadable += 1
        return  # maps is guarded by the same access check as fd
    held = {target for target in targets if target.startswith(prefixes)}
    if held:
        table.devices[pid] = held
        table.sources[pid] = {"open device file"}
    if markers and (held or _may_use_gpu(targets)) and _maps_mention(base + "/maps", markers):
        table.devices.setdefault(pid, set())
        table.sources.setdefault(pid, set()).add("maps libcuda")


#: Device files nearly every process holds, none of them a GPU's: terminals and the
#: pseudo-devices. A process holding only these (or no device at all) is not asked for maps.
_EVERYDAY_DEVICES = (
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/pts/",
    "/dev/ptmx",
    "/dev/console",
    "/dev/shm/",
    "/dev/mqueue/",
    "/dev/hugepages/",
    "/dev/kmsg",
    "/dev/log",
)


def _may_use_gpu(targets: list[str]) -> bool:
    """Whether a process could be running the CUDA driver, judged by its open descriptors.

    The driver works through device files it keeps open for the life of a context:
    ``/dev/nvidiactl``, ``/dev/nvidia-uvm`` and ``/dev/nvidia<N>`` natively, ``/dev/dxg``
    on WSL2, whatever ``gpu_device_paths`` names. A process that maps ``libcuda`` without
    any device file open has not initialised the driver and holds no GPU memory. Any device
    outside the everyday set counts, so a driver whose device files have other names is
    still looked at.
    """
    for target in targets:  # a loop, not any(): it runs for nearly every process
        if target.startswith("/dev/") and not target.startswith(_EVERYDAY_DEVICES):
            return True
    return False


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


def _read(path: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of a file, without a buffered file object."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(1 << 16, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _fd_targets(path: str) -> list[str] | None:
    """Where a process's open descriptors point; None when we may not look."""
    try:
        fd_dir = os.open(path, _DIR_FLAGS)
    except PermissionError:
        return None
    except OSError:
        return []
    try:
        names = os.listdir(fd_dir)
        targets = []
        for name in names:
            try:
                targets.append(os.readlink(name, dir_fd=fd_dir))
            except OSError:
                continue
        return targets
    except PermissionError:
        return None
    except OSError:
        return []
    finally:
        os.close(fd_dir)


def _maps_mention(path: str, markers: tuple[bytes, ...]) -> bool:
    try:
        data = _read(path, MAX_MAPS_BYTES)
    except OSError:
        return False
    return any(marker in data for marker in markers)


def _clock_ticks() -> int:
    if sys.platform == "win32":  # no sysconf; the Linux default
        return 100
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100


def read_cmdline(ctx: ProbeContext, pid: int) -> list[str]:
    try:
        with open(ctx.path(f"/proc/{pid}/cmdline"), "rb") as handle:
            raw = handle.read(64 * 1024)
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def read_uid(ctx: ProbeContext, pid: int) -> int | None:
    """The real user id, from the ``Uid:`` line of ``/proc/<pid>/status``."""
    try:
        text = ctx.read_text(f"/proc/{pid}/status", max_bytes=16384)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            parts = line.split()
            return int(parts[1]) if len(parts) > 1 else None
    return None


def user_name(uid: int | None, cache: dict[int, str | None]) -> str | None:
    if uid is None:
        return None
    if uid not in cache:
        if sys.platform == "win32":  # no pwd module
            cache[uid] = str(uid)
        else:
            import pwd

            try:
                cache[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                cache[uid] = str(uid)
    return cache[uid]


def read_io(ctx: ProbeContext, pid: int) -> int | None:
    """Bytes read plus written through syscalls so far (``rchar + wchar``); None if hidden."""
    try:
        text = ctx.read_text(f"/proc/{pid}/io", max_bytes=4096)
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("rchar", "wchar") and value.strip().isdigit():
            total += int(value)
    return total


def read_cgroup(ctx: ProbeContext, pid: int) -> list[str]:
    """The cgroup paths of a process (one per hierarchy; the v2 one is ``0::/...``)."""
    try:
        text = ctx.read_text(f"/proc/{pid}/cgroup", max_bytes=16384)
    except OSError:
        return []
    paths = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2] not in paths:
            paths.append(parts[2])
    return paths


#: Threads of one process whose scheduler record we read for "last ran" (a bound on work).
MAX_THREADS = 256


def _exec_start_ms(path: str) -> float | None:
    """``se.exec_start`` of one task: when it last ran on a CPU (ms since boot)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(4096)
    except OSError:
        return None
    for line in data.splitlines():
        if line.startswith(b"se.exec_start"):
            try:
                return float(line.split(b":", 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def sched_now_ms(ctx: ProbeContext) -> float | None:
    """The scheduler clock now: this thread's own ``se.exec_start`` (it is running)."""
    if not ctx.is_live:
        return None
    return _exec_start_ms("/proc/thread-self/sched")


def last_ran_ms(ctx: ProbeContext, pid: int) -> float | None:
    """When any thread of ``pid`` last ran (ms, scheduler clock); None where not exposed.

    ``/proc/<pid>/sched`` exists with ``CONFIG_SCHED_DEBUG`` (most distribution kernels).
    This is a measured idle time that needs no waiting, unlike a CPU sample.
    """
    task = str(ctx.path(f"/proc/{pid}/task"))
    try:
        tids = os.listdir(task)[:MAX_THREADS]
    except OSError:
        return None
    latest: float | None = None
    for tid in tids:
        value = _exec_start_ms(f"{task}/{tid}/sched")
        if value is not None and (latest is None or value > latest):
            latest = value
    return latest


def children_of(table: ProcTable, pid: int) -> list[int]:
    """The pids whose parent is ``pid``, in order (one index for the table, not a pass each)."""
    index = table.children_index
    if index is None or index[0] != len(table.stats):
        kids: dict[int, list[int]] = {}
        for child in sorted(table.stats):
            kids.setdefault(table.stats[child].ppid, []).append(child)
        index = table.children_index = (len(table.stats), kids)
    return list(index[1].get(pid, ()))
