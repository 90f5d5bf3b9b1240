"""Host memory: RAM, swap, swap activity, commit, pressure stall and cgroup limits."""

from __future__ import annotations

import time
from typing import Any

from gpudoctor.probes.base import ProbeContext, probe
from gpudoctor.probes.procfs import parse_meminfo, parse_vmstat

#: How long swap activity is sampled; probes run concurrently, so this is not added up.
SWAP_SAMPLE_SECONDS = 0.1


def parse_pressure(text: str) -> dict[str, float]:
    """``/proc/pressure/memory``: share of time stalled (some/full, avg10 and avg60)."""
    result = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        for item in fields:
            key, _, value = item.partition("=")
            if key in ("avg10", "avg60"):
                result[f"{kind}_{key}"] = float(value)
    return result


def _cgroup_memory(ctx: ProbeContext) -> dict[str, Any]:
    """The cgroup v2 (or v1) memory limit of this process, when there is one."""

    def read(path: str) -> str | None:
        try:
            return ctx.read_text(path, max_bytes=4096).strip()
        except OSError:
            return None

    limit = read("/sys/fs/cgroup/memory.max")
    current = read("/sys/fs/cgroup/memory.current")
    version = 2
    if limit is None:
        limit = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
        current = read("/sys/fs/cgroup/memory/memory.usage_in_bytes")
        version = 1
    if limit is None:
        return {"limit_bytes": None, "current_bytes": None, "version": None}
    limit_bytes = (
        None if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60 else int(limit)
    )
    return {
        "limit_bytes": limit_bytes,
        "current_bytes": int(current) if current and current.isdigit() else None,
        "version": version,
    }


def _linux(ctx: ProbeContext) -> dict[str, Any]:
    info = parse_meminfo(ctx.read_text("/proc/meminfo"))
    swap_sample: dict[str, Any] = {"seconds": None, "pages_in_per_s": None, "pages_out_per_s": None}
    try:
        before = parse_vmstat(ctx.read_text("/proc/vmstat"))
        if ctx.is_live:
            started = time.monotonic()
            time.sleep(SWAP_SAMPLE_SECONDS)
            after = parse_vmstat(ctx.read_text("/proc/vmstat"))
            elapsed = time.monotonic() - started
        else:  # a recorded tree holds one reading: rates are not knowable from it
            after, elapsed = before, 0.0
        swap_sample = {
            "seconds": round(elapsed, 3) if elapsed else None,
            "pages_in_per_s": round((after["pswpin"] - before["pswpin"]) / elapsed, 1)
            if elapsed
            else None,
            "pages_out_per_s": round((after["pswpout"] - before["pswpout"]) / elapsed, 1)
            if elapsed
            else None,
            "pages_in_total": after.get("pswpin"),
            "pages_out_total": after.get("pswpout"),
        }
    except (OSError, KeyError):
        pass
    try:
        pressure: dict[str, Any] | None = parse_pressure(ctx.read_text("/proc/pressure/memory"))
    except OSError:
        pressure = None
    return {
        "source": "/proc/meminfo",
        "total_bytes": info.get("MemTotal"),
        "available_bytes": info.get("MemAvailable", info.get("MemFree")),
        "free_bytes": info.get("MemFree"),
        "swap_total_bytes": info.get("SwapTotal"),
        "swap_free_bytes": info.get("SwapFree"),
        "commit_limit_bytes": info.get("CommitLimit"),
        "committed_bytes": info.get("Committed_AS"),
        "shmem_bytes": info.get("Shmem"),
        "swap_activity": swap_sample,
        "pressure": pressure,
        "cgroup": _cgroup_memory(ctx),
    }


def _psutil(ctx: ProbeContext) -> dict[str, Any]:
    import psutil

    vm = psutil.virtual_memory()
    before = psutil.swap_memory()
    started = time.monotonic()
    time.sleep(SWAP_SAMPLE_SECONDS)
    after = psutil.swap_memory()
    elapsed = time.monotonic() - started
    page = 4096
    return {
        "source": "psutil",
        "total_bytes": vm.total,
        "available_bytes": vm.available,
        "free_bytes": getattr(vm, "free", None),
        "swap_total_bytes": after.total,
        "swap_free_bytes": after.free,
        "commit_limit_bytes": None,
        "committed_bytes": None,
        "shmem_bytes": None,
        "swap_activity": {
            "seconds": round(elapsed, 3),
            # psutil reports bytes swapped; Windows always says 0, so say unknown there.
            "pages_in_per_s": None
            if ctx.platform.startswith("win")
            else round((after.sin - before.sin) / page / elapsed, 1),
            "pages_out_per_s": None
            if ctx.platform.startswith("win")
            else round((after.sout - before.sout) / page / elapsed, 1),
        },
        "pressure": None,
        "cgroup": {"limit_bytes": None, "current_bytes": None, "version": None},
    }


@probe("memory", timeout=2.0)
def probe_memory(ctx: ProbeContext) -> dict[str, Any]:
    """RAM and swap totals, swap traffic over a tenth of a second, pressure and cgroup limits."""
    if ctx.platform.startswith("linux"):
        return _linux(ctx)
    return _psutil(ctx)
