"""WSL: the Windows .wslconfig and /etc/wsl.conf, the VM's real limits, GPU passthrough, mounts.

On native Linux, macOS and Windows this probe returns at once with ``applicable: false``
(unless ``check --wslconfig PATH`` asks for a file to be validated anyway). Inside WSL it
asks Windows, through interop and with short timeouts, where the user profile is and how much
RAM the host has; when interop is off it scans the user folders under the drive mount.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any
from typing import Callable

from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.procfs import mount_of
from gpudoctor.probes.procfs import parse_meminfo
from gpudoctor.probes.procfs import parse_mountinfo

#: Interop calls; PowerShell starts slowly, so it runs beside cmd.exe, not after it.
CMD_TIMEOUT, POWERSHELL_TIMEOUT, WSLPATH_TIMEOUT, LDCONFIG_TIMEOUT = 2.0, 3.5, 1.0, 1.5
MAX_CONFIG_BYTES = 1 << 20
#: Windows drives inside WSL2 are 9p (aname=drvfs), virtiofs on newer builds; drvfs on WSL1.
WINDOWS_MOUNT_TYPES = ("9p", "v9fs", "drvfs", "virtiofs")
#: Names people save the file under by mistake (Notepad adds .txt, typos).
NEAR_MISS_NAMES = (".wslconfig.txt", ".wslconf", "wslconfig", ".wslconfig.ini", "wslconfig.txt")
NOT_USER_FOLDERS = {"public", "default", "default user", "all users", "defaultapppool"}
DRIVER_PACKAGE_RE = lazy_compile(
    r"^(nvidia-driver-.*|libnvidia-compute-.*|cuda-drivers.*|nvidia-utils-.*|nvidia-dkms-.*)$"
)


@probe("wsl", timeout=4.5)
def probe_wsl(ctx: ProbeContext) -> dict[str, Any] | NotApplicable:
    """WSL configuration and the running VM: .wslconfig, wsl.conf, memory, GPU, mounts.

    Off WSL the section is not applicable, unless ``--wslconfig`` names a file to analyse:
    then only that file's facts are recorded and the VM's facts are not applicable.
    """
    given = ctx.options.get("wslconfig")
    identity = ctx.identity
    facts: dict[str, Any] = {
        "version": identity.wsl_version,
        "distro": identity.wsl_distro,
        "signals": list(identity.wsl_signals),
    }
    if not identity.is_wsl:
        if identity.container == "docker-desktop":
            where = "a Docker Desktop container (its VM runs a WSL2 kernel, but it is no distro)"
        elif identity.kind == "linux":
            where = "native Linux"
        else:
            where = identity.kind
        reason = (
            f"not WSL: {where} (no Microsoft kernel release, WSL_DISTRO_NAME, WSL_INTEROP "
            "or /dev/dxg)"
        )
        if not given:
            return NotApplicable(reason)
        from gpudoctor.facts.sections import not_wsl_facts  # off WSL only with a given file

        facts["wslconfig"] = _given_config(ctx, str(given))
        return not_wsl_facts(reason, facts)
    facts["kernel_release"] = _kernel_release(ctx)
    if identity.wsl_version == 1:
        # WSL1 translates Linux calls on the Windows kernel: no VM to cap, no GPU.
        wsl1 = NotApplicable("WSL1 has no VM, no .wslconfig limits and no GPU (see GD508)")
        facts["vm"] = facts["gpu"] = wsl1
    else:
        facts["vm"] = _vm_memory(ctx)
    wsl_conf = _wsl_conf(ctx)
    facts["wsl_conf"] = wsl_conf
    interop = _run_interop(ctx, wsl_conf)
    facts["interop"] = interop["status"]
    facts["windows_host"] = interop["host"]
    if given:
        facts["wslconfig"] = _given_config(ctx, str(given))
    else:
        facts["wslconfig"] = _locate_config(ctx, interop["profile"], wsl_conf)
    if identity.wsl_version != 1:
        facts["gpu"] = _gpu_passthrough(ctx)
    facts["paths"] = _paths(ctx)
    return facts


# -- small readers ----------------------------------------------------------------------


def _kernel_release(ctx: ProbeContext) -> str | None:
    try:
        return ctx.read_text("/proc/sys/kernel/osrelease", max_bytes=512).strip() or None
    except OSError:
        return None


def _vm_memory(ctx: ProbeContext) -> dict[str, Any] | Unavailable:
    try:
        text = ctx.read_text("/proc/meminfo", max_bytes=65536)
    except OSError as exc:
        return Unavailable(f"cannot read /proc/meminfo: {exc.strerror}")
    values = parse_meminfo(text)
    return {
        "mem_total_bytes": values.get("MemTotal"),
        "swap_total_bytes": values.get("SwapTotal"),
        "source": "/proc/meminfo",
    }


def _wsl_conf(ctx: ProbeContext) -> dict[str, Any]:
    path = "/etc/wsl.conf"
    try:
        with open(ctx.path(path), "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return {"path": path, "exists": False, "values": {}, "diagnostics": []}
    except OSError as exc:
        return {"path": path, "exists": False, "error": str(exc), "values": {}, "diagnostics": []}
    from gpudoctor.readers.wslconfig import parse_wsl_conf  # WSL only: not loaded elsewhere

    return {"path": path, "exists": True, **parse_wsl_conf(data)}


# -- Windows side via interop ------------------------------------------------------------


def _interop_program(ctx: ProbeContext, name: str, fallback: str) -> str | None:
    found = ctx.which(name)
    if found:
        return found
    return fallback if ctx.is_live and os.path.exists(fallback) else None


def _in_thread(func: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = func()
        except Exception as exc:  # noqa: BLE001 - reported as a fact
            box["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _run_interop(ctx: ProbeContext, wsl_conf: dict[str, Any]) -> dict[str, Any]:
    """The Windows profile folder and host RAM/CPUs, or why they could not be asked for."""
    root = _automount_root(wsl_conf)
    values = wsl_conf.get("values") or {}
    if str(values.get("interop.enabled", "true")).lower() in ("false", "0"):
        status = "disabled in /etc/wsl.conf ([interop] enabled=false)"
        return {"status": status, "profile": None, "host": _unknown_host(status)}
    cmd = _interop_program(ctx, "cmd.exe", f"{root}c/Windows/System32/cmd.exe")
    powershell = _interop_program(
        ctx,
        "powershell.exe",
        f"{root}c/Windows/System32/WindowsPowerShell/v1.0/powershell.exe",
    )
    if cmd is None:
        status = "cmd.exe not found (interop off, or Windows PATH not appended)"
        return {"status": status, "profile": None, "host": _unknown_host(status)}
    ram_thread, ram_box = _in_thread(
        lambda: ctx.run(
            [
                powershell or "powershell.exe",
                "-NoProfile",
                "-NonInteractive",
                "-Command",
                "(Get-CimInstance Win32_ComputerSystem).TotalPhysicalMemory",
            ],
            timeout=POWERSHELL_TIMEOUT,
        )
    )
    profile: str | None = None
    cpus: int | None = None
    status = "ok"
    try:
        result = ctx.run(
            [cmd, "/d", "/c", "echo %USERPROFILE%^|%NUMBER_OF_PROCESSORS%"], timeout=CMD_TIMEOUT
        )
        lines = [ln.strip() for ln in result.stdout.splitlines() if "|" in ln]
        if result.ok and lines:
            windows_profile, _, count = lines[-1].partition("|")
            cpus = int(count) if count.strip().isdigit() else None
            profile = _to_linux_path(ctx, windows_profile.strip())
        else:
            status = f"cmd.exe failed (exit {result.returncode})"
    except CommandTimeout:
        status = f"cmd.exe did not answer within {CMD_TIMEOUT:g} s"
    except OSError as exc:
        status = f"cmd.exe could not start: {exc}"
    ram_thread.join(POWERSHELL_TIMEOUT + 0.5)
    host: dict[str, Any] = {"logical_processors": cpus, "source": "interop"}
    ram_result = ram_box.get("value")
    text = ram_result.stdout.strip() if ram_result is not None and ram_result.ok else ""
    if text.isdigit():
        host["ram_bytes"] = int(text)
        host["ram_source"] = "powershell.exe Win32_ComputerSystem.TotalPhysicalMemory"
    else:
        why = ram_box.get("error") or (
            f"powershell.exe exit {ram_result.returncode}" if ram_result else "no answer"
        )
        host["ram_bytes"] = Unavailable(f"host RAM unknown: {why}")
    return {"status": status, "profile": profile, "host": host}


def _unknown_host(why: str) -> dict[str, Any]:
    return {
        "ram_bytes": Unavailable(f"host RAM unknown: {why}"),
        "logical_processors": None,
        "source": "interop",
    }


def _to_linux_path(ctx: ProbeContext, windows_path: str) -> str | None:
    if not windows_path or "%" in windows_path:
        return None
    try:
        result = ctx.run(["wslpath", "-u", windows_path], timeout=WSLPATH_TIMEOUT)
        if result.ok and result.stdout.strip():
            return result.stdout.strip()
    except (CommandTimeout, OSError):
        pass
    match = re.match(r"^([A-Za-z]):\\(.*)$", windows_path)
    if match:
        return f"/mnt/{match.group(1).lower()}/" + match.group(2).replace("\\", "/")
    return None


def _automount_root(wsl_conf: dict[str, Any]) -> str:
    root = str((wsl_conf.get("values") or {}).get("automount.root") or "/mnt/")
    return root if root.endswith("/") else root + "/"


# -- locating and reading the .wslconfig ---------------------------------------------------


def _read_config(ctx: ProbeContext, path: str, *, how: str, given: bool) -> dict[str, Any]:
    folder = os.path.dirname(path)
    near = [name for name in NEAR_MISS_NAMES if ctx.exists(os.path.join(folder, name))]
    info: dict[str, Any] = {"path": path, "how": how, "given": given, "near_misses": near}
    try:
        with open(ctx.path(path), "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES)
    except FileNotFoundError:
        info.update(exists=False, parsed=None)
        return info
    except OSError as exc:
        info.update(exists=False, parsed=None, error=f"cannot read {path}: {exc.strerror}")
        return info
    from gpudoctor.readers.wslconfig import parse_wslconfig

    info.update(exists=True, size_bytes=len(data), parsed=parse_wslconfig(data).to_json())
    return info


def _given_config(ctx: ProbeContext, path: str) -> dict[str, Any]:
    info = _read_config(ctx, path, how="given with --wslconfig", given=True)
    if not info["exists"] and "error" not in info:
        info["error"] = f"{path} does not exist"
    return info


def _locate_config(
    ctx: ProbeContext, profile: str | None, wsl_conf: dict[str, Any]
) -> dict[str, Any]:
    home = ctx.env.get("HOME")
    linux_copy = bool(home) and ctx.exists(os.path.join(str(home), ".wslconfig"))
    if profile:
        info = _read_config(
            ctx,
            profile.rstrip("/") + "/.wslconfig",
            how="%USERPROFILE% from cmd.exe, converted with wslpath",
            given=False,
        )
    else:
        info = _scan_profiles(ctx, _automount_root(wsl_conf))
    info["linux_home_copy"] = f"{home}/.wslconfig" if linux_copy else None
    return info


def _scan_profiles(ctx: ProbeContext, root: str) -> dict[str, Any]:
    users_dir = f"{root}c/Users"
    try:
        listed = ctx.path(users_dir)
        folders = sorted(
            name
            for name in os.listdir(listed)
            if name.lower() not in NOT_USER_FOLDERS
            and not name.startswith(".")
            and os.path.isdir(os.path.join(listed, name))
        )
    except OSError:
        folders = []
    with_file = [name for name in folders if ctx.exists(f"{users_dir}/{name}/.wslconfig")]
    user = (ctx.env.get("USER") or "").lower()
    pool = with_file or folders
    if not pool:
        return {
            "path": None,
            "how": f"interop unavailable and no user folders found under {users_dir}",
            "given": False,
            "exists": False,
            "parsed": None,
            "near_misses": [],
        }
    chosen = next((n for n in pool if n.lower() == user), pool[0])
    how = f"scan of {users_dir}/*/.wslconfig (interop unavailable)"
    if len(pool) > 1:
        how += f"; {len(pool)} candidates, picked {chosen!r}"
    info = _read_config(ctx, f"{users_dir}/{chosen}/.wslconfig", how=how, given=False)
    info["candidates"] = [f"{users_dir}/{n}" for n in pool]
    return info


# -- GPU passthrough ---------------------------------------------------------------------


def _gpu_passthrough(ctx: ProbeContext) -> dict[str, Any]:
    try:
        folder = ctx.path("/usr/lib/wsl/lib")
        wsl_libs = sorted(
            os.path.join(folder, name) for name in os.listdir(folder) if name.startswith("libcuda")
        )
    except OSError:
        wsl_libs = []
    if not ctx.is_live:
        prefix = os.fspath(ctx.root).rstrip("/")
        wsl_libs = [p[len(prefix) :] if p.startswith(prefix) else p for p in wsl_libs]
    return {
        "dxg": ctx.exists("/dev/dxg"),
        "wsl_libcuda": wsl_libs,
        "libcuda_elsewhere": _libcuda_elsewhere(ctx),
        "driver_packages": _driver_packages(ctx),
    }


def _libcuda_elsewhere(ctx: ProbeContext) -> Any:
    """libcuda copies the loader knows outside ``/usr/lib/wsl`` (a Linux driver's, shadowing
    the Windows one): from the loader cache, or ``ldconfig -p`` where it is not readable."""
    if not ctx.is_live:
        return []
    from gpudoctor.probes.ld_cache import loader_entries

    entries = loader_entries(ctx, LDCONFIG_TIMEOUT)
    if isinstance(entries, Unavailable):
        return entries
    return sorted(
        {
            path
            for soname, path in entries
            if soname.startswith("libcuda.so") and not path.startswith("/usr/lib/wsl/")
        }
    )


def _driver_packages(ctx: ProbeContext) -> list[str]:
    """Linux NVIDIA driver packages installed inside the distro (dpkg's status file)."""
    try:
        text = ctx.read_text("/var/lib/dpkg/status", max_bytes=64 << 20)
    except OSError:
        return []
    found = []
    for block in text.split("\n\n"):
        name = status = ""
        for line in block.splitlines():
            if line.startswith("Package:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Status:"):
                status = line.split(":", 1)[1].strip()
        if name and status.endswith(" installed") and DRIVER_PACKAGE_RE.match(name):
            found.append(name)
    return sorted(found)


# -- where the data lives ----------------------------------------------------------------


def _paths(ctx: ProbeContext) -> list[dict[str, Any]]:
    try:
        mounts = parse_mountinfo(ctx.read_text("/proc/self/mountinfo", max_bytes=4 << 20))
    except OSError:
        mounts = []
    wanted: list[tuple[str, str]] = []
    cwd = os.getcwd() if ctx.is_live else ctx.options.get("cwd")
    if cwd:
        wanted.append(("cwd", str(cwd)))
    data = ctx.options.get("data")
    if data:
        data_path = os.path.abspath(str(data)) if ctx.is_live else str(data)
        wanted.append(("data", os.path.realpath(data_path) if ctx.is_live else data_path))
    found = []
    for role, path in wanted:
        mount = mount_of(path, mounts)
        point, fstype, options = (
            (mount.mount_point, mount.fstype, mount.super_options) if mount else ("", "", "")
        )
        windows = fstype in WINDOWS_MOUNT_TYPES and (
            fstype != "virtiofs" or re.match(r"^/mnt/[a-z](/|$)", path) is not None
        )
        if not mounts and re.match(r"^/mnt/[a-z](/|$)", path):
            windows = True
        found.append(
            {
                "role": role,
                "path": path,
                "mount_point": point or None,
                "fstype": fstype or None,
                "drvfs": "drvfs" in options or fstype == "drvfs",
                "windows_drive": windows,
                "source": "/proc/self/mountinfo" if mounts else "path under /mnt/<drive>",
            }
        )
    return found
