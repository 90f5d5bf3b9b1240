"""What the NVIDIA tools say about GPU processes: NVML's lists, else ``nvidia-smi``'s table.

Both can be blind: WSL2 drivers list no processes, Windows WDDM never reports per-process
memory (NVML gives ``None``), and a container sees host PIDs it cannot map. Every blind spot
is kept as "unknown" (``None`` or an :class:`Unavailable`), never turned into zero.
"""

from __future__ import annotations

import time
from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.nvml import Nvml
from gpudoctor.probes.nvml import open_nvml
from gpudoctor.probes.nvml import text

MiB = 1024 * 1024
#: How far back NVML's per-process utilisation samples are read (the driver buffers them, so
#: reading needs no waiting; older samples may already have left the buffer).
UTILISATION_WINDOW_S = 20.0


class Listed:
    """One process as a driver tool lists it."""

    __slots__ = (
        "pid",
        "sources",
        "gpu_indices",
        "memory_bytes",
        "memory_known",
        "util_percent",
        "last_active_us",
        "name",
    )

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sources: set[str] = set()
        self.gpu_indices: set[int] = set()
        #: Bytes on the GPU, summed over devices; None when the tool would not say.
        self.memory_bytes: int | None = None
        self.memory_known = False
        #: Highest SM utilisation seen in the window; None when NVML has no samples API.
        self.util_percent: int | None = None
        #: Newest sample (µs since the epoch) showing any SM/memory/codec use; None if none.
        self.last_active_us: int | None = None
        self.name: str | None = None


class DriverView:
    """What NVML (or nvidia-smi) reported: status of each source, devices and processes."""

    __slots__ = (
        "nvml",
        "process_list",
        "nvidia_smi",
        "devices",
        "listed",
        "utilisation",
        "samples_read_us",
    )

    def __init__(self, nvml: Any = None) -> None:
        self.nvml = nvml
        self.process_list: Any = None
        self.nvidia_smi: Any = "not needed"
        self.devices: Any = []
        self.listed: dict[int, Listed] = {}
        #: Whether per-process utilisation samples could be read ("ok" or an Unavailable).
        self.utilisation: Any = None
        #: When the samples were read (µs since the epoch) and how far back they reach.
        self.samples_read_us: int | None = None


def nvml_view(ctx: ProbeContext) -> DriverView:
    """Compute and graphics process lists of every GPU, with memory and utilisation."""
    view = DriverView()
    if ctx.platform == "darwin":
        view.nvml = Unavailable("macOS has no NVIDIA CUDA driver")
        view.process_list = view.nvml
        view.devices = []
        return view
    session = open_nvml(ctx.nvml_module)
    if isinstance(session, Unavailable):
        view.nvml = view.process_list = view.devices = session
        return view
    view.nvml = "ok"
    try:
        _read_devices(session, view)
    finally:
        session.shutdown()
    return view


def _read_devices(session: Nvml, view: DriverView) -> None:
    count = session.call("nvmlDeviceGetCount")
    if isinstance(count, Unavailable):
        view.devices = view.process_list = count
        return
    list_errors: list[str] = []
    lists_ok = 0
    for index in range(count):
        handle = session.call("nvmlDeviceGetHandleByIndex", index)
        if isinstance(handle, Unavailable):
            view.devices.append({"index": index, "error": handle.reason})
            continue
        memory = session.call("nvmlDeviceGetMemoryInfo", handle)
        device: dict[str, Any] = {
            "index": index,
            "name": text(session.call("nvmlDeviceGetName", handle)),
            "total_bytes": memory if isinstance(memory, Unavailable) else int(memory.total),
            "used_bytes": memory if isinstance(memory, Unavailable) else int(memory.used),
        }
        view.devices.append(device)
        for kind, func in (
            ("nvml compute", "nvmlDeviceGetComputeRunningProcesses"),
            ("nvml graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
        ):
            procs = session.call(func, handle, versions=("_v3", "_v2"))
            if isinstance(procs, Unavailable):
                list_errors.append(f"GPU {index} {kind.split()[1]}: {procs.reason}")
                continue
            lists_ok += 1
            for item in procs or ():
                _add_listed(view, int(item.pid), kind, index, getattr(item, "usedGpuMemory", None))
        _read_utilisation(session, handle, view, index)
    if lists_ok:
        view.process_list = "ok"
    else:
        view.process_list = Unavailable("; ".join(list_errors) or "no GPU to list")


def _add_listed(view: DriverView, pid: int, source: str, index: int, memory: Any) -> None:
    row = view.listed.setdefault(pid, Listed(pid))
    row.sources.add(source)
    row.gpu_indices.add(index)
    if isinstance(memory, int) and memory >= 0 and memory < (1 << 62):
        row.memory_bytes = (row.memory_bytes or 0) + memory
        row.memory_known = True


def _read_utilisation(session: Nvml, handle: Any, view: DriverView, index: int) -> None:
    now_us = int(time.time() * 1_000_000)
    since = now_us - int(UTILISATION_WINDOW_S * 1_000_000)
    view.samples_read_us = now_us
    samples = _active_samples(session, handle, since)
    if isinstance(samples, Unavailable):
        if view.utilisation != "ok":
            view.utilisation = samples
        return
    view.utilisation = "ok"
    for row in view.listed.values():
        if index not in row.gpu_indices:
            continue
        sm, last = samples.get(row.pid, (0, None))
        row.util_percent = max(row.util_percent or 0, sm)
        if last is not None and (row.last_active_us is None or last > row.last_active_us):
            row.last_active_us = last


def _active_samples(
    session: Nvml, handle: Any, since_us: int
) -> dict[int, tuple[int, int | None]] | Unavailable:
    """pid -> (highest SM %, newest µs timestamp of a sample with any use) since ``since_us``."""
    samples = session.call("nvmlDeviceGetProcessUtilization", handle, since_us)
    if isinstance(samples, Unavailable):
        # NVML_ERROR_NOT_FOUND here means: no process used this GPU in the window.
        return {} if "not found" in samples.reason else samples
    found: dict[int, tuple[int, int | None]] = {}
    for sample in samples or ():
        pid = int(sample.pid)
        sm, last = found.get(pid, (0, None))
        busy = any(
            int(getattr(sample, name, 0) or 0) > 0
            for name in ("smUtil", "memUtil", "encUtil", "decUtil")
        )
        stamp = int(sample.timeStamp)
        if busy and (last is None or stamp > last):
            last = stamp
        found[pid] = (max(sm, int(sample.smUtil)), last)
    return found


def gpu_activity_since(ctx: ProbeContext, since_us: int) -> dict[int, int] | Unavailable:
    """pid -> newest µs timestamp with any GPU use after ``since_us``, over every GPU.

    Buffered samples, so this costs no waiting; the fix calls it after its observation window
    and again right before each signal.
    """
    session = open_nvml(ctx.nvml_module)
    if isinstance(session, Unavailable):
        return session
    try:
        count = session.call("nvmlDeviceGetCount")
        if isinstance(count, Unavailable):
            return count
        active: dict[int, int] = {}
        status: Unavailable | None = None
        for index in range(count):
            handle = session.call("nvmlDeviceGetHandleByIndex", index)
            if isinstance(handle, Unavailable):
                status = handle
                continue
            samples = _active_samples(session, handle, since_us)
            if isinstance(samples, Unavailable):
                status = samples
                continue
            for pid, (_sm, last) in samples.items():
                if last is not None:
                    active[pid] = max(active.get(pid, 0), last)
        if status is not None and not active:
            return status
        return active
    finally:
        session.shutdown()


def nvidia_smi_view(ctx: ProbeContext, view: DriverView) -> None:
    """Where NVML is absent (Windows without the DLL on the path), ask nvidia-smi instead."""
    exe = ctx.which("nvidia-smi") or ctx.which("nvidia-smi.exe")
    if exe is None:
        view.nvidia_smi = Unavailable("nvidia-smi is not on PATH")
        return
    try:
        result = ctx.run(
            [
                exe,
                "--query-compute-apps=pid,process_name,used_memory",
                "--format=csv,noheader,nounits",
            ],
            timeout=3.0,
        )
    except (CommandTimeout, OSError) as exc:
        view.nvidia_smi = Unavailable(f"nvidia-smi failed: {exc}")
        return
    if not result.ok:
        first = (result.stderr or result.stdout).strip().splitlines()
        view.nvidia_smi = Unavailable(
            f"nvidia-smi exited with {result.returncode}: {first[0] if first else ''}".strip()
        )
        return
    view.nvidia_smi = "ok"
    for row in parse_compute_apps(result.stdout):
        listed = view.listed.setdefault(row["pid"], Listed(row["pid"]))
        listed.sources.add("nvidia-smi")
        listed.name = listed.name or row["name"]
        if row["memory_bytes"] is not None:
            listed.memory_bytes = (listed.memory_bytes or 0) + row["memory_bytes"]
            listed.memory_known = True


def parse_compute_apps(output: str) -> list[dict[str, Any]]:
    """Rows of ``--query-compute-apps=pid,process_name,used_memory`` (CSV, MiB, no header)."""
    rows = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.split(", ")]
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        # A process name may itself contain commas: pid first, memory last.
        memory = parts[-1]
        rows.append(
            {
                "pid": int(parts[0]),
                "name": ", ".join(parts[1:-1]),
                "memory_bytes": int(memory) * MiB if memory.isdigit() else None,
            }
        )
    return rows
