"""Power and sleep: battery, power plan, Windows TDR delay, suspend/resume since boot.

Laptops train slowly on battery or in a power-saving plan; a Windows display driver resets a
GPU whose kernel runs longer than the TDR delay (2 s unless the registry says otherwise); and
after a suspend/resume the CUDA driver can fail to initialise ("CUDA unknown error") while
NVML still answers. Each source has a time bound: psutil's battery sensor, ``powercfg`` and
``reg.exe`` (WSL) with timeouts, ``winreg`` on Windows, sysfs counters on Linux.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

if TYPE_CHECKING:
    from gpudoctor.facts.sections import PowerFacts

#: Seconds ``powercfg`` / ``reg.exe`` may take (WSL interop can be slow to start).
COMMAND_TIMEOUT = 3.0
GRAPHICS_DRIVERS_KEY = r"SYSTEM\CurrentControlSet\Control\GraphicsDrivers"
_SCHEME = lazy_compile(r"GUID:\s*([0-9a-fA-F-]{36})\s*\((.+)\)")


def battery() -> dict[str, Any] | None | Unavailable:
    """psutil's battery sensor: None when the machine has no battery."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        sensor = psutil.sensors_battery()
    except (ImportError, AttributeError, OSError, RuntimeError) as exc:
        return Unavailable(f"battery sensor unreadable: {exc}")
    if sensor is None:
        return None
    return {"percent": round(float(sensor.percent), 1), "plugged": bool(sensor.power_plugged)}


def parse_powercfg(text: str) -> dict[str, str] | None:
    """``Power Scheme GUID: 381b4222-... (Balanced)`` -> guid and name (any UI language)."""
    found = _SCHEME.search(text)
    return {"guid": found.group(1).lower(), "name": found.group(2).strip()} if found else None


def power_plan(
    ctx: ProbeContext, windows_side: bool
) -> dict[str, str] | Unavailable | NotApplicable:
    """The active Windows power plan (``powercfg /getactivescheme``)."""
    if not windows_side:
        return NotApplicable("power plans are a Windows setting")
    program = ctx.which("powercfg") or ctx.which("powercfg.exe")
    if not program:
        return Unavailable("powercfg not found")
    result = ctx.run_or_unavailable([program, "/getactivescheme"], COMMAND_TIMEOUT, name="powercfg")
    if isinstance(result, Unavailable):
        return result
    return parse_powercfg(result.stdout) or Unavailable("powercfg printed no active scheme")


def parse_reg_query(text: str) -> dict[str, int]:
    """``reg query`` output -> ``{"TdrDelay": 60}`` for REG_DWORD values."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "REG_DWORD":
            try:
                values[parts[0]] = int(parts[2], 16 if parts[2].lower().startswith("0x") else 10)
            except ValueError:
                continue
    return values


def _winreg_values() -> dict[str, int] | Unavailable:
    if sys.platform != "win32":
        return Unavailable("winreg exists only on Windows")
    import winreg

    values: dict[str, int] = {}
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, GRAPHICS_DRIVERS_KEY) as key:
            for name in ("TdrDelay", "TdrLevel", "TdrDdiDelay"):
                try:
                    value, kind = winreg.QueryValueEx(key, name)
                except OSError:
                    continue
                if kind == winreg.REG_DWORD:
                    values[name] = int(value)
    except OSError as exc:
        return Unavailable(f"registry key unreadable: {exc}")
    return values


def tdr(
    ctx: ProbeContext, windows_side: bool, on_wsl: bool
) -> dict[str, Any] | Unavailable | NotApplicable:
    """TDR settings; absent values mean Windows' defaults (2 s delay, recovery on)."""
    if not windows_side:
        return NotApplicable("TDR is a Windows display-driver setting")
    if on_wsl:
        program = ctx.which("reg.exe")
        if not program:
            return Unavailable("reg.exe is not reachable from WSL (interop off?)")
        result = ctx.run_or_unavailable(
            [program, "query", "HKLM\\" + GRAPHICS_DRIVERS_KEY], COMMAND_TIMEOUT, name="reg.exe"
        )
        if isinstance(result, Unavailable):
            return result
        values: dict[str, int] | Unavailable = parse_reg_query(result.stdout)
    else:
        values = _winreg_values()
    if isinstance(values, Unavailable):
        return values
    return {
        "delay_s": values.get("TdrDelay"),
        "level": values.get("TdrLevel"),
        "source": "reg.exe query" if on_wsl else "winreg",
    }


def suspend_stats(ctx: ProbeContext) -> dict[str, Any] | Unavailable | NotApplicable:
    """Successful suspends since boot (``/sys/power/suspend_stats/success``)."""
    if not ctx.platform.startswith("linux"):
        return NotApplicable("suspend counters are read from Linux sysfs")
    try:
        count = int(ctx.read_text("/sys/power/suspend_stats/success").strip() or "0")
    except (OSError, ValueError) as exc:
        return Unavailable(f"/sys/power/suspend_stats unreadable: {exc}")
    return {"successful_suspends": count, "source": "/sys/power/suspend_stats/success"}


@probe("power", timeout=5.0)
def probe_power(ctx: ProbeContext) -> PowerFacts:
    """Battery, Windows power plan and TDR delay, and suspends since boot."""
    on_wsl = ctx.identity.is_wsl
    windows_side = ctx.platform.startswith("win") or on_wsl
    # Any fact may be an Unavailable / NotApplicable marker (see gpudoctor.facts.sections).
    return cast(
        "PowerFacts",
        {
            "battery": battery() if not on_wsl else NotApplicable("WSL sees no battery"),
            "power_plan": power_plan(ctx, windows_side),
            "tdr": tdr(ctx, windows_side, on_wsl),
            "suspend": suspend_stats(ctx) if not on_wsl else NotApplicable("WSL does not suspend"),
            "sysmem_fallback": (
                Unavailable(
                    "the CUDA sysmem fallback policy lives in the driver's profile database, "
                    "which only the NVIDIA Control Panel reads"
                )
                if windows_side
                else NotApplicable("sysmem fallback exists only in Windows drivers")
            ),
        },
    )
