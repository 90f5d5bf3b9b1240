"""Host identity: operating system, kernel, distribution, Python, CPUs, container, WSL."""

from __future__ import annotations

import os
import platform
import sys
from typing import TYPE_CHECKING

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

if TYPE_CHECKING:
    from gpudoctor.facts.sections import HostFacts


def _os_release(ctx: ProbeContext) -> dict[str, str]:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = ctx.read_text(path, max_bytes=65536)
        except OSError:
            continue
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
        return values
    return {}


def form_factor(ctx: ProbeContext) -> dict[str, object]:
    """Laptop or not, from the DMI chassis type and the power supplies (Linux only; WSL and
    containers usually see neither, and the GPU's name is the better hint there)."""
    chassis: int | None = None
    try:
        text = ctx.read_text("/sys/class/dmi/id/chassis_type", max_bytes=64).strip()
        chassis = int(text) if text.isdigit() else None
    except OSError:
        chassis = None
    battery: bool | None = None
    try:
        supplies = os.listdir(ctx.path("/sys/class/power_supply"))[:32]
        battery = False
        for supply in supplies:
            try:
                kind = ctx.read_text(f"/sys/class/power_supply/{supply}/type", max_bytes=64)
            except OSError:
                continue
            if kind.strip() == "Battery":
                battery = True
    except OSError:
        battery = None
    return {
        "chassis_type": chassis,
        "battery": battery,
        "source": "/sys/class/dmi/id/chassis_type, /sys/class/power_supply",
    }


@probe("host", timeout=2.0)
def probe_host(ctx: ProbeContext) -> HostFacts:
    """Which machine this is: OS kind, kernel, distribution, Python, CPUs, container, WSL."""
    identity = ctx.identity
    os_release = _os_release(ctx) if identity.kind.startswith(("linux", "wsl")) else {}
    facts = identity.to_facts()
    facts["system"] = platform.system()
    facts["release"] = platform.release()
    facts["machine"] = platform.machine()
    facts["distro"] = os_release.get("PRETTY_NAME") or None
    facts["python"] = {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "bits": 64 if sys.maxsize > 2**32 else 32,
    }
    if identity.kind == "linux":
        facts["form_factor"] = form_factor(ctx)
    return facts
