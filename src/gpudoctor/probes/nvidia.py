"""NVIDIA driver and GPUs as NVML and the kernel see them."""

from __future__ import annotations

import glob
from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.nvml import Nvml, open_nvml, text
from gpudoctor.probes._base import ProbeContext, probe


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


def _devices(nvml: Nvml) -> list[dict[str, Any]] | Unavailable:
    count = nvml.call("nvmlDeviceGetCount")
    if isinstance(count, Unavailable):
        return count
    devices = []
    for index in range(count):
        handle = nvml.call("nvmlDeviceGetHandleByIndex", index)
        if isinstance(handle, Unavailable):
            devices.append({"index": index, "error": handle.reason})
            continue
        memory = nvml.call("nvmlDeviceGetMemoryInfo", handle)
        devices.append(
            {
                "index": index,
                "name": text(nvml.call("nvmlDeviceGetName", handle)),
                "memory_total_bytes": memory if isinstance(memory, Unavailable) else memory.total,
                "memory_used_bytes": memory if isinstance(memory, Unavailable) else memory.used,
            }
        )
    return devices


@probe("gpu", timeout=4.0)
def probe_gpu(ctx: ProbeContext) -> dict[str, Any]:
    """Whether an NVIDIA driver is present, its versions, and the GPUs NVML lists."""
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
        return facts
    try:
        cuda = session.call("nvmlSystemGetCudaDriverVersion", versions=("_v2",))
        facts.update(
            nvml="ok",
            driver_version=text(session.call("nvmlSystemGetDriverVersion")),
            cuda_driver_version=cuda
            if isinstance(cuda, Unavailable)
            else f"{cuda // 1000}.{(cuda % 1000) // 10}",
            devices=_devices(session),
        )
    finally:
        session.shutdown()
    return facts
