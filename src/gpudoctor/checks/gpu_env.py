"""GPU-side environment: device order, CUDA after suspend, laptop power, Windows TDR, sysmem.

Facts: ``gpu`` (NVML), ``env`` (allow-listed variables), ``power`` (battery, power plan, TDR,
suspend counters) and, under ``--deep``, ``torch_runtime`` (a child that initialised CUDA).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version

from gpudoctor.api import Facts
from gpudoctor.api import Verdict
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.checks.gpu import gpus
from gpudoctor.checks.gpu import label


def _env(facts: Facts) -> Mapping[str, str]:
    variables = facts.get("env.variables")
    return variables if isinstance(variables, Mapping) else {}


def _capability(device: Mapping[str, Any]) -> tuple[int, int]:
    text = str(device.get("compute_capability") or "0.0")
    major, _, minor = text.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else (0, 0)


def fastest_first(devices: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """CUDA's default order (``FASTEST_FIRST``), approximated: newest architecture, then
    larger memory first; ties keep PCI order. NVIDIA documents only "a simple heuristic"."""
    return sorted(
        devices,
        key=lambda d: (_capability(d), int(d.get("memory_total_bytes") or 0)),
        reverse=True,
    )


@check(
    "GD108",
    "cuda-device-order",
    summary="CUDA numbers the GPUs the way nvidia-smi does (CUDA_DEVICE_ORDER=PCI_BUS_ID)",
    requires=("gpu.devices", "env.variables"),
    tags=("gpu", "cuda", "env"),
)
def cuda_device_order(facts: Facts) -> Verdict:
    """With mixed GPUs, CUDA's default order puts the fastest first; nvidia-smi uses PCI order."""
    devices = gpus(facts)
    if len(devices) < 2:
        return skip("Fewer than two GPUs: there is no order to confuse")
    env = _env(facts)
    order = env.get("CUDA_DEVICE_ORDER", "")
    ev = [
        evidence("CUDA_DEVICE_ORDER", order or "unset (FASTEST_FIRST)", "environment"),
        evidence(
            "GPUs in nvidia-smi order",
            "; ".join(f"{d.get('index')}: {d.get('name')}" for d in devices),
            "NVML (PCI bus order)",
        ),
    ]
    if order.strip().upper() == "PCI_BUS_ID":
        return passed("CUDA_DEVICE_ORDER=PCI_BUS_ID: CUDA and nvidia-smi agree", evidence=ev)
    cuda_order = fastest_first(devices)
    if [d.get("index") for d in cuda_order] == [d.get("index") for d in devices]:
        return passed(
            "All GPUs are alike or already fastest-first: CUDA's order matches nvidia-smi's",
            evidence=ev,
        )
    mapping = [
        f"cuda:{i} = {d.get('name')} (nvidia-smi {d.get('index')})"
        for i, d in enumerate(cuda_order)
    ]
    ev.append(evidence("likely CUDA order", "; ".join(mapping), "FASTEST_FIRST heuristic"))
    visible = env.get("CUDA_VISIBLE_DEVICES", "")
    tokens = [t.strip() for t in visible.split(",") if t.strip()]
    meant = [
        f"{t} -> {cuda_order[int(t)].get('name')} (nvidia-smi {cuda_order[int(t)].get('index')})"
        for t in tokens
        if t.isdigit() and int(t) < len(cuda_order)
    ]
    if meant:
        ev.append(evidence("CUDA_VISIBLE_DEVICES", "; ".join(meant), "what each index selects"))
    title = (
        "Mixed GPUs and CUDA_DEVICE_ORDER unset: CUDA numbers the fastest GPU first, so cuda:N "
        "and nvidia-smi's GPU N are different cards"
    )
    if meant:
        title += f"; CUDA_VISIBLE_DEVICES={visible} selects {', '.join(meant)}"
    return warn(
        title,
        evidence=ev,
        remedies=[
            remedy(
                "Make CUDA use nvidia-smi's numbering (set it where training starts, before "
                "CUDA_VISIBLE_DEVICES is read), or select GPUs by UUID.",
                "export CUDA_DEVICE_ORDER=PCI_BUS_ID",
                "nvidia-smi -L",
                platforms=("linux", "wsl", "macos"),
            ),
            remedy(
                "On Windows:",
                "setx CUDA_DEVICE_ORDER PCI_BUS_ID",
                platforms=("windows",),
            ),
        ],
    )


@check(
    "GD109",
    "cuda-after-resume",
    summary="CUDA initialises (it can break after suspend/resume while NVML still works)",
    requires=("torch_runtime.cuda_init", "gpu.devices"),
    uses=(
        "torch_runtime.cuda",
        "torch_runtime.cuda_error",
        "torch_runtime.import_error",
        "power.suspend",
    ),
    tags=("gpu", "cuda", "driver"),
    deep=True,
)
def cuda_after_resume(facts: Facts) -> Verdict:
    """The child of --deep initialised CUDA; a failure after a resume is the nvidia_uvm bug."""
    state = facts.get("torch_runtime.cuda_init")
    error = facts.get("torch_runtime.cuda_error")
    if not gpus(facts):
        return skip("NVML lists no GPU: GD101 covers a missing driver")
    if facts.get("torch_runtime.import_error"):
        return skip(f"torch could not be imported: {facts.get('torch_runtime.import_error')}")
    if not facts.get("torch_runtime.cuda"):
        return skip("torch is not a CUDA build, so it cannot initialise CUDA (GD201)")
    if state == "ok":
        return passed("CUDA initialised in a child process")
    suspends = facts.get("power.suspend.successful_suspends")
    ev = [
        evidence("CUDA initialisation", f"{state}: {error}", "torch.cuda.init() in a child"),
        evidence("NVML", f"{len(gpus(facts))} GPU(s) answer", "NVML"),
        evidence("suspends since boot", suspends, "/sys/power/suspend_stats/success"),
    ]
    reload = remedy(
        "Reload the unified-memory module (stop GPU programs first), or reboot.",
        "sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm",
        platforms=("linux",),
    )
    keep = remedy(
        "To keep it from recurring, let the driver save video memory across suspend.",
        "sudo systemctl enable nvidia-suspend.service nvidia-resume.service",
        platforms=("linux",),
    )
    if isinstance(suspends, int) and suspends > 0:
        return fail(
            f"CUDA fails to initialise ({error}) while NVML works, and the system has resumed "
            f"from suspend {suspends} time(s) since boot: the classic 'CUDA unknown error' "
            "after resume",
            evidence=ev,
            remedies=[reload, keep],
        )
    if state == "hung":
        return fail(f"Initialising CUDA hung: {error}", evidence=ev, remedies=[reload])
    return warn(
        f"CUDA fails to initialise ({error}) while NVML works",
        evidence=ev,
        remedies=[reload],
    )


#: A cap below this share of the default limit is "well below" (laptops' Battery Boost and
#: power modes cut to roughly half).
CAP_SHARE = 0.75


@check(
    "GD110",
    "laptop-power-limits",
    summary="Not on battery, not in a power-saving plan, no GPU power cap far below default",
    requires=("gpu.devices", "power.battery"),
    uses=("power.power_plan",),
    tags=("gpu", "performance", "laptop"),
)
def laptop_power_limits(facts: Facts) -> Verdict:
    """Battery, a power-saver plan or a low cap makes training several times slower."""
    battery = facts.get("power.battery")
    plan = facts.get("power.power_plan")
    problems: list[str] = []
    ev: list[Any] = []
    if isinstance(battery, Mapping):
        state = "plugged in" if battery.get("plugged") else "on battery"
        ev.append(evidence("battery", f"{battery.get('percent')}%, {state}", "psutil"))
        if battery.get("plugged") is False:
            problems.append("running on battery (the GPU's power limit drops)")
    if isinstance(plan, Mapping):
        ev.append(evidence("power plan", plan.get("name"), "powercfg /getactivescheme"))
        if str(plan.get("guid")) == "a1841308-3541-4fab-bc81-f71556f20b4a":
            problems.append(f"the power plan is '{plan.get('name')}' (Power saver)")
    for device in gpus(facts):
        power = device.get("power")
        if not isinstance(power, Mapping):
            continue
        limit, default = power.get("limit_w"), power.get("default_limit_w")
        if isinstance(limit, (int, float)) and isinstance(default, (int, float)) and default:
            ev.append(
                evidence(
                    f"{label(device)} power limit",
                    f"{limit:g} W of {default:g} W default",
                    "nvmlDeviceGetEnforcedPowerLimit, nvmlDeviceGetPowerManagementDefaultLimit",
                )
            )
            if limit < CAP_SHARE * default:
                problems.append(
                    f"{label(device)} is capped at {limit:g} W, {limit / default:.0%} of its "
                    f"{default:g} W default"
                )
    if battery is None and not problems:
        return passed("No battery: a desktop or server", evidence=ev)
    if not problems:
        return passed("Plugged in, no power-saving plan, GPU power limits at default", evidence=ev)
    return warn(
        "Training will run slowly: " + "; ".join(problems),
        evidence=ev,
        remedies=[
            remedy("Plug the laptop in and choose the vendor's performance mode."),
            remedy(
                "Windows: switch to the Balanced or High performance plan.",
                "powercfg /setactive SCHEME_BALANCED",
                platforms=("windows",),
            ),
            remedy(
                "If the cap was set by hand, restore the default limit.",
                "sudo nvidia-smi -pl <default watts>",
                platforms=("linux",),
            ),
        ],
    )


#: Windows' TDR delay when the registry holds no TdrDelay value (seconds).
DEFAULT_TDR_DELAY = 2


@check(
    "GD111",
    "windows-tdr-delay",
    summary="The Windows TDR delay lets long GPU kernels finish",
    requires=("power.tdr",),
    tags=("windows", "gpu", "driver"),
)
def windows_tdr_delay(facts: Facts) -> Verdict:
    """A kernel running longer than TdrDelay makes Windows reset the GPU (display GPUs)."""
    tdr = facts.get("power.tdr")
    if not isinstance(tdr, Mapping):
        return skip(f"TDR settings not read: {tdr}")
    delay = tdr.get("delay_s")
    level = tdr.get("level")
    ev = [
        evidence(
            "TdrDelay", "unset (2 s)" if delay is None else f"{delay} s", str(tdr.get("source"))
        ),
        evidence(
            "TdrLevel", "unset (3: recover)" if level is None else level, str(tdr.get("source"))
        ),
    ]
    if level == 0:
        return passed("TDR detection is off (TdrLevel=0)", evidence=ev)
    effective = DEFAULT_TDR_DELAY if delay is None else int(delay)
    if effective >= 10:
        return passed(f"TDR delay is {effective} s", evidence=ev)
    return info(
        f"Windows resets a GPU whose kernel runs longer than {effective} s (TDR): a long kernel "
        "on a display GPU ends with 'CUDA error: the launch timed out and was terminated' or "
        "a driver reset",
        evidence=ev,
        remedies=[
            remedy(
                "Raise the delay in an elevated prompt, then reboot (keep TDR on).",
                'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Control\\GraphicsDrivers" '
                "/v TdrDelay /t REG_DWORD /d 60 /f",
                platforms=("windows", "wsl"),
            )
        ],
    )


#: First driver with the "CUDA - Sysmem Fallback Policy" setting (NVIDIA, driver 536.40).
SYSMEM_FALLBACK_DRIVER = "536.40"
#: Share of GPU memory in use above which the fallback is likely active.
FULL_SHARE = 0.95


@check(
    "GD112",
    "sysmem-fallback",
    summary="Windows drivers do not silently spill GPU memory into system RAM",
    requires=("host.kind", "gpu.devices", "gpu.driver_version"),
    uses=("power.sysmem_fallback",),
    tags=("windows", "gpu", "memory", "performance"),
)
def sysmem_fallback(facts: Facts) -> Verdict:
    """With VRAM full, Windows drivers >= 536.40 use shared system memory instead of OOM."""
    if facts.get("host.kind") not in ("windows", "wsl2"):
        return skip("Sysmem fallback exists only in Windows drivers (and WSL2 on them)")
    try:
        new_enough = Version(str(facts.get("gpu.driver_version"))) >= Version(
            SYSMEM_FALLBACK_DRIVER
        )
    except InvalidVersion:
        return skip("Driver version unreadable")
    if not new_enough:
        return passed("This driver predates sysmem fallback: a full GPU raises out-of-memory")
    policy = facts.get("power.sysmem_fallback")
    full = []
    for device in gpus(facts):
        used, total = device.get("memory_used_bytes"), device.get("memory_total_bytes")
        if (
            isinstance(used, int)
            and isinstance(total, int)
            and total
            and used >= FULL_SHARE * total
        ):
            full.append(f"{label(device)} {used / total:.0%} used")
    ev = [
        evidence("driver", facts.get("gpu.driver_version"), "NVML"),
        evidence("sysmem fallback policy", str(policy), "NVIDIA Control Panel setting"),
    ]
    if not full:
        return skip(
            "GPU memory is not full now; the fallback policy itself cannot be read "
            "(NVIDIA Control Panel > Manage 3D settings > CUDA - Sysmem Fallback Policy)",
            evidence=ev,
        )
    ev.append(evidence("GPU memory", ", ".join(full), "NVML"))
    return info(
        "GPU memory is full and this driver may be spilling into shared system memory "
        "(sysmem fallback): training keeps running but several times slower instead of "
        "raising out-of-memory",
        evidence=ev,
        remedies=[
            remedy(
                "To get a clear out-of-memory error instead, set NVIDIA Control Panel > Manage "
                "3D settings > CUDA - Sysmem Fallback Policy to 'Prefer No Sysmem Fallback' "
                "(globally or for python.exe), then reduce the batch size until it fits.",
                platforms=("windows", "wsl"),
            )
        ],
    )
