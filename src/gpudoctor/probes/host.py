"""Host identity: operating system, kernel, distribution, Python, CPUs, container, WSL."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from gpudoctor.probes._base import ProbeContext, probe


def detect_container(ctx: ProbeContext) -> dict[str, Any]:
    """Container runtime from several signals (files, cgroup paths, environment)."""
    signals: list[str] = []
    runtime = None
    if ctx.exists("/.dockerenv"):
        signals.append("/.dockerenv exists")
        runtime = "docker"
    if ctx.exists("/run/.containerenv"):
        signals.append("/run/.containerenv exists")
        runtime = runtime or "podman"
    if ctx.env.get("KUBERNETES_SERVICE_HOST"):
        signals.append("KUBERNETES_SERVICE_HOST is set")
        runtime = runtime or "kubernetes"
    container_env = ctx.env.get("container")
    if container_env:
        signals.append(f"container={container_env}")
        runtime = runtime or container_env
    try:
        cgroup = ctx.read_text("/proc/1/cgroup", max_bytes=65536)
    except OSError:
        cgroup = ""
    for marker, name in (
        ("docker", "docker"),
        ("kubepods", "kubernetes"),
        ("libpod", "podman"),
        ("containerd", "containerd"),
        ("/lxc/", "lxc"),
    ):
        if marker in cgroup:
            signals.append(f"/proc/1/cgroup mentions {marker}")
            runtime = runtime or name
            break
    return {"in_container": bool(signals), "runtime": runtime, "signals": signals}


def detect_wsl(ctx: ProbeContext) -> dict[str, Any]:
    """WSL1 vs WSL2 vs native, from the kernel string, environment and device nodes."""

    def compute() -> dict[str, Any]:
        signals: list[str] = []
        release = ""
        for path in ("/proc/sys/kernel/osrelease", "/proc/version"):
            try:
                release = ctx.read_text(path, max_bytes=4096).strip()
                break
            except OSError:
                continue
        lowered = release.lower()
        version = None
        if "microsoft" in lowered:
            signals.append(
                f"kernel release mentions Microsoft ({release.split()[0] if release else ''})"
            )
            version = 2 if ("wsl2" in lowered or "microsoft-standard" in lowered) else 1
        if ctx.env.get("WSL_DISTRO_NAME"):
            signals.append("WSL_DISTRO_NAME is set")
        if ctx.env.get("WSL_INTEROP"):
            signals.append("WSL_INTEROP is set")
            version = version or 2
        if ctx.exists("/dev/dxg"):
            signals.append("/dev/dxg exists")
            version = 2
        if ctx.exists("/proc/sys/fs/binfmt_misc/WSLInterop"):
            signals.append("WSLInterop binfmt is registered")
        is_wsl = version is not None or len(signals) >= 2
        container = detect_container(ctx)
        if is_wsl and container["in_container"] and not ctx.env.get("WSL_DISTRO_NAME"):
            # Docker Desktop (and Rancher/Podman Desktop) run containers on their own WSL2
            # VM: the kernel says WSL2, but this is a container, not a WSL distro. The
            # .wslconfig, /etc/wsl.conf and GPU passthrough of a distro do not apply here.
            return {
                "is_wsl": False,
                "version": None,
                "distro": None,
                "signals": signals + container["signals"],
                "container_on_wsl_kernel": True,
                "reason": (
                    f"a {container['runtime'] or 'container'} container on a WSL2 kernel "
                    "(Docker Desktop or similar), not a WSL distro: .wslconfig and GPU "
                    "passthrough are checked from a WSL distro or from Windows"
                ),
            }
        return {
            "is_wsl": is_wsl,
            "version": (version or 2) if is_wsl else None,
            "distro": ctx.env.get("WSL_DISTRO_NAME"),
            "signals": signals,
        }

    return ctx.cached("wsl", compute)


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


def form_factor(ctx: ProbeContext) -> dict[str, Any]:
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
        supplies = list(ctx.path("/sys/class/power_supply").iterdir())[:32]
        battery = False
        for supply in supplies:
            try:
                kind = ctx.read_text(f"/sys/class/power_supply/{supply.name}/type", max_bytes=64)
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


def effective_cpus(ctx: ProbeContext) -> dict[str, Any]:
    """Logical CPUs, those this process may use (affinity) and the cgroup CPU quota."""
    logical = os.cpu_count()
    usable = None
    if hasattr(os, "sched_getaffinity") and ctx.is_live:
        try:
            usable = len(os.sched_getaffinity(0))
        except OSError:
            usable = None
    quota = None
    try:
        text = ctx.read_text("/sys/fs/cgroup/cpu.max", max_bytes=256).split()
        if text and text[0] != "max":
            quota = float(text[0]) / float(text[1])
    except (OSError, ValueError, IndexError):
        quota = None
    return {"logical": logical, "usable": usable or logical, "cgroup_quota": quota}


@probe("host", timeout=2.0)
def probe_host(ctx: ProbeContext) -> dict[str, Any]:
    """Which machine this is: OS kind, kernel, distribution, Python, CPUs, container, WSL."""
    if ctx.platform.startswith("linux"):
        wsl = detect_wsl(ctx)
        kind = f"wsl{wsl['version']}" if wsl["is_wsl"] else "linux"
    elif ctx.platform.startswith("win"):
        kind, wsl = "windows", {"is_wsl": False}
    elif ctx.platform == "darwin":
        kind, wsl = "macos", {"is_wsl": False}
    else:
        kind, wsl = ctx.platform, {"is_wsl": False}
    os_release = _os_release(ctx) if kind.startswith(("linux", "wsl")) else {}
    return {
        "kind": kind,
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "distro": os_release.get("PRETTY_NAME") or None,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "bits": 64 if sys.maxsize > 2**32 else 32,
        },
        "cpus": effective_cpus(ctx),
        "form_factor": form_factor(ctx) if kind.startswith("linux") else None,
        "container": detect_container(ctx)
        if kind != "windows"
        else {"in_container": False, "runtime": None, "signals": []},
        "wsl": wsl,
    }
