"""Who holds GPU memory: every process any source can see, merged into one inventory.

Sources, each row saying which saw it: NVML's compute and graphics lists, processes holding
``/dev/nvidia*`` or ``/dev/dxg`` open or mapping libcuda (``/proc``, Linux and WSL), and
``nvidia-smi`` where NVML itself is missing (Windows). ``gpudoctor fix --kill-stale`` reuses
:func:`collect_inventory`, so the check and the fix see the same thing.

Options (``ctx.options``): ``gpu_device_paths`` (device path prefixes to look for; tests
pass a stand-in file), ``gpu_map_markers``, ``idle_minutes``, ``cpu_sample_seconds`` and
``caller_pid`` (the process to protect with its ancestors and process group).
"""

from __future__ import annotations

import os
import time
from typing import Any

from gpudoctor.facts.model import NotApplicable, Unavailable
from gpudoctor.probes.base import ProbeContext, probe
from gpudoctor.probes.gpu_sources import DriverView, nvidia_smi_view, nvml_view
from gpudoctor.probes.proc_table import (
    DEFAULT_DEVICE_PATHS,
    DEFAULT_MAP_MARKERS,
    ProcStat,
    ProcTable,
    read_cmdline,
    read_uid,
    sample_cpu,
    scan,
    state_name,
    user_name,
)

DEFAULT_IDLE_MINUTES = 30.0
DEFAULT_SAMPLE_SECONDS = 0.5
CMDLINE_MAX = 160
#: Processes that adopt orphans: a parent with one of these names means "the real parent died".
INIT_LIKE = frozenset(
    {
        "systemd",
        "init",
        "tini",
        "dumb-init",
        "docker-init",
        "catatonit",
        "s6-svscan",
        "runit",
        "containerd-shim",
    }
)
NOT_REPORTED = "not reported on this platform"


def settings(ctx: ProbeContext) -> dict[str, Any]:
    opts = ctx.options
    return {
        "idle_minutes": float(opts.get("idle_minutes") or DEFAULT_IDLE_MINUTES),
        "sample_seconds": float(
            opts["cpu_sample_seconds"]
            if opts.get("cpu_sample_seconds") is not None
            else DEFAULT_SAMPLE_SECONDS
        ),
        "device_paths": list(opts.get("gpu_device_paths") or DEFAULT_DEVICE_PATHS),
        "map_markers": list(
            opts["gpu_map_markers"]
            if opts.get("gpu_map_markers") is not None
            else DEFAULT_MAP_MARKERS
        ),
    }


def collect_inventory(ctx: ProbeContext, *, use_nvml: bool = True) -> dict[str, Any]:
    """The whole inventory as JSON facts (see ``checks/GD401.md`` for the fields)."""
    conf = settings(ctx)
    if ctx.platform == "darwin":
        return {
            "applicable": False,
            "reason": "macOS has no NVIDIA CUDA driver, so no process can hold CUDA memory",
            "processes": [],
            "settings": conf,
        }
    started = time.time()
    kind = ctx.identity.kind
    table = _process_table(ctx, conf)
    view = nvml_view(ctx) if use_nvml else DriverView(nvml=Unavailable("not asked"))
    if view.nvml != "ok":
        view.process_list = view.nvml if view.process_list is None else view.process_list
        if kind == "windows":
            # nvidia-smi.exe can work where the Python bindings cannot load nvml.dll; on
            # Linux it uses the same library, so it would only fail the same way.
            nvidia_smi_view(ctx, view)
    holders = set(table.devices) | set(view.listed)
    caller = _caller(ctx, table)
    recent = sample_cpu(ctx, table, sorted(holders), conf["sample_seconds"])
    users: dict[int, str | None] = {}
    rows = [
        _row(ctx, pid, table, view, caller, recent, users, kind, conf, started)
        for pid in sorted(holders)
    ]
    return {
        "applicable": True,
        "platform_kind": kind,
        "collected_at": round(started, 3),
        "settings": conf,
        "caller": caller,
        "sources": {
            "nvml": view.nvml,
            "nvml_process_list": view.process_list,
            "proc_scan": "ok" if table.stats else Unavailable("no process table could be read"),
            "nvidia_smi": view.nvidia_smi,
        },
        "scanned": len(table.stats),
        "unreadable": table.unreadable,
        "devices": view.devices,
        "processes": rows,
    }


@probe("gpu_processes", timeout=4.0)
def probe_gpu_processes(ctx: ProbeContext) -> dict[str, Any] | NotApplicable:
    """Processes holding the GPU, from NVML, /proc and nvidia-smi, with who and how idle."""
    inventory = collect_inventory(ctx)
    if not inventory.pop("applicable", True):
        return NotApplicable(str(inventory["reason"]))
    return inventory


# -- pieces -------------------------------------------------------------------------------


def _process_table(ctx: ProbeContext, conf: dict[str, Any]) -> ProcTable:
    if ctx.platform.startswith("linux"):
        try:
            return scan(ctx, conf["device_paths"], conf["map_markers"])
        except OSError:
            return ProcTable()
    return _psutil_table()


def _psutil_table() -> ProcTable:
    """Windows: psutil's process list; CUDA users are Python processes mapping nvcuda.dll."""
    import psutil

    table = ProcTable(boot_time=0.0, clock_ticks=1000)

    def stat_of(proc: Any) -> ProcStat | None:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                return ProcStat(
                    pid=proc.pid,
                    name=proc.name(),
                    state=_psutil_state(proc.status()),
                    ppid=proc.ppid(),
                    pgid=0,
                    cpu_ticks=int((times.user + times.system) * 1000),
                    start_ticks=int(proc.create_time() * 1000),
                )
        except (psutil.Error, OSError):
            return None

    for proc in psutil.process_iter():
        stat = stat_of(proc)
        if stat is None:
            continue
        table.stats[proc.pid] = stat
        if "python" not in stat.name.lower():
            continue
        try:
            if any("nvcuda" in m.path.lower() for m in proc.memory_maps(grouped=True)):
                table.devices[proc.pid] = set()
                table.sources[proc.pid] = {"maps nvcuda.dll"}
        except (psutil.Error, OSError):
            table.unreadable += 1

    def reread(pid: int) -> ProcStat | None:
        try:
            return stat_of(psutil.Process(pid))
        except (psutil.Error, OSError):
            return None

    table.reread = reread
    return table


def _psutil_state(status: str) -> str:
    return {"zombie": "Z", "stopped": "T", "running": "R", "disk-sleep": "D"}.get(status, "S")


def _caller(ctx: ProbeContext, table: ProcTable) -> dict[str, Any]:
    """The process to protect: this one (or ``caller_pid``), its ancestors and group."""
    pid = ctx.options.get("caller_pid")
    if pid is None and ctx.is_live:
        pid = os.getpid()
    if pid is None:
        return {"pid": None, "ancestors": [], "pgid": None}
    ancestors: list[int] = []
    seen = {pid}
    stat = table.stats.get(pid)
    pgid = stat.pgid if stat else None
    if pgid is None and ctx.is_live and hasattr(os, "getpgid"):
        try:
            pgid = os.getpgid(pid)
        except OSError:
            pgid = None
    while stat is not None and stat.ppid > 0 and stat.ppid not in seen:
        ancestors.append(stat.ppid)
        seen.add(stat.ppid)
        stat = table.stats.get(stat.ppid)
    return {"pid": pid, "ancestors": ancestors, "pgid": pgid}


def _parent_gone(stat: ProcStat, table: ProcTable) -> tuple[bool, str | None]:
    """Whether the process's own parent has died (so init or a subreaper adopted it)."""
    parent = table.stats.get(stat.ppid)
    if parent is None:
        return stat.ppid != 0, None
    if parent.name in INIT_LIKE or parent.name.startswith("containerd-shim"):
        return True, parent.name
    if stat.ppid == 1:
        # pid 1 may be the training script itself (``docker run ... python train.py``):
        # then its workers are its real children.
        return ("python" not in parent.name.lower() and 1 not in table.devices), parent.name
    return False, parent.name


def _shorten(parts: list[str]) -> str:
    text = " ".join(parts)
    return text if len(text) <= CMDLINE_MAX else text[: CMDLINE_MAX - 1] + "…"


def _row(
    ctx: ProbeContext,
    pid: int,
    table: ProcTable,
    view: DriverView,
    caller: dict[str, Any],
    recent: dict[int, float],
    users: dict[int, str | None],
    kind: str,
    conf: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    stat = table.stats.get(pid)
    listed = view.listed.get(pid)
    sources = sorted((table.sources.get(pid) or set()) | (listed.sources if listed else set()))
    row: dict[str, Any] = {
        "pid": pid,
        "visible": stat is not None,
        "sources": sources,
        "devices": sorted(table.devices.get(pid) or ()),
        "gpu_indices": sorted(listed.gpu_indices) if listed else [],
        "gpu_util_percent": listed.util_percent if listed else None,
    }
    if listed and listed.memory_known:
        row["gpu_memory_bytes"] = listed.memory_bytes
    else:
        row["gpu_memory_bytes"] = None
        row["gpu_memory_note"] = _memory_note(kind, listed, view)
    if stat is None:
        row.update(
            name=listed.name if listed else None,
            note="listed by the driver but not visible here (another container or PID "
            "namespace, another WSL distro, or a Windows process)",
        )
        return row
    start = None
    if table.boot_time is not None:
        start = table.boot_time + stat.start_ticks / table.clock_ticks
    parent_gone, parent_name = _parent_gone(stat, table)
    if ctx.platform.startswith("linux"):
        uid = read_uid(ctx, pid)
        user = user_name(uid, users)
        cmdline = _shorten(read_cmdline(ctx, pid)) or f"[{stat.name}]"
    else:
        uid, user, cmdline = _psutil_owner(pid, stat.name)
    row.update(
        name=stat.name,
        cmdline=cmdline,
        user=user,
        uid=uid,
        start_time=round(start, 3) if start is not None else None,
        start_ticks=stat.start_ticks,
        age_seconds=round(max(0.0, now - start), 1) if start is not None else None,
        ppid=stat.ppid,
        parent_name=parent_name,
        parent_gone=parent_gone,
        pgid=stat.pgid,
        state=state_name(stat.state),
        cpu_seconds=round(stat.cpu_ticks / table.clock_ticks, 2),
        recent_cpu_seconds=recent.get(pid),
        sample_seconds=conf["sample_seconds"] if pid in recent else None,
        is_caller=pid == caller["pid"],
        is_caller_ancestor=pid in caller["ancestors"],
        in_caller_group=caller["pgid"] is not None and stat.pgid == caller["pgid"],
    )
    return row


def _memory_note(kind: str, listed: Any, view: DriverView) -> str:
    if kind in ("windows", "wsl2"):
        return NOT_REPORTED
    if listed is None:
        return "not reported: seen only through open device files or mapped libraries"
    return "not reported by the driver for this process"


def _psutil_owner(pid: int, name: str) -> tuple[int | None, str | None, str]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return None, proc.username(), _shorten(proc.cmdline()) or name
    except (psutil.Error, OSError):
        return None, None, name
