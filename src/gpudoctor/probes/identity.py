"""Machine identity: what kind of machine this is, decided once before any probe runs.

Platform kind (``linux``, ``wsl1``, ``wsl2``, ``windows``, ``macos``), container kind
(``docker``, ``podman``, ``kubernetes``, ``docker-desktop`` for Docker Desktop's WSL-backed
VM, ``lxc``, ``containerd`` or none) and the CPUs this process may really use (affinity and
cgroup v1/v2 quotas). Every probe reads it from ``ctx.identity``; nothing else detects WSL,
containers or CPUs a second time.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING
from typing import NamedTuple

from gpudoctor.probes.base import ProbeContext

if TYPE_CHECKING:
    from gpudoctor.facts.sections import HostFacts

#: Markers in ``/proc/1/cgroup`` and the container kind each reveals, first match wins.
_CGROUP_MARKERS = (
    ("kubepods", "kubernetes"),
    ("docker", "docker"),
    ("libpod", "podman"),
    ("containerd", "containerd"),
    ("/lxc/", "lxc"),
)


class MachineIdentity(NamedTuple):
    """Who we are running on; the facts every probe needs before it can look further."""

    kind: str
    kernel_release: str = ""
    wsl_version: int | None = None
    wsl_distro: str | None = None
    wsl_signals: tuple[str, ...] = ()
    container: str | None = None
    container_signals: tuple[str, ...] = ()
    cpus_logical: int | None = None
    cpus_usable: int | None = None
    cpu_quota: float | None = None
    cpu_source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def is_wsl(self) -> bool:
        return self.kind in ("wsl1", "wsl2")

    @property
    def in_container(self) -> bool:
        return self.container is not None

    def to_facts(self) -> HostFacts:
        """The ``host`` section's share of the identity, in its recorded shape."""
        return {
            "kind": self.kind,
            "cpus": {
                "logical": self.cpus_logical,
                "usable": self.cpus_usable,
                "cgroup_quota": self.cpu_quota,
            },
            "container": {
                "in_container": self.in_container,
                "runtime": self.container,
                "signals": list(self.container_signals),
            },
            "wsl": {
                "is_wsl": self.is_wsl,
                "version": self.wsl_version,
                "distro": self.wsl_distro,
                "signals": list(self.wsl_signals),
            },
        }


def identify(ctx: ProbeContext) -> MachineIdentity:
    """Decide the identity of the machine ``ctx`` looks at (never raises)."""
    if ctx.platform.startswith("win"):
        logical, usable, _, source = _cpus(ctx)
        return MachineIdentity(
            "windows", cpus_logical=logical, cpus_usable=usable, cpu_source=source
        )
    if ctx.platform == "darwin":
        logical, usable, _, source = _cpus(ctx)
        return MachineIdentity("macos", cpus_logical=logical, cpus_usable=usable, cpu_source=source)
    release = _kernel_release(ctx)
    wsl_version, wsl_signals = _wsl(ctx, release)
    container, signals = _container(ctx)
    container_signals = tuple(signals)
    if container is not None and wsl_version == 2 and not ctx.env.get("WSL_DISTRO_NAME"):
        # Docker Desktop runs containers in its own WSL2 VM: the kernel says WSL2, but this
        # is a container, not a distro the user opened (no WSL_DISTRO_NAME, no interop).
        container = "docker-desktop"
        container_signals = (*container_signals, "WSL2 kernel inside a container")
        wsl_version = None
    if wsl_version is not None:
        kind = f"wsl{wsl_version}"
    elif ctx.platform.startswith("linux"):
        kind = "linux"
    else:
        kind = ctx.platform
    logical, usable, quota, source = _cpus(ctx)
    return MachineIdentity(
        kind,
        kernel_release=release,
        wsl_version=wsl_version,
        wsl_distro=ctx.env.get("WSL_DISTRO_NAME") if wsl_version else None,
        wsl_signals=tuple(wsl_signals),
        container=container,
        container_signals=container_signals,
        cpus_logical=logical,
        cpus_usable=usable,
        cpu_quota=quota,
        cpu_source=source,
    )


def _kernel_release(ctx: ProbeContext) -> str:
    for path in ("/proc/sys/kernel/osrelease", "/proc/version"):
        try:
            return ctx.read_text(path, max_bytes=4096).strip()
        except OSError:
            continue
    return ""


def _wsl(ctx: ProbeContext, release: str) -> tuple[int | None, list[str]]:
    """WSL1 vs WSL2 vs native, from the kernel string, environment and device nodes."""
    signals: list[str] = []
    lowered = release.lower()
    version = None
    if "microsoft" in lowered:
        signals.append(f"kernel release mentions Microsoft ({release.split()[0]})")
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
    if version is None and len(signals) >= 2:
        version = 2
    return version, signals


def _container(ctx: ProbeContext) -> tuple[str | None, list[str]]:
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
        runtime = "kubernetes"
    container_env = ctx.env.get("container")
    if container_env:
        signals.append(f"container={container_env}")
        runtime = runtime or container_env
    try:
        cgroup = ctx.read_text("/proc/1/cgroup", max_bytes=65536)
    except OSError:
        cgroup = ""
    for marker, name in _CGROUP_MARKERS:
        if marker in cgroup:
            signals.append(f"/proc/1/cgroup mentions {marker}")
            runtime = runtime or name
            break
    return runtime, signals


def _cpus(ctx: ProbeContext) -> tuple[int | None, int | None, float | None, str]:
    """Logical CPUs, those this process may use, the cgroup quota, and how it was decided."""
    logical = os.cpu_count()
    usable, source = logical, "os.cpu_count()"
    if hasattr(os, "sched_getaffinity") and ctx.is_live:
        try:
            usable, source = len(os.sched_getaffinity(0)), "sched_getaffinity"
        except OSError:
            pass
    quota = _cgroup_quota(ctx)
    if quota is not None and usable is not None and math.ceil(quota) < usable:
        usable, source = max(1, math.ceil(quota)), "cgroup CPU quota"
    return logical, usable, quota, source


def _cgroup_quota(ctx: ProbeContext) -> float | None:
    """CPUs' worth of the cgroup CPU quota: v2 ``cpu.max`` or v1 ``cfs_quota_us``/``period``."""
    try:
        fields = ctx.read_text("/sys/fs/cgroup/cpu.max", max_bytes=256).split()
        if len(fields) == 2 and fields[0] != "max":
            return float(fields[0]) / float(fields[1])
        if fields:
            return None
    except (OSError, ValueError):
        pass
    for folder in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"):
        try:
            quota = int(ctx.read_text(f"{folder}/cpu.cfs_quota_us", max_bytes=64))
            period = int(ctx.read_text(f"{folder}/cpu.cfs_period_us", max_bytes=64))
        except (OSError, ValueError):
            continue
        return quota / period if quota > 0 and period > 0 else None
    return None
