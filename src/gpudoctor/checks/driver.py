"""Is there an NVIDIA driver, and can NVML talk to it?"""

from __future__ import annotations

from gpudoctor.api import evidence, fail, info, passed, remedy, skip
from gpudoctor.facts.model import Facts, Unavailable
from gpudoctor.registry import check


@check(
    "GD101",
    "nvidia-driver",
    summary="An NVIDIA driver is installed and NVML can query it",
    requires=("gpu",),
    tags=("driver",),
)
def nvidia_driver(facts: Facts):
    """Say plainly whether an NVIDIA GPU and driver were found, and why not."""
    gpu = facts["gpu"]
    host_kind = facts.get("host.kind")
    nvml = gpu.get("nvml")
    if host_kind == "macos":
        return skip(
            "macOS has no NVIDIA CUDA driver; Apple GPUs are used through MPS",
            evidence=[evidence("host", "macOS", "host probe")],
        )
    if nvml == "ok":
        devices = gpu.get("devices") or ()
        count = len(devices) if not isinstance(devices, Unavailable) else 0
        names = ", ".join(
            sorted(
                {
                    str(d.get("name"))
                    for d in devices
                    if (isinstance(d, dict) or hasattr(d, "get")) and "error" not in d
                }
            )
        )
        ev = [
            evidence("driver", gpu.get("driver_version"), "nvmlSystemGetDriverVersion"),
            evidence(
                "newest CUDA the driver supports",
                gpu.get("cuda_driver_version"),
                "nvmlSystemGetCudaDriverVersion",
            ),
            evidence("GPUs", f"{count} ({names})" if count else "0", "nvmlDeviceGetCount"),
        ]
        if count == 0:
            return info("The NVIDIA driver is loaded but lists no GPU", evidence=ev)
        verdicts = [
            passed(
                f"NVIDIA driver {gpu.get('driver_version')} with {count} GPU(s): {names}",
                evidence=ev,
            )
        ]
        verdicts.extend(_unreachable_gpus(devices))
        return verdicts
    reason = nvml.reason if isinstance(nvml, Unavailable) else str(nvml)
    signals = [s for s in (gpu.get("kernel_module"), *(gpu.get("device_nodes") or ())) if s]
    ev = [
        evidence("NVML", reason, "nvmlInit"),
        evidence(
            "kernel module", gpu.get("kernel_module") or "not loaded", "/proc/driver/nvidia/version"
        ),
        evidence("device nodes", ", ".join(gpu.get("device_nodes") or ()) or "none", "/dev"),
        evidence("nvidia-smi", gpu.get("nvidia_smi") or "not on PATH", "PATH"),
    ]
    if not signals and not gpu.get("nvidia_smi"):
        return info(
            "No NVIDIA GPU or driver found: training will run on the CPU",
            evidence=ev,
            remedies=[
                remedy(
                    "If this machine has an NVIDIA GPU, install NVIDIA's driver for it "
                    "(on WSL2, install the Windows driver only, never a Linux one)."
                ),
                remedy("If it has none, nothing is wrong: gpudoctor's GPU checks are skipped."),
            ],
        )
    return fail(
        f"An NVIDIA driver is present but NVML cannot use it: {reason}",
        evidence=ev,
        remedies=[
            remedy(
                "After a driver update the kernel module and the library differ until you reboot.",
                "sudo reboot",
                platforms=("linux",),
            ),
            remedy(
                "Check that nvidia-smi works; if it fails the same way, reinstall the driver.",
                "nvidia-smi",
            ),
        ],
    )


def _unreachable_gpus(devices):
    """A GPU NVML counts but cannot open (lost, needs reset) gets its own failure."""
    for device in devices:
        if not hasattr(device, "get") or "error" not in device:
            continue
        name = f"GPU{device.get('index')}"
        yield fail(
            f"{name} is listed by the driver but cannot be used: {device.get('error')}",
            subject=name,
            evidence=[evidence("NVML", device.get("error"), "nvmlDeviceGetHandleByIndex")],
            remedies=[
                remedy(
                    "Reboot; if the GPU stays lost, reseat it, check its power cables and "
                    "riser, and look for Xid 79 in the kernel log.",
                    "sudo dmesg -T | grep -i xid",
                    platforms=("linux",),
                ),
            ],
        )
