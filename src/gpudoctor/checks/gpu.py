"""GD1xx: the NVIDIA driver and the health of each GPU.

Facts come from NVML through the ``gpu`` probe and from the kernel log. A fact NVML did not
support is Unavailable, and a check that needs it says "skip" for that GPU, never "pass".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import cast

from gpudoctor.api import Severity
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import verdict
from gpudoctor.api import warn
from gpudoctor.checks.xid_codes import describe_xid
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import Unavailable
from gpudoctor.model import Verdict

# -- the driver ---------------------------------------------------------------------------


@check(
    "GD101",
    "nvidia-driver",
    summary="An NVIDIA driver is installed and NVML can query it",
    requires=("gpu",),
    uses=("host.kind",),
    tags=("driver",),
)
def nvidia_driver(facts: Facts) -> Verdict | list[Verdict]:
    """Say plainly whether an NVIDIA GPU and driver were found, and why not."""
    gpu = facts["gpu"]
    if not isinstance(gpu, Mapping):
        return skip(f"GPU facts unavailable: {gpu}")
    nvml = gpu.get("nvml")
    if nvml == "ok":
        # What the pass says comes from NVML alone; the host kind only shapes remedies.
        return _driver_ok(gpu, facts)
    host_kind = facts.get("host.kind")
    if host_kind == "macos":
        return skip(
            "macOS has no NVIDIA CUDA driver; Apple GPUs are used through MPS",
            evidence=[evidence("host", "macOS", "host probe")],
        )
    in_wsl = str(host_kind).startswith("wsl")
    reason = nvml.reason if isinstance(nvml, Unavailable) else str(nvml)
    pci = [d for d in gpu.get("pci_devices") or () if isinstance(d, Mapping)]
    signals = [s for s in (gpu.get("kernel_module"), *(gpu.get("device_nodes") or ())) if s]
    ev = [
        evidence("NVML", reason, "nvmlInit"),
        evidence(
            "kernel module", gpu.get("kernel_module") or "not loaded", "/proc/driver/nvidia/version"
        ),
        evidence("device nodes", ", ".join(gpu.get("device_nodes") or ()) or "none", "/dev"),
        evidence("nvidia-smi", gpu.get("nvidia_smi") or "not on PATH", "PATH"),
    ]
    ev.extend(_pci_evidence(gpu, pci))
    if _hung(reason):
        return verdict(
            Severity.ERROR,
            f"The NVIDIA driver did not answer: {reason}. A hang is a driver fault, not a "
            "missing GPU",
            evidence=ev,
            remedies=_hang_remedies(in_wsl),
        )
    if pci and not in_wsl and not gpu.get("kernel_module"):
        return _gpu_without_driver(gpu, pci, reason, ev)
    if not signals and not gpu.get("nvidia_smi") and not pci:
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
    if in_wsl:
        return fail(
            f"WSL2 passes the GPU through, but NVML cannot use it: {reason}",
            evidence=ev,
            remedies=_wsl_driver_remedies(),
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


def _hung(reason: str) -> bool:
    return "did not return" in reason or "hung" in reason


def _hang_remedies(in_wsl: bool) -> list[Any]:
    if in_wsl:
        return [
            remedy(
                "Restart WSL from Windows; if it hangs again, update or reinstall the NVIDIA "
                "driver on Windows (WSL uses the Windows driver) and reboot Windows.",
                "wsl --shutdown",
                platforms=("windows",),
            )
        ]
    return [
        remedy(
            "See whether nvidia-smi hangs too and what the driver logged; a stuck driver needs "
            "the GPU's processes ended and usually a reboot.",
            "timeout 10 nvidia-smi",
            "sudo dmesg -T | grep -iE 'nvrm|xid'",
            platforms=("linux",),
        )
    ]


def _wsl_driver_remedies() -> list[Any]:
    """Inside WSL the driver is the Windows one: no Linux reboot, no Linux driver."""
    return [
        remedy(
            "Update the NVIDIA driver on Windows (GeForce/Studio or the laptop maker's), then "
            "restart WSL; never install a Linux NVIDIA driver inside WSL (see GD507).",
            "wsl --update",
            "wsl --shutdown",
            platforms=("windows",),
        ),
        remedy(
            "Check the GPU from Windows first: if nvidia-smi fails there too, the Windows "
            "driver is the problem.",
            "nvidia-smi",
            platforms=("windows",),
        ),
    ]


def _pci_evidence(gpu: Mapping[str, Any], pci: list[Mapping[str, Any]]) -> list[Any]:
    ev = []
    for device in pci:
        state = device.get("runtime_status") or "unknown"
        ev.append(
            evidence(
                f"NVIDIA PCI device {device.get('address')}",
                f"power state {state}, driver {device.get('driver') or 'none bound'}",
                "/sys/bus/pci/devices",
            )
        )
    prime = gpu.get("prime")
    if isinstance(prime, Mapping) and prime.get("mode"):
        ev.append(evidence("prime-select", prime.get("mode"), "prime-select query"))
    return ev


def _gpu_without_driver(
    gpu: Mapping[str, Any], pci: list[Mapping[str, Any]], reason: str, ev: list[Any]
) -> Verdict:
    """An NVIDIA GPU on the PCI bus with no driver: PRIME/Optimus off, or none installed."""
    prime = gpu.get("prime")
    mode = str(prime.get("mode")) if isinstance(prime, Mapping) and prime.get("mode") else ""
    hybrid = bool(gpu.get("integrated_gpu")) or bool(mode)
    states = sorted({str(d.get("runtime_status") or "unknown") for d in pci})
    if hybrid:
        title = (
            "Hybrid graphics (PRIME/Optimus): the NVIDIA GPU is on the PCI bus but its driver "
            f"is not loaded (power state: {', '.join(states)}"
            + (f"; prime-select: {mode}" if mode else "")
            + ")"
        )
        remedies = [
            remedy(
                "Switch PRIME to on-demand (or nvidia) so the NVIDIA driver loads, then log out "
                "and back in (or reboot).",
                "prime-select query",
                "sudo prime-select on-demand",
                platforms=("linux",),
            ),
            remedy(
                "If the driver is not installed at all, install it from your distribution "
                "(Ubuntu: ubuntu-drivers) and reboot.",
                "sudo ubuntu-drivers install",
                platforms=("linux",),
            ),
        ]
        return fail(title, evidence=ev, remedies=remedies)
    return fail(
        f"An NVIDIA GPU is on the PCI bus but no NVIDIA driver is loaded: {reason}",
        evidence=ev,
        remedies=[
            remedy(
                "Install NVIDIA's driver for this GPU (Ubuntu: ubuntu-drivers) and reboot; with "
                "Secure Boot on, enrol the module key when asked.",
                "sudo ubuntu-drivers install",
                "mokutil --sb-state",
                platforms=("linux",),
            )
        ],
    )


def _driver_ok(gpu: Mapping[str, Any], facts: Facts) -> Verdict | list[Verdict]:
    devices = gpu.get("devices")
    base = [
        evidence("driver", gpu.get("driver_version"), "nvmlSystemGetDriverVersion"),
        evidence(
            "newest CUDA the driver supports",
            gpu.get("cuda_driver_version"),
            "nvmlSystemGetCudaDriverVersion",
        ),
    ]
    if isinstance(devices, Unavailable) or devices is None:
        why = devices.reason if isinstance(devices, Unavailable) else "no device list"
        ev = [*base, evidence("GPUs", f"unknown: {why}", "nvmlDeviceGetCount")]
        if _hung(why):
            return verdict(
                Severity.ERROR,
                f"The NVIDIA driver loaded but hung when asked for its GPUs: {why}",
                evidence=ev,
                remedies=_hang_remedies(str(facts.get("host.kind")).startswith("wsl")),
            )
        return info(f"The NVIDIA driver is loaded but could not list its GPUs: {why}", evidence=ev)
    names = ", ".join(
        sorted({str(d.get("name")) for d in devices if hasattr(d, "get") and "error" not in d})
    )
    count = len(devices)
    ev = [*base, evidence("GPUs", f"{count} ({names})" if count else "0", "nvmlDeviceGetCount")]
    if count == 0:
        return info("The NVIDIA driver is loaded but lists no GPU", evidence=ev)
    mig = [
        d
        for d in devices
        if hasattr(d, "get")
        and isinstance(d.get("mig_mode"), Mapping)
        and d["mig_mode"].get("current")
    ]
    if mig:
        ev.append(
            evidence(
                "MIG mode on",
                ", ".join(f"GPU{d.get('index')}" for d in mig),
                "nvmlDeviceGetMigMode",
            )
        )
    title = f"NVIDIA driver {gpu.get('driver_version')} with {count} GPU(s): {names}"
    if mig:
        title += (
            "; MIG is on: a CUDA process sees one MIG instance (pick it with "
            "CUDA_VISIBLE_DEVICES=MIG-<uuid>), not the whole GPU"
        )
    verdicts = [passed(title, evidence=ev)]
    verdicts.extend(_unreachable_gpus(devices))
    return verdicts


def _unreachable_gpus(devices: Iterable[Any]) -> Iterable[Verdict]:
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


# -- health of each GPU -------------------------------------------------------------------

#: Clock-event reasons that mean the GPU is being slowed against its will.
SLOWDOWN_REASONS = {
    "HwSlowdown": "hardware slowdown (temperature, power brake or power supply)",
    "HwThermalSlowdown": "hardware thermal slowdown (the GPU is too hot)",
    "SwThermalSlowdown": "driver thermal slowdown (the GPU is near its limit)",
    "HwPowerBrakeSlowdown": "external power brake (power supply or cables)",
}

#: Utilization at and above which the PCIe link should be running at full speed.
BUSY_PERCENT = 30


def gpus(facts: Facts) -> list[Mapping[str, Any]]:
    """GPUs NVML could open (a lost GPU has only ``index`` and ``error``)."""
    devices = facts.get("gpu.devices")
    if isinstance(devices, Unavailable) or not devices:
        return []
    return [d for d in devices if "error" not in d]


def label(device: Mapping[str, Any]) -> str:
    return f"GPU{device.get('index')}"


def _known(*values: Any) -> bool:
    return all(v is not None and not isinstance(v, Unavailable) for v in values)


def _sub(device: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = device.get(key)
    return value if isinstance(value, Mapping) else {}


def _results(verdicts: list[Verdict], none_title: str) -> list[Verdict]:
    return verdicts or [skip(none_title)]


@check(
    "GD102",
    "gpu-clocks-slowed",
    summary="No GPU is slowed down by heat, power brakes or a lowered power cap",
    requires=("gpu.devices",),
    uses=("host.form_factor",),
    tags=("gpu", "performance"),
)
def gpu_clocks_slowed(facts: Facts) -> Verdict | list[Verdict]:
    """Read NVML's clock-event reasons; idle clocks are normal and ignored."""
    verdicts = []
    for device in gpus(facts):
        reasons = device.get("clock_event_reasons")
        if not isinstance(reasons, Mapping):
            continue
        power = _sub(device, "power")
        ev = [
            evidence(
                "clock-event reasons",
                ", ".join(reasons.get("active") or ()) or "none",
                "nvmlDeviceGetCurrentClocksEventReasons",
            ),
            evidence(
                "temperature",
                f"{_sub(device, 'temperature').get('current_c')} °C",
                "nvmlDeviceGetTemperature",
            ),
            evidence(
                "power draw / limit",
                f"{power.get('draw_w')} W / {power.get('limit_w')} W",
                "nvmlDeviceGetPowerUsage, nvmlDeviceGetEnforcedPowerLimit",
            ),
        ]
        slowed = [SLOWDOWN_REASONS[r] for r in reasons.get("active") or () if r in SLOWDOWN_REASONS]
        if slowed:
            laptop, why_laptop = is_laptop(facts, device)
            ev.append(evidence("form factor", "laptop" if laptop else "desktop/server", why_laptop))
            verdicts.append(
                warn(
                    f"{label(device)} is being slowed down: {'; '.join(slowed)}",
                    subject=label(device),
                    evidence=ev,
                    remedies=_slowdown_remedies(device, laptop),
                )
            )
            continue
        capped = (
            "SwPowerCap" in (reasons.get("active") or ())
            and _known(power.get("limit_w"), power.get("default_limit_w"))
            and power["limit_w"] < power["default_limit_w"]
        )
        if capped:
            ev.append(
                evidence(
                    "default power limit",
                    f"{power['default_limit_w']} W",
                    "nvmlDeviceGetPowerManagementDefaultLimit",
                )
            )
            verdicts.append(
                info(
                    f"{label(device)} runs at a power cap below its default "
                    f"({power['limit_w']} W of {power['default_limit_w']} W)",
                    subject=label(device),
                    evidence=ev,
                    remedies=[
                        remedy(
                            "If nobody set this cap on purpose (laptop power mode, "
                            "an old nvidia-smi -pl), restore the default limit."
                        )
                    ],
                )
            )
            continue
        verdicts.append(
            passed(
                f"{label(device)} runs at unrestricted clocks", subject=label(device), evidence=ev
            )
        )
    return _results(verdicts, "NVML reported no clock-event reasons for any GPU")


#: DMI chassis types of portable machines (SMBIOS 3.x, 7.4.1): portable, laptop, notebook,
#: hand held, sub notebook, tablet, convertible, detachable.
LAPTOP_CHASSIS = {8, 9, 10, 11, 14, 30, 31, 32}
LAPTOP_NAME_MARKS = ("Laptop", "Max-Q", "Mobile", "MX")


def is_laptop(facts: Facts, device: Mapping[str, Any]) -> tuple[bool, str]:
    """Laptop or not, and why: the GPU's name, the DMI chassis type or a battery."""
    name = str(device.get("name") or "")
    mark = next((m for m in LAPTOP_NAME_MARKS if m in name.split() or f" {m}" in name), None)
    if mark:
        return True, f"GPU name says {mark!r}"
    form = facts.get("host.form_factor")
    if isinstance(form, Mapping):
        chassis = form.get("chassis_type")
        if isinstance(chassis, int) and chassis in LAPTOP_CHASSIS:
            return True, f"DMI chassis type {chassis}"
        if form.get("battery"):
            return True, "a battery is present"
        if isinstance(chassis, int):
            return False, f"DMI chassis type {chassis}"
    return False, "no laptop GPU name, chassis type or battery seen"


def _slowdown_remedies(device: Mapping[str, Any], laptop: bool) -> list[Any]:
    if laptop:
        return [
            remedy(
                "Plug in the power adapter (the maker's own, full wattage): on battery or a weak "
                "USB-C charger the GPU is braked."
            ),
            remedy(
                "Use the maker's performance mode (and Windows' best-performance power mode), "
                "keep the vents clear and raise the back of the laptop; a cooling pad helps."
            ),
        ]
    return [
        remedy(
            "Improve cooling: clean the fans and filters, give the case airflow, check the "
            "room temperature."
        ),
        remedy(
            "A power brake points at the power supply: check the PCIe power cables are "
            "separate leads and fully seated."
        ),
        remedy(
            "A modest power cap gives steadier clocks than thermal cycling.",
            "sudo nvidia-smi -i {} -pl <watts>".format(device.get("index")),
            platforms=("linux",),
        ),
    ]


@check(
    "GD103",
    "gpu-temperature",
    summary="Each GPU runs below its own slowdown temperature",
    requires=("gpu.devices",),
    tags=("gpu", "thermal"),
)
def gpu_temperature(facts: Facts) -> Verdict | list[Verdict]:
    """Compare the temperature with the thresholds the GPU itself reports."""
    verdicts = []
    for device in gpus(facts):
        temps = _sub(device, "temperature")
        current, slowdown = temps.get("current_c"), temps.get("slowdown_c")
        if not _known(current, slowdown):
            continue
        current, slowdown = cast(float, current), cast(float, slowdown)
        gpu_max = temps.get("gpu_max_c")
        warn_at = slowdown - 5
        if _known(gpu_max) and cast(float, gpu_max) < slowdown:
            warn_at = cast(float, gpu_max)
        ev = [
            evidence("temperature", f"{current} °C", "nvmlDeviceGetTemperature"),
            evidence("slowdown threshold", f"{slowdown} °C", "nvmlDeviceGetTemperatureThreshold"),
            evidence(
                "shutdown threshold",
                f"{temps.get('shutdown_c')} °C",
                "nvmlDeviceGetTemperatureThreshold",
            ),
        ]
        fixes = [
            remedy(
                "Improve cooling (fans, dust, case airflow, room temperature); on "
                "laptops use a cooling pad and the performance power mode."
            )
        ]
        if current >= slowdown:
            verdicts.append(
                fail(
                    f"{label(device)} is at {current} °C, at or above its slowdown "
                    f"threshold of {slowdown} °C: clocks are being cut",
                    subject=label(device),
                    evidence=ev,
                    remedies=fixes,
                )
            )
        elif current >= warn_at:
            verdicts.append(
                warn(
                    f"{label(device)} is at {current} °C, within reach of its "
                    f"slowdown threshold of {slowdown} °C",
                    subject=label(device),
                    evidence=ev,
                    remedies=fixes,
                )
            )
        else:
            verdicts.append(
                passed(
                    f"{label(device)} at {current} °C (slowdown at {slowdown} °C)",
                    subject=label(device),
                    evidence=ev,
                )
            )
    return _results(verdicts, "NVML reported no temperature thresholds for any GPU")


@check(
    "GD104",
    "pcie-link-degraded",
    summary="A busy GPU's PCIe link runs at the generation and width it is capable of",
    requires=("gpu.devices",),
    tags=("gpu", "performance"),
)
def pcie_link_degraded(facts: Facts) -> Verdict | list[Verdict]:
    """Judge the link only under load: idle GPUs drop to a slower link to save power."""
    verdicts = []
    for device in gpus(facts):
        link = _sub(device, "pcie")
        cur_gen, max_gen = link.get("current_generation"), link.get("max_generation")
        cur_width, max_width = link.get("current_width"), link.get("max_width")
        util = device.get("utilization_gpu_percent")
        if not _known(cur_gen, max_gen, cur_width, max_width, util):
            continue
        cur_gen, max_gen = cast(int, cur_gen), cast(int, max_gen)
        cur_width, max_width, util = cast(int, cur_width), cast(int, max_width), cast(int, util)
        ev = [
            evidence(
                "link now",
                f"Gen{cur_gen} x{cur_width}",
                "nvmlDeviceGetCurrPcieLinkGeneration/Width",
            ),
            evidence(
                "link capable",
                f"Gen{max_gen} x{max_width}",
                "nvmlDeviceGetMaxPcieLinkGeneration/Width",
            ),
            evidence("GPU utilization", f"{util} %", "nvmlDeviceGetUtilizationRates"),
        ]
        if util < BUSY_PERCENT:
            verdicts.append(
                skip(
                    f"{label(device)} is idle ({util} %): an idle link slows down "
                    "on purpose, so it is judged only under load",
                    subject=label(device),
                    evidence=ev,
                )
            )
        elif cur_gen < max_gen or cur_width < max_width:
            verdicts.append(
                warn(
                    f"{label(device)} is busy but its PCIe link runs at Gen{cur_gen} "
                    f"x{cur_width} instead of Gen{max_gen} x{max_width}",
                    subject=label(device),
                    evidence=ev,
                    remedies=[
                        remedy(
                            "Reseat the card in an x16 slot, replace a riser cable, and "
                            "check the PCIe generation setting in the BIOS."
                        ),
                        remedy(
                            "Confirm the slot's wiring in the mainboard manual (many x16 "
                            "slots are wired x4 or share lanes with M.2 drives)."
                        ),
                    ],
                )
            )
        else:
            verdicts.append(
                passed(
                    f"{label(device)} PCIe link at Gen{cur_gen} x{cur_width}",
                    subject=label(device),
                    evidence=ev,
                )
            )
    return _results(verdicts, "NVML reported no PCIe link state for any GPU")


def _memory_error_verdict(device: Mapping[str, Any]) -> Verdict | None:
    ecc, rows, pages = (
        _sub(device, "ecc"),
        _sub(device, "remapped_rows"),
        _sub(device, "retired_pages"),
    )
    if not (ecc.get("enabled") is True or rows or pages):
        return None
    ev = []
    for key in ("volatile_uncorrected", "aggregate_uncorrected", "volatile_corrected"):
        if _known(ecc.get(key)):
            ev.append(
                evidence(f"ECC {key.replace('_', ' ')}", ecc[key], "nvmlDeviceGetTotalEccErrors")
            )
    if rows:
        ev.append(
            evidence(
                "remapped rows",
                f"{rows.get('correctable')} correctable, "
                f"{rows.get('uncorrectable')} uncorrectable, pending "
                f"{rows.get('pending')}, failure {rows.get('failure')}",
                "nvmlDeviceGetRemappedRows",
            )
        )
    if pages:
        ev.append(
            evidence(
                "retired pages",
                f"{pages.get('single_bit')} single-bit, "
                f"{pages.get('double_bit')} double-bit, pending {pages.get('pending')}",
                "nvmlDeviceGetRetiredPages",
            )
        )
    reset = remedy(
        "Reset the GPU when nothing runs on it, or reboot.",
        f"sudo nvidia-smi -r -i {device.get('index')}",
        platforms=("linux",),
    )
    rma = remedy(
        "If uncorrectable errors keep rising after a reset, contact the vendor "
        "about replacing the board."
    )
    name = label(device)
    if _known(ecc.get("volatile_uncorrected")) and ecc["volatile_uncorrected"] > 0:
        return fail(
            f"{name} had {ecc['volatile_uncorrected']} uncorrectable ECC error(s) since "
            "the driver loaded: results on it cannot be trusted",
            subject=name,
            evidence=ev,
            remedies=[reset, rma],
        )
    if rows.get("failure"):
        return fail(
            f"{name} failed to remap a faulty memory row",
            subject=name,
            evidence=ev,
            remedies=[reset, rma],
        )
    if rows.get("pending") or pages.get("pending") is True:
        return warn(
            f"{name} has a memory repair waiting for a GPU reset",
            subject=name,
            evidence=ev,
            remedies=[reset],
        )
    lifetime_bad = (
        (_known(ecc.get("aggregate_uncorrected")) and ecc["aggregate_uncorrected"] > 0)
        or (_known(rows.get("uncorrectable")) and rows["uncorrectable"] > 0)
        or (_known(pages.get("double_bit")) and pages["double_bit"] > 0)
    )
    if lifetime_bad:
        return warn(
            f"{name} has a history of uncorrectable memory errors",
            subject=name,
            evidence=ev,
            remedies=[rma],
        )
    return passed(f"{name} reports no uncorrectable memory errors", subject=name, evidence=ev)


@check(
    "GD105",
    "gpu-memory-errors",
    summary="No GPU reports uncorrectable ECC errors, failed row remaps or pending repairs",
    requires=("gpu.devices",),
    tags=("gpu", "hardware"),
)
def gpu_memory_errors(facts: Facts) -> Verdict | list[Verdict]:
    """ECC counters, retired pages (pre-Ampere) and remapped rows (Ampere and newer)."""
    verdicts = [v for v in (_memory_error_verdict(d) for d in gpus(facts)) if v is not None]
    return _results(verdicts, "No GPU reports ECC state (GeForce cards have no ECC)")


@check(
    "GD106",
    "gpu-xid-errors",
    summary="The NVIDIA driver logged no Xid errors since boot",
    requires=("kernel_log.xid_events",),
    uses=("kernel_log.source", "kernel_log.uptime_seconds"),
    tags=("gpu", "driver", "hardware"),
)
def gpu_xid_errors(facts: Facts) -> Verdict | list[Verdict]:
    """Xid lines from the kernel log, explained with NVIDIA's catalogue of codes."""
    events = facts.get("kernel_log.xid_events") or ()
    source = facts.get("kernel_log.source") or "kernel log"
    if not events:
        return passed(
            "No Xid errors in the kernel log since boot",
            evidence=[evidence("source", source, "kernel_log probe")],
        )
    counts = Counter(int(e["code"]) for e in events)
    uptime = facts.get("kernel_log.uptime_seconds")
    ev = []
    remedies = []
    worst = "info"
    rank = {"info": 0, "warn": 1, "fail": 2}
    for code, count in sorted(counts.items()):
        entry = describe_xid(code)
        last = [e for e in events if int(e["code"]) == code][-1]
        when = ""
        stamp = last.get("seconds_since_boot")
        if _known(uptime, stamp):
            when = f", last {_ago(float(uptime) - float(stamp))} ago"
        ev.append(
            evidence(
                f"Xid {code} × {count}", f"{entry.meaning}{when} (PCI {last.get('pci')})", source
            )
        )
        remedies.append(remedy(f"Xid {code}: {entry.remedy}"))
        if rank[entry.severity] > rank[worst]:
            worst = entry.severity
    codes = ", ".join(f"{c} ({describe_xid(c).meaning})" for c in sorted(counts))
    title = f"The NVIDIA driver logged Xid errors since boot: {codes}"
    return {"fail": fail, "warn": warn, "info": info}[worst](title, evidence=ev, remedies=remedies)


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


@check(
    "GD107",
    "persistence-mode",
    summary="Multi-GPU Linux servers keep the driver loaded between runs (persistence mode)",
    requires=("gpu.devices", "host.kind"),
    tags=("gpu", "driver"),
)
def persistence_mode(facts: Facts) -> Verdict | list[Verdict]:
    """Without persistence mode each run re-initializes every GPU and loses clock settings."""
    if facts.get("host.kind") != "linux":
        return skip("Persistence mode is a native Linux setting (not WSL, Windows or macOS)")
    devices = gpus(facts)
    if len(devices) < 2:
        return skip(
            f"Persistence mode matters on multi-GPU servers; this machine has {len(devices)} GPU"
        )
    known = [d for d in devices if isinstance(d.get("persistence_mode"), bool)]
    off = [label(d) for d in known if not d["persistence_mode"]]
    ev = [
        evidence("persistence mode off", ", ".join(off) or "none", "nvmlDeviceGetPersistenceMode")
    ]
    if not known:
        return skip("NVML did not report persistence mode")
    if off:
        return info(
            f"Persistence mode is off on {len(off)} of {len(devices)} GPUs: every run waits "
            "for the driver to initialize them, and clock or power settings reset",
            evidence=ev,
            remedies=[
                remedy(
                    "Enable NVIDIA's persistence daemon.",
                    "sudo systemctl enable --now nvidia-persistenced",
                    platforms=("linux",),
                )
            ],
        )
    return passed(f"Persistence mode is on for all {len(devices)} GPUs", evidence=ev)
