"""Host memory: RAM, swap, swap activity, commit, pressure stall and cgroup limits.

The quick path never sleeps: pressure comes from the kernel's PSI averages (already a
10/60/300 s window) and swap activity from the counters since boot. Only ``-v`` or ``--deep``
(option ``swap_sample``) spends a tenth of a second sampling the swap counters, and the facts
say which of the two was done (``swap_activity.method``).
"""

from __future__ import annotations

import time
from typing import Any

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.procfs import parse_meminfo
from gpudoctor.probes.procfs import parse_vmstat

#: How long swap activity is sampled; probes run concurrently, so this is not added up.
SWAP_SAMPLE_SECONDS = 0.1


#: ``swap_activity.method`` values.
METHOD_SAMPLE = "sample"
METHOD_SINCE_BOOT = "since-boot"
METHOD_NO_SWAP = "no-swap"
SINCE_BOOT_NOTE = "not sampled (run with -v or --deep to sample swap traffic)"


def parse_pressure(text: str) -> dict[str, float]:
    """``/proc/pressure/memory``: share of time stalled (some/full, avg10/60/300) and the
    stall time since boot (``*_total_us``), all from one read."""
    result: dict[str, float] = {}
    for line in text.splitlines():
        kind, *fields = line.split() or [""]
        for item in fields:
            key, _, value = item.partition("=")
            try:
                if key in ("avg10", "avg60", "avg300"):
                    result[f"{kind}_{key}"] = float(value)
                elif key == "total":
                    result[f"{kind}_total_us"] = int(value)
            except ValueError:
                continue
    return result


def wants_swap_sample(ctx: ProbeContext) -> bool:
    """A swap sample costs a sleep: only ``--deep`` or ``-v`` (option ``swap_sample``) pay it."""
    return ctx.deep or bool(ctx.options.get("swap_sample"))


def _uptime(ctx: ProbeContext) -> float | None:
    try:
        return float(ctx.read_text("/proc/uptime", max_bytes=256).split()[0])
    except (OSError, ValueError, IndexError):
        return None


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
    if info.get("SwapTotal") == 0:
        # Without a swap device there is no swap traffic: known without a sample.
        swap_sample = {
            "method": METHOD_NO_SWAP,
            "reason": None,
            "seconds": None,
            "pages_in_per_s": 0.0,
            "pages_out_per_s": 0.0,
        }
    else:
        try:
            swap_sample = _linux_swap(ctx)
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


def _linux_swap(ctx: ProbeContext) -> dict[str, Any]:
    """Swap traffic: counters since boot, plus a short sample when asked for one."""
    before = parse_vmstat(ctx.read_text("/proc/vmstat"))
    after, elapsed = before, 0.0
    if ctx.is_live and wants_swap_sample(ctx):
        started = time.monotonic()
        time.sleep(SWAP_SAMPLE_SECONDS)
        after = parse_vmstat(ctx.read_text("/proc/vmstat"))
        elapsed = time.monotonic() - started
    uptime = _uptime(ctx)
    total_in, total_out = after["pswpin"], after["pswpout"]
    return {
        "method": METHOD_SAMPLE if elapsed else METHOD_SINCE_BOOT,
        "reason": None if elapsed else SINCE_BOOT_NOTE,
        "seconds": round(elapsed, 3) if elapsed else None,
        "pages_in_per_s": round((total_in - before["pswpin"]) / elapsed, 1) if elapsed else None,
        "pages_out_per_s": round((total_out - before["pswpout"]) / elapsed, 1) if elapsed else None,
        "pages_in_total": total_in,
        "pages_out_total": total_out,
        "uptime_s": round(uptime, 1) if uptime else None,
        "pages_in_per_s_since_boot": round(total_in / uptime, 3) if uptime else None,
        "pages_out_per_s_since_boot": round(total_out / uptime, 3) if uptime else None,
    }


def _psutil(ctx: ProbeContext) -> dict[str, Any]:
    import psutil

    vm = psutil.virtual_memory()
    before = after = psutil.swap_memory()
    elapsed = 0.0
    if wants_swap_sample(ctx):
        started = time.monotonic()
        time.sleep(SWAP_SAMPLE_SECONDS)
        after = psutil.swap_memory()
        elapsed = time.monotonic() - started
    page = 4096
    # psutil reports bytes swapped; Windows always says 0, so say unknown there.
    known = bool(elapsed) and not ctx.platform.startswith("win")
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
            "method": METHOD_SAMPLE if elapsed else METHOD_SINCE_BOOT,
            "reason": None if elapsed else SINCE_BOOT_NOTE,
            "seconds": round(elapsed, 3) if elapsed else None,
            "pages_in_per_s": round((after.sin - before.sin) / page / elapsed, 1)
            if known
            else None,
            "pages_out_per_s": round((after.sout - before.sout) / page / elapsed, 1)
            if known
            else None,
        },
        "pressure": None,
        "cgroup": {"limit_bytes": None, "current_bytes": None, "version": None},
    }


@probe("memory", timeout=2.0)
def probe_memory(ctx: ProbeContext) -> dict[str, Any]:
    """RAM and swap totals, swap counters (sampled only with -v/--deep), PSI, cgroup limits."""
    if ctx.platform.startswith("linux"):
        return _linux(ctx)
    return _psutil(ctx)
