"""Who holds GPU memory: every process any source can see, merged into one inventory.

Sources, each row saying which saw it: NVML's compute and graphics lists, processes holding
``/dev/nvidia*`` or ``/dev/dxg`` open or mapping libcuda (``/proc``, Linux and WSL), and
``nvidia-smi`` where NVML itself is missing (Windows). ``gpudoctor fix --kill-stale`` reuses
:func:`collect_inventory`, so the check and the fix see the same thing.

Every signal here needs no waiting (``gpudoctor check`` must not slow down because a
training run holds the GPU): CPU time and age, the scheduler's "last ran" time, kernel state,
I/O counters, NVML's buffered per-process utilisation samples, the cgroup that tells who
manages a process, and the Jupyter server's own account of its kernels. Watching a process
over a window belongs to ``gpudoctor fix --kill-stale`` (:func:`observe`).

Options (``ctx.options``): ``gpu_device_paths`` (device path prefixes to look for; tests
pass a stand-in file), ``gpu_map_markers``, ``idle_minutes``, ``worker_idle_seconds`` and
``caller_pid`` (the process to protect with its ancestors and process group).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.gpu_sources import UTILISATION_WINDOW_S
from gpudoctor.probes.gpu_sources import DriverView
from gpudoctor.probes.gpu_sources import gpu_activity_since
from gpudoctor.probes.gpu_sources import nvidia_smi_view
from gpudoctor.probes.gpu_sources import nvml_view
from gpudoctor.probes.jupyter import connection_file
from gpudoctor.probes.jupyter import kernel_activity
from gpudoctor.probes.managed import manager_of
from gpudoctor.probes.proc_table import DEFAULT_DEVICE_PATHS
from gpudoctor.probes.proc_table import DEFAULT_MAP_MARKERS
from gpudoctor.probes.proc_table import ProcStat
from gpudoctor.probes.proc_table import ProcTable
from gpudoctor.probes.proc_table import children_of
from gpudoctor.probes.proc_table import last_ran_ms
from gpudoctor.probes.proc_table import read_cgroup
from gpudoctor.probes.proc_table import read_cmdline
from gpudoctor.probes.proc_table import read_io
from gpudoctor.probes.proc_table import read_stat
from gpudoctor.probes.proc_table import read_uid
from gpudoctor.probes.proc_table import scan
from gpudoctor.probes.proc_table import sched_now_ms
from gpudoctor.probes.proc_table import state_name
from gpudoctor.probes.proc_table import user_name

DEFAULT_IDLE_MINUTES = 30.0
#: An orphaned worker must have been idle at least this long (longer than a training step's
#: wait on its data) before it may be stopped.
DEFAULT_WORKER_IDLE_S = 5.0
OBSERVE_STEP_S = 0.1
#: Facts keep the command line raw, whole arguments only, up to this many characters;
#: outputs redact it first and then cut it to ``gpudoctor.privacy.CMDLINE_MAX``.
CMDLINE_MAX = 4096
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
        "idle_minutes": float(
            opts["idle_minutes"] if opts.get("idle_minutes") is not None else DEFAULT_IDLE_MINUTES
        ),
        "worker_idle_seconds": float(
            opts["worker_idle_seconds"]
            if opts.get("worker_idle_seconds") is not None
            else DEFAULT_WORKER_IDLE_S
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
    users: dict[int, str | None] = {}
    own = read_cgroup(ctx, caller["pid"]) if caller["pid"] is not None else []
    now_ms = sched_now_ms(ctx)
    rows = [
        _row(ctx, pid, table, view, caller, users, kind, own, now_ms, started)
        for pid in sorted(holders)
    ]
    kernels = kernel_activity(
        ctx, {r["pid"]: r["kernel_file"] for r in rows if r.get("kernel_file")}
    )
    for row in rows:
        if row["pid"] in kernels:
            row["kernel"] = kernels[row["pid"]]
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
            "gpu_samples": view.utilisation
            if view.utilisation is not None
            else Unavailable("no per-process utilisation samples were read"),
            "sched": "ok"
            if now_ms is not None
            else Unavailable("/proc/<pid>/sched is not readable here"),
        },
        "gpu_samples_window_s": UTILISATION_WINDOW_S,
        "scanned": len(table.stats),
        "unreadable": table.unreadable,
        "devices": view.devices,
        "processes": rows,
    }


@probe("gpu_processes", timeout=5.0)
def probe_gpu_processes(ctx: ProbeContext) -> dict[str, Any] | NotApplicable:
    """Processes holding the GPU, from NVML, /proc and nvidia-smi, with who manages them and
    how idle they are (no waiting: only signals that are already there)."""
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
        if sys.platform == "darwin":  # macOS has no CUDA and psutil no memory maps there
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
    """Whole arguments up to CMDLINE_MAX: never half a secret that redaction could miss."""
    kept: list[str] = []
    size = 0
    for part in parts:
        size += len(part) + 1
        if size > CMDLINE_MAX:
            return " ".join(kept + ["…"])
        kept.append(part)
    return " ".join(kept)


def _row(
    ctx: ProbeContext,
    pid: int,
    table: ProcTable,
    view: DriverView,
    caller: dict[str, Any],
    users: dict[int, str | None],
    kind: str,
    own_cgroups: list[str],
    now_ms: float | None,
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
        "gpu_last_active_seconds": _seconds_since_us(
            listed.last_active_us if listed else None, view.samples_read_us
        ),
        "gpu_samples": "ok" if view.utilisation == "ok" and listed else None,
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
        argv = read_cmdline(ctx, pid)
    else:
        uid, user, argv = _psutil_owner(pid)
    cmdline = _shorten(argv) or f"[{stat.name}]"
    kernel_file = connection_file(argv)
    if kernel_file:
        row["kernel_file"] = kernel_file
    last_ran = last_ran_ms(ctx, pid) if now_ms is not None else None
    leader = table.stats.get(stat.pgid)
    row.update(
        manager=manager_of(read_cgroup(ctx, pid), parent_name, own_cgroups),
        cpu_idle_seconds=None
        if last_ran is None or now_ms is None
        else round(max(0.0, (now_ms - last_ran) / 1000.0), 2),
        io_bytes=read_io(ctx, pid),
        children=children_of(table, pid),
        sid=stat.sid,
        group_leader_gone=stat.pgid not in (0, pid) and leader is None,
    )
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


def _psutil_owner(pid: int) -> tuple[int | None, str | None, list[str]]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return None, proc.username(), list(proc.cmdline())
    except (psutil.Error, OSError):
        return None, None, []


def _seconds_since_us(stamp: int | None, now_us: int | None) -> float | None:
    if stamp is None or now_us is None:
        return None
    return round(max(0.0, (now_us - stamp) / 1_000_000), 1)


# -- observation (the fix only: it waits) -------------------------------------------------


def measure(ctx: ProbeContext, pids: list[int]) -> dict[int, dict[str, Any] | None]:
    """Counters of each process and its children now: CPU ticks, I/O bytes, state, identity.

    One pass over ``/proc/*/stat`` finds the children (``/proc/<pid>/task/*/children`` needs
    ``CONFIG_PROC_CHILDREN``, which many kernels lack).
    """
    if not ctx.platform.startswith("linux"):
        return {pid: _measure_psutil(pid) for pid in pids}
    stats: dict[int, ProcStat] = {}
    try:
        entries = os.listdir(ctx.path("/proc"))
    except OSError:
        entries = []
    for entry in entries:
        if entry.isdigit():
            stat = read_stat(ctx, int(entry))
            if stat is not None:
                stats[stat.pid] = stat
    kids: dict[int, list[int]] = {}
    for stat in stats.values():
        kids.setdefault(stat.ppid, []).append(stat.pid)
    result: dict[int, dict[str, Any] | None] = {}
    for pid in pids:
        stat = stats.get(pid)
        if stat is None:
            result[pid] = None
            continue
        children = sorted(kids.get(pid, ()))[:256]
        result[pid] = {
            "start_ticks": stat.start_ticks,
            "state": state_name(stat.state),
            "cpu_ticks": stat.cpu_ticks,
            "io_bytes": read_io(ctx, pid),
            "children": children,
            "children_cpu_ticks": sum(stats[kid].cpu_ticks for kid in children),
            "children_io_bytes": sum(read_io(ctx, kid) or 0 for kid in children),
        }
    return result


def _measure_psutil(pid: int) -> dict[str, Any] | None:
    """Windows and others: the same counters through psutil (ticks are milliseconds here)."""
    import psutil

    def counters(proc: Any) -> tuple[int, int]:
        times = proc.cpu_times()
        try:
            io = proc.io_counters()
            moved = int(io.read_bytes + io.write_bytes)
        except (psutil.Error, AttributeError, OSError):
            moved = 0
        return int((times.user + times.system) * _clock_ticks()), moved

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            ticks, moved = counters(proc)
            state = _psutil_state(proc.status())
            started = int(proc.create_time() * 1000)
        kids = proc.children()
    except (psutil.Error, OSError):
        return None
    child_ticks = child_io = 0
    for kid in kids[:256]:
        try:
            kid_ticks, kid_io = counters(kid)
        except (psutil.Error, OSError):
            continue
        child_ticks += kid_ticks
        child_io += kid_io
    return {
        "start_ticks": started,
        "state": state_name(state),
        "cpu_ticks": ticks,
        "io_bytes": moved,
        "children": sorted(k.pid for k in kids),
        "children_cpu_ticks": child_ticks,
        "children_io_bytes": child_io,
    }


def _clock_ticks() -> int:
    if sys.platform == "win32":
        return 100
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):
        return 100


def activity_between(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """What a process did between two measurements (CPU and I/O, its own and its children's)."""
    if before is None or after is None or before["start_ticks"] != after["start_ticks"]:
        return {"exited": True}
    ticks = _clock_ticks()
    io = None
    if before["io_bytes"] is not None and after["io_bytes"] is not None:
        io = max(0, after["io_bytes"] - before["io_bytes"])
    return {
        "exited": False,
        "state": after["state"],
        "cpu_seconds": round(max(0, after["cpu_ticks"] - before["cpu_ticks"]) / ticks, 3),
        "io_bytes": io,
        "children_cpu_seconds": round(
            max(0, after["children_cpu_ticks"] - before["children_cpu_ticks"]) / ticks, 3
        ),
        "children_io_bytes": max(0, after["children_io_bytes"] - before["children_io_bytes"]),
        "new_children": sorted(set(after["children"]) - set(before["children"])),
    }


def observe(
    ctx: ProbeContext,
    pids: list[int],
    seconds: float,
    *,
    deadline: float | None = None,
    use_nvml: bool = True,
) -> dict[int, dict[str, Any]]:
    """Watch ``pids`` for ``seconds``: CPU, I/O (theirs and their children's) and GPU samples.

    Returns pid -> ``{window_s, cpu_seconds, io_bytes, children_..., gpu_active, end}``;
    ``end`` holds the counters at the end of the window, for the re-check right before a
    signal (:func:`activity_since`).
    """
    if deadline is not None:
        seconds = max(0.0, min(seconds, deadline - time.monotonic()))
    started_us = int(time.time() * 1_000_000)
    start = measure(ctx, pids)
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        time.sleep(min(OBSERVE_STEP_S, max(0.0, seconds - (time.monotonic() - began))))
    window = round(time.monotonic() - began, 2)
    end = measure(ctx, pids)
    gpu = gpu_activity_since(ctx, started_us) if use_nvml else Unavailable("not asked")
    result: dict[int, dict[str, Any]] = {}
    for pid in pids:
        seen = activity_between(start[pid], end[pid])
        seen["window_s"] = window
        seen["since_us"] = started_us
        seen.update(_gpu_part(gpu, pid))
        seen["end"] = end[pid]
        result[pid] = seen
    return result


def _gpu_part(gpu: dict[int, int] | Unavailable, pid: int) -> dict[str, Any]:
    if isinstance(gpu, Unavailable):
        return {"gpu_active": None, "gpu_note": gpu.reason}
    return {"gpu_active": pid in gpu, "gpu_note": "nvmlDeviceGetProcessUtilization"}


def activity_since(
    ctx: ProbeContext, pid: int, seen: dict[str, Any], *, use_nvml: bool = True
) -> dict[str, Any]:
    """What ``pid`` did since its observation ended (the re-check right before a signal)."""
    now = activity_between(seen.get("end"), measure(ctx, [pid])[pid])
    since = seen.get("since_us")
    if use_nvml and isinstance(since, int):
        now.update(_gpu_part(gpu_activity_since(ctx, since), pid))
    else:
        now.update(gpu_active=None, gpu_note="not asked")
    return now
