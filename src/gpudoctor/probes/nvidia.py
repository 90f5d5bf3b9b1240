"""NVIDIA driver and GPUs as NVML and the kernel see them.

Every NVML query goes through :class:`gpudoctor.probes.nvml.Nvml`, so a query the GPU or platform
does not support becomes an Unavailable that says so (never 0), and a hung query costs only
its own timeout. Units in the facts: bytes, watts, degrees Celsius, percent.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.nvml import Nvml
from gpudoctor.probes.nvml import open_nvml
from gpudoctor.probes.nvml import text

# nvml.h enum values (stable across driver releases), so any bindings module will do.
TEMPERATURE_GPU = 0
THRESHOLD_SHUTDOWN = 0
THRESHOLD_SLOWDOWN = 1
THRESHOLD_GPU_MAX = 3
ERROR_CORRECTED = 0
ERROR_UNCORRECTED = 1
VOLATILE_ECC = 0
AGGREGATE_ECC = 1
RETIRED_SINGLE_BIT = 0
RETIRED_DOUBLE_BIT = 1

#: Clock-event ("throttle") reason bits, nvml.h ``nvmlClocksEventReason*``.
CLOCK_EVENT_REASONS = {
    0x1: "GpuIdle",
    0x2: "ApplicationsClocksSetting",
    0x4: "SwPowerCap",
    0x8: "HwSlowdown",
    0x10: "SyncBoost",
    0x20: "SwThermalSlowdown",
    0x40: "HwThermalSlowdown",
    0x80: "HwPowerBrakeSlowdown",
    0x100: "DisplayClockSetting",
    0x200: "BoardLimit",
    0x400: "Reliability",
}
IDLE_BIT = 0x1

#: nvml.h ``nvmlMemory_v2``: the struct version that splits the driver's reserve from "used".
MEMORY_V2 = 0x02000028

COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}
DRIVER_MODELS = {0: "WDDM", 1: "TCC", 2: "MCDM"}


def _kernel_module(ctx: ProbeContext) -> str | None:
    try:
        first = ctx.read_text("/proc/driver/nvidia/version", max_bytes=4096).splitlines()[0]
    except (OSError, IndexError):
        return None
    return first.strip() or None


def _device_nodes(ctx: ProbeContext) -> list[str]:
    if not ctx.platform.startswith("linux"):
        return []
    pattern = str(ctx.path("/dev")) + "/"
    nodes = glob.glob(pattern + "nvidia*") + glob.glob(pattern + "dxg")
    return sorted("/dev/" + n[len(pattern) :] for n in nodes)


#: PCI vendor ids: NVIDIA, and the makers of integrated GPUs in hybrid laptops.
NVIDIA_VENDOR, IGPU_VENDORS = "0x10de", ("0x8086", "0x1002")
PRIME_TIMEOUT = 1.5


def _read(ctx: ProbeContext, path: str) -> str:
    try:
        return ctx.read_text(path, max_bytes=256).strip()
    except OSError:
        return ""


def pci_display_devices(ctx: ProbeContext) -> dict[str, Any]:
    """NVIDIA display devices on the PCI bus with their runtime power state, and whether an
    integrated GPU sits beside them (hybrid graphics: PRIME/Optimus)."""
    root = ctx.path("/sys/bus/pci/devices")
    nvidia: list[dict[str, Any]] = []
    integrated = False
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return {"pci_devices": [], "integrated_gpu": None}
    for entry in entries[:512]:
        base = f"/sys/bus/pci/devices/{entry}"
        if not _read(ctx, f"{base}/class").startswith("0x03"):
            continue
        vendor = _read(ctx, f"{base}/vendor")
        if vendor in IGPU_VENDORS:
            integrated = True
        if vendor != NVIDIA_VENDOR:
            continue
        try:
            driver = (
                os.path.basename(os.path.realpath(ctx.path(f"{base}/driver")))
                if ctx.exists(f"{base}/driver")
                else None
            )
        except OSError:
            driver = None
        nvidia.append(
            {
                "address": entry,
                "runtime_status": _read(ctx, f"{base}/power/runtime_status") or None,
                "power_control": _read(ctx, f"{base}/power/control") or None,
                "driver": driver,
            }
        )
    return {"pci_devices": nvidia, "integrated_gpu": integrated}


def prime_mode(ctx: ProbeContext) -> dict[str, Any] | None:
    """``prime-select query`` (Ubuntu's PRIME switch): nvidia, intel or on-demand."""
    program = ctx.which("prime-select")
    if not program:
        return None
    try:
        result = ctx.run([program, "query"], timeout=PRIME_TIMEOUT)
    except CommandTimeout:
        return {"mode": None, "error": f"prime-select did not answer within {PRIME_TIMEOUT:g} s"}
    except OSError as exc:
        return {"mode": None, "error": str(exc)}
    mode = result.stdout.strip().splitlines()[-1].strip() if result.stdout.strip() else None
    return {"mode": mode}


def _map(value: Any, func: Any) -> Any:
    return value if isinstance(value, Unavailable) else func(value)


def _bool(value: Any) -> Any:
    return _map(value, lambda v: bool(int(v)))


def _watts(milliwatts: Any) -> Any:
    return _map(milliwatts, lambda v: round(int(v) / 1000.0, 1))


def clock_event_reasons(mask: Any) -> Any:
    """Decode the reason mask; the idle bit is dropped because idle clocks are no problem."""
    if isinstance(mask, Unavailable):
        return mask
    mask = int(mask)
    active = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit and bit != IDLE_BIT]
    return {"mask": mask, "idle": bool(mask & IDLE_BIT), "active": active}


def _temperature(nvml: Nvml, handle: Any) -> dict[str, Any]:
    return {
        "current_c": nvml.call("nvmlDeviceGetTemperature", handle, TEMPERATURE_GPU),
        "slowdown_c": nvml.call("nvmlDeviceGetTemperatureThreshold", handle, THRESHOLD_SLOWDOWN),
        "shutdown_c": nvml.call("nvmlDeviceGetTemperatureThreshold", handle, THRESHOLD_SHUTDOWN),
        "gpu_max_c": nvml.call("nvmlDeviceGetTemperatureThreshold", handle, THRESHOLD_GPU_MAX),
    }


def _power(nvml: Nvml, handle: Any) -> dict[str, Any]:
    return {
        "draw_w": _watts(nvml.call("nvmlDeviceGetPowerUsage", handle)),
        "limit_w": _watts(nvml.call("nvmlDeviceGetEnforcedPowerLimit", handle)),
        "default_limit_w": _watts(nvml.call("nvmlDeviceGetPowerManagementDefaultLimit", handle)),
    }


def _pcie(nvml: Nvml, handle: Any) -> dict[str, Any]:
    return {
        "current_generation": nvml.call("nvmlDeviceGetCurrPcieLinkGeneration", handle),
        "max_generation": nvml.call("nvmlDeviceGetMaxPcieLinkGeneration", handle),
        "gpu_max_generation": nvml.call("nvmlDeviceGetGpuMaxPcieLinkGeneration", handle),
        "current_width": nvml.call("nvmlDeviceGetCurrPcieLinkWidth", handle),
        "max_width": nvml.call("nvmlDeviceGetMaxPcieLinkWidth", handle),
    }


def _ecc(nvml: Nvml, handle: Any) -> dict[str, Any]:
    mode = nvml.call("nvmlDeviceGetEccMode", handle)
    if isinstance(mode, Unavailable):
        return {"enabled": mode}
    facts: dict[str, Any] = {"enabled": bool(mode[0]), "pending": bool(mode[1])}
    for counter, counter_name in ((VOLATILE_ECC, "volatile"), (AGGREGATE_ECC, "aggregate")):
        for kind, kind_name in ((ERROR_CORRECTED, "corrected"), (ERROR_UNCORRECTED, "uncorrected")):
            facts[f"{counter_name}_{kind_name}"] = nvml.call(
                "nvmlDeviceGetTotalEccErrors", handle, kind, counter
            )
    return facts


def _retired_pages(nvml: Nvml, handle: Any) -> Any:
    single = nvml.call("nvmlDeviceGetRetiredPages", handle, RETIRED_SINGLE_BIT)
    if isinstance(single, Unavailable):
        return single
    double = nvml.call("nvmlDeviceGetRetiredPages", handle, RETIRED_DOUBLE_BIT)
    return {
        "single_bit": len(single),
        "double_bit": _map(double, len),
        "pending": _bool(nvml.call("nvmlDeviceGetRetiredPagesPendingStatus", handle)),
    }


def _remapped_rows(nvml: Nvml, handle: Any) -> Any:
    rows = nvml.call("nvmlDeviceGetRemappedRows", handle)
    if isinstance(rows, Unavailable):
        return rows
    correctable, uncorrectable, pending, failure = rows
    return {
        "correctable": int(correctable),
        "uncorrectable": int(uncorrectable),
        "pending": bool(pending),
        "failure": bool(failure),
    }


def _pair(value: Any, names: dict[int, str] | None = None) -> Any:
    """``[current, pending]`` -> ``{"current": ..., "pending": ...}`` (named or bool)."""

    def convert(pair: Any) -> dict[str, Any]:
        current, pending = int(pair[0]), int(pair[1])
        if names is None:
            return {"current": bool(current), "pending": bool(pending)}
        return {"current": names.get(current, str(current)), "pending": names.get(pending, "?")}

    return _map(value, convert)


def _memory_info(nvml: Nvml, handle: Any) -> Any:
    """Memory info v2 (``used`` without the driver's reserve) where the bindings have it."""
    version = getattr(nvml.module, "nvmlMemory_v2", MEMORY_V2)
    memory = nvml.call("nvmlDeviceGetMemoryInfo", handle, version)
    if not isinstance(memory, Unavailable) and hasattr(memory, "reserved"):
        return memory
    return nvml.call("nvmlDeviceGetMemoryInfo", handle)


def _device(nvml: Nvml, index: int, platform: str) -> dict[str, Any]:
    handle = nvml.call("nvmlDeviceGetHandleByIndex", index)
    if isinstance(handle, Unavailable):
        return {"index": index, "error": handle.reason}
    memory = _memory_info(nvml, handle)
    util = nvml.call("nvmlDeviceGetUtilizationRates", handle)
    capability = nvml.call("nvmlDeviceGetCudaComputeCapability", handle)
    reasons = nvml.call("nvmlDeviceGetCurrentClocksEventReasons", handle)
    if isinstance(reasons, Unavailable) and "not in these NVML bindings" in reasons.reason:
        reasons = nvml.call("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
    facts: dict[str, Any] = {
        "index": index,
        "name": text(nvml.call("nvmlDeviceGetName", handle)),
        "uuid": text(nvml.call("nvmlDeviceGetUUID", handle)),
        "compute_capability": _map(capability, lambda c: f"{c[0]}.{c[1]}"),
        "memory_total_bytes": _map(memory, lambda m: int(m.total)),
        "memory_used_bytes": _map(memory, lambda m: int(m.used)),
        # v2 only: what the driver keeps for itself (v1 counts it as "used"); an idle 80 GB
        # GPU shows ~0.5-1 GiB used under v1 with no process at all.
        "memory_reserved_bytes": _map(
            memory,
            lambda m: (
                int(m.reserved)
                if hasattr(m, "reserved")
                else Unavailable("NVML memory info v1 only (no reserved field)")
            ),
        ),
        "utilization_gpu_percent": _map(util, lambda u: int(u.gpu)),
        "utilization_memory_percent": _map(util, lambda u: int(u.memory)),
        "temperature": _temperature(nvml, handle),
        "power": _power(nvml, handle),
        "clock_event_reasons": clock_event_reasons(reasons),
        "pcie": _pcie(nvml, handle),
        "ecc": _ecc(nvml, handle),
        "retired_pages": _retired_pages(nvml, handle),
        "remapped_rows": _remapped_rows(nvml, handle),
        "persistence_mode": _bool(nvml.call("nvmlDeviceGetPersistenceMode", handle)),
        "compute_mode": _map(
            nvml.call("nvmlDeviceGetComputeMode", handle), lambda m: COMPUTE_MODES.get(m, str(m))
        ),
        "mig_mode": _pair(nvml.call("nvmlDeviceGetMigMode", handle)),
    }
    if platform == "win32":
        model = nvml.call("nvmlDeviceGetDriverModel", handle, versions=("_v2",))
        facts["driver_model"] = _pair(model, DRIVER_MODELS)
    return facts


def _devices(nvml: Nvml, platform: str) -> list[dict[str, Any]] | Unavailable:
    count = nvml.call("nvmlDeviceGetCount")
    if isinstance(count, Unavailable):
        return count
    return [_device(nvml, index, platform) for index in range(count)]


def cuda_version_text(value: Any) -> Any:
    """NVML's ``12040`` -> ``"12.4"`` (the newest CUDA this driver supports)."""
    return _map(value, lambda v: f"{int(v) // 1000}.{(int(v) % 1000) // 10}")


def nvml_facts(nvml: Nvml, platform: str) -> dict[str, Any]:
    """Everything the ``gpu`` section reads through an open NVML session."""
    cuda = nvml.call("nvmlSystemGetCudaDriverVersion", versions=("_v2",))
    return {
        "nvml": "ok",
        "driver_version": text(nvml.call("nvmlSystemGetDriverVersion")),
        "cuda_driver_version": cuda_version_text(cuda),
        "devices": _devices(nvml, platform),
    }


@probe("gpu", timeout=4.5)
def probe_gpu(ctx: ProbeContext) -> dict[str, Any]:
    """Whether an NVIDIA driver is present, its versions, and the health of each GPU."""
    nvidia_smi = ctx.which("nvidia-smi") or ctx.which("nvidia-smi.exe")
    facts: dict[str, Any] = {
        "kernel_module": _kernel_module(ctx),
        "device_nodes": _device_nodes(ctx),
        "nvidia_smi": nvidia_smi,
    }
    if ctx.platform == "darwin":
        facts.update(nvml=Unavailable("macOS has no NVIDIA CUDA driver"), devices=[])
        return facts
    session = open_nvml(ctx.nvml_module)
    if isinstance(session, Unavailable):
        facts.update(
            nvml=session, driver_version=session, cuda_driver_version=session, devices=session
        )
        if ctx.platform.startswith("linux"):
            # Why there is no usable driver: a GPU on the bus, powered off, PRIME switched.
            facts.update(pci_display_devices(ctx))
            facts["prime"] = prime_mode(ctx)
        return facts
    try:
        facts.update(nvml_facts(session, ctx.platform))
    finally:
        session.shutdown()
    return facts
