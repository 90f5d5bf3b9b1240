"""The user's training setup: scripts and configs named with --script / --config.

Files are read and parsed, never run. Next to what they say, this section records what the
run will meet on this machine: the multiprocessing start method Python will pick, the CPUs,
RAM and (on Windows) the commit limit that every spawned worker draws from.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

#: Image files counted under --data for the RAM-cache estimate.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
#: Counting images stops after this many directory entries or seconds.
MAX_DATA_ENTRIES = 500_000
MAX_DATA_SECONDS = 1.5


def default_start_method(platform: str, version: tuple[int, int]) -> tuple[str, str]:
    """The start method multiprocessing uses when nobody sets one, and why."""
    if platform.startswith("win"):
        return "spawn", "Windows has no fork"
    if platform == "darwin":
        return "spawn", "macOS default since Python 3.8 (fork is unsafe there)"
    if version >= (3, 14):
        return "forkserver", "POSIX default since Python 3.14"
    return "fork", f"POSIX default before Python 3.14 (this is {version[0]}.{version[1]})"


def _enabled(ctx: ProbeContext) -> bool:
    return bool(ctx.options.get("scripts") or ctx.options.get("configs"))


def _windows_commit() -> dict[str, Any] | None:
    """Commit limit and what is left of it, from GlobalMemoryStatusEx (Windows only)."""
    import ctypes
    from ctypes import wintypes

    class MemoryStatusEx(ctypes.Structure):
        _fields_ = [  # noqa: RUF012 - ctypes layout
            ("dwLength", wintypes.DWORD),
            ("dwMemoryLoad", wintypes.DWORD),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatusEx()
    status.dwLength = ctypes.sizeof(MemoryStatusEx)
    kernel32 = getattr(ctypes, "windll").kernel32  # noqa: B009 - exists only on Windows
    if not kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return {
        "limit_bytes": status.ullTotalPageFile,
        "available_bytes": status.ullAvailPageFile,
        "ram_total_bytes": status.ullTotalPhys,
        "source": "GlobalMemoryStatusEx",
    }


def machine_facts(ctx: ProbeContext) -> dict[str, Any]:
    import psutil

    memory = psutil.virtual_memory()
    commit = None
    if ctx.platform.startswith("win") and ctx.is_live:
        try:
            commit = _windows_commit()
        except (OSError, AttributeError, ValueError):
            commit = None
    return {
        "cpus_logical": ctx.identity.cpus_logical,
        "cpus_usable": ctx.identity.cpus_usable,
        "ram_total_bytes": memory.total,
        "ram_available_bytes": memory.available,
        "commit": commit,
    }


def count_images(root: str) -> dict[str, Any]:
    """Image files under ``root``, bounded in entries and time (a partial count says so)."""
    count, entries, complete = 0, 0, True
    started = time.monotonic()
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    entries += 1
                    if entries > MAX_DATA_ENTRIES or time.monotonic() - started > MAX_DATA_SECONDS:
                        return {"path": root, "images": count, "complete": False}
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                        count += 1
        except OSError:
            complete = False
    return {"path": root, "images": count, "complete": complete}


#: The probe's own time bound. Files are read within READ_SECONDS of its start, so that
#: a slow file is reported as "not analysed" (GD610) instead of a timed-out probe.
PROBE_TIMEOUT = 4.0
READ_SECONDS = 3.0
#: Files above this size are read in a child process that can be stopped at the deadline.
IN_PROCESS_BYTES = 256 * 1024

_CHILD = (
    "import json, sys\n"
    "from gpudoctor.readers.training_config import analyse_config\n"
    "from gpudoctor.readers.training_script import analyse_script\n"
    "read = analyse_script if sys.argv[1] == 'script' else analyse_config\n"
    "sys.stdout.write(json.dumps(read(sys.argv[2])))\n"
)


def analyse_file(path: str, kind: str, seconds: float) -> dict[str, Any]:
    """Analyse one --script/--config file within ``seconds``; never raises."""
    from gpudoctor.readers.python_source import not_understood
    from gpudoctor.readers.training_config import analyse_config
    from gpudoctor.readers.training_script import analyse_script

    read = analyse_script if kind == "script" else analyse_config
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0  # missing or special: the reader says why
    if size <= IN_PROCESS_BYTES or not os.path.isfile(path):
        return read(path)
    if seconds <= 0:
        return not_understood(path, kind, "not analysed: the probe's time bound was used up")
    return _analyse_in_child(path, kind, seconds, size)


def _analyse_in_child(path: str, kind: str, seconds: float, size: int) -> dict[str, Any]:
    import json
    import subprocess

    from gpudoctor.readers.python_source import not_understood

    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, kind, path],
            capture_output=True,
            text=True,
            timeout=seconds,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return not_understood(
            path,
            kind,
            f"reading this {size // 1024} KiB file took longer than {seconds:.1f} s; "
            "not analysed (the rest of the report is not held up)",
        )
    except OSError as exc:
        return not_understood(path, kind, f"could not start the reader: {exc}")
    try:
        result = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return not_understood(path, kind, f"the reader failed: {last[:200]}")
    return result if isinstance(result, dict) else not_understood(path, kind, "bad reader output")


@probe("training", timeout=PROBE_TIMEOUT, enabled=_enabled)
def probe_training(ctx: ProbeContext) -> dict[str, Any]:
    """What --script / --config files set up, and the start method, CPUs and RAM they meet."""
    started = time.monotonic()
    files = [(str(p), "script") for p in ctx.options.get("scripts") or ()]
    files += [(str(p), "config") for p in ctx.options.get("configs") or ()]
    sources = []
    for path, kind in files:
        left = READ_SECONDS - (time.monotonic() - started)
        sources.append(analyse_file(path, kind, left))
    method, why = default_start_method(ctx.platform, sys.version_info[:2])
    data = ctx.options.get("data")
    return {
        "sources": sources,
        "start_method": {
            "default": method,
            "why": why,
            "python": "{}.{}.{}".format(*sys.version_info[:3]),
            "platform": ctx.platform,
        },
        "machine": machine_facts(ctx),
        "data": count_images(str(data)) if data and os.path.isdir(str(data)) else None,
    }
