"""GPU memory holders: who holds it, which of them are stale, and what no one can account for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpudoctor.api import (
    MiB,
    check,
    evidence,
    fmt_bytes,
    info,
    passed,
    remedy,
    skip,
    warn,
)
from gpudoctor.checks.staleness import LOW, stale_holders
from gpudoctor.facts.model import Facts, Unavailable

#: Memory a driver keeps per GPU that no process is charged for; gaps below this are noise.
UNATTRIBUTED_MARGIN = 512 * MiB
BIGGEST = 5

_DRY_RUN = remedy(
    "See what gpudoctor would stop, then stop it (it asks first).",
    "gpudoctor fix --kill-stale --dry-run",
    "gpudoctor fix --kill-stale",
)


def _others(facts: Facts) -> list[Mapping[str, Any]]:
    return [
        row
        for row in facts.get("gpu_processes.processes") or ()
        if not row.get("is_caller") and not row.get("is_caller_ancestor")
    ]


def _memory_text(row: Mapping[str, Any]) -> str:
    held = row.get("gpu_memory_bytes")
    if isinstance(held, int):
        return fmt_bytes(held)
    return str(row.get("gpu_memory_note") or "unknown")


def _who(row: Mapping[str, Any]) -> str:
    name = row.get("cmdline") or row.get("name") or "?"
    user = row.get("user")
    return f"pid {row.get('pid')} ({user}) {name}" if user else f"pid {row.get('pid')} {name}"


@check(
    "GD401",
    "gpu-memory-held",
    summary="GPU memory held by other processes: the total and the biggest holders",
    requires=("gpu_processes.processes",),
    uses=("gpu_processes.sources",),
    tags=("gpu", "processes"),
)
def gpu_memory_held(facts: Facts):
    """An out-of-memory error with nothing running is usually memory someone else holds."""
    others = _others(facts)
    if not others:
        return passed(
            "No other process holds the GPU",
            evidence=[evidence("sources", _sources_text(facts), "gpu_processes probe")],
        )
    known = sum(r["gpu_memory_bytes"] for r in others if isinstance(r.get("gpu_memory_bytes"), int))
    unknown = sum(1 for r in others if not isinstance(r.get("gpu_memory_bytes"), int))
    ranked = sorted(others, key=lambda r: -(r.get("gpu_memory_bytes") or 0))
    ev = [
        evidence(_who(r), _memory_text(r), ", ".join(r.get("sources") or ()))
        for r in ranked[:BIGGEST]
    ]
    if len(ranked) > BIGGEST:
        ev.append(evidence("more holders", len(ranked) - BIGGEST, "gpu_processes probe"))
    amount = fmt_bytes(known) if known else "an unknown amount"
    if known and unknown:
        amount += f" plus {unknown} process(es) whose memory is not reported"
    return info(
        f"{len(others)} other process(es) hold the GPU: {amount}",
        evidence=ev,
        remedies=[
            remedy(
                "If your run fails with 'CUDA out of memory', stop the holders you no longer "
                "need (finished runs, idle notebook kernels)."
            ),
            _DRY_RUN,
        ],
    )


@check(
    "GD402",
    "stale-gpu-processes",
    summary="No stale process (orphaned worker, idle kernel, zombie, stopped) holds the GPU",
    requires=("gpu_processes.processes",),
    uses=("gpu_processes.settings",),
    fix="kill-stale",
    tags=("gpu", "processes"),
)
def stale_gpu_processes(facts: Facts):
    """Each stale holder with the evidence behind the verdict and how sure it is."""
    settings = facts.get("gpu_processes.settings") or {}
    idle_minutes = float(settings.get("idle_minutes") or 30.0)
    section = {"processes": _others(facts), "settings": settings}
    stale = stale_holders(section, idle_minutes=idle_minutes)
    if not stale:
        return passed("No stale process holds the GPU")
    verdicts = []
    for row, verdict in stale:
        ev = [
            evidence("process", _who(row), ", ".join(row.get("sources") or ())),
            evidence("GPU memory", _memory_text(row), "NVML / nvidia-smi"),
            evidence("state", row.get("state"), "process table"),
            evidence("confidence", verdict.confidence, "classifier"),
            *(evidence("reason", reason, "classifier") for reason in verdict.reasons),
        ]
        remedies = [_DRY_RUN] if verdict.killable else []
        if verdict.advice:
            remedies.insert(0, remedy(verdict.advice[0].upper() + verdict.advice[1:] + "."))
        remedies.append(
            remedy(
                "Or stop it yourself.",
                f"kill {row.get('pid')}",
                platforms=("linux", "wsl", "macos"),
            )
        )
        remedies.append(
            remedy(
                "Or stop it yourself.", f"taskkill /PID {row.get('pid')}", platforms=("windows",)
            )
        )
        severity = info if verdict.confidence == LOW else warn
        verdicts.append(
            severity(
                f"{verdict.kind.replace('-', ' ').capitalize()} holds the GPU: "
                f"pid {row.get('pid')} {row.get('name') or ''}".rstrip(),
                subject=f"pid {row.get('pid')}",
                evidence=ev,
                remedies=remedies,
                offer_fix=verdict.killable,
            )
        )
    return verdicts


@check(
    "GD403",
    "unattributed-gpu-memory",
    summary="GPU memory in use that no visible process accounts for",
    requires=("gpu_processes.processes", "gpu_processes.devices"),
    uses=("gpu_processes.platform_kind",),
    tags=("gpu", "processes"),
)
def unattributed_gpu_memory(facts: Facts):
    """Other containers, other WSL distros and Windows apps use the GPU where we cannot look."""
    rows = facts.get("gpu_processes.processes") or ()
    devices = [d for d in facts["gpu_processes"]["devices"] if isinstance(d.get("used_bytes"), int)]
    hidden = [r for r in rows if not r.get("visible")]
    used = sum(d["used_bytes"] for d in devices)
    known = sum(r["gpu_memory_bytes"] for r in rows if isinstance(r.get("gpu_memory_bytes"), int))
    some_unknown = any(
        r.get("gpu_indices") and not isinstance(r.get("gpu_memory_bytes"), int) for r in rows
    )
    if devices and some_unknown and not hidden:
        return skip(
            f"Cannot tell: {fmt_bytes(used)} of GPU memory is in use, but the driver does not "
            "report how much each listed process holds",
            evidence=[evidence("GPU memory in use", fmt_bytes(used), "nvmlDeviceGetMemoryInfo")],
        )
    gap = used - known if devices and not some_unknown else 0
    kind = facts.get("gpu_processes.platform_kind")
    ev = [evidence(_who(r), _memory_text(r), ", ".join(r.get("sources") or ())) for r in hidden]
    if devices:
        ev += [
            evidence("GPU memory in use", fmt_bytes(used), "nvmlDeviceGetMemoryInfo"),
            evidence("charged to listed processes", fmt_bytes(known), "NVML process lists"),
        ]
    titles = []
    if hidden:
        titles.append(
            f"{len(hidden)} process(es) the driver lists are not visible here "
            "(another container or PID namespace, another WSL distro, or Windows)"
        )
    if gap > UNATTRIBUTED_MARGIN * max(1, len(devices)):
        where = {
            "wsl2": "Windows applications or other WSL distros",
            "windows": "processes NVML does not list",
        }.get(str(kind), "processes in other containers or PID namespaces, or the driver itself")
        silent = [r for r in rows if r.get("visible") and not r.get("gpu_indices")]
        if silent:
            where = (
                f"part may be the {len(silent)} process(es) seen here whose memory the driver "
                f"does not report; the rest: {where}"
            )
        titles.append(f"{fmt_bytes(gap)} of GPU memory is charged to no listed process ({where})")
    if not titles:
        return passed("All GPU memory in use is accounted for by listed processes", evidence=ev)
    remedies = [
        remedy(
            "Close GPU-heavy Windows applications (browsers, games, video tools), or look in "
            "Task Manager > Performance > GPU for 'Dedicated GPU memory'.",
            platforms=("wsl", "windows"),
        ),
        remedy(
            "Shut down every WSL distro to free what they hold.",
            "wsl --shutdown",
            platforms=("wsl",),
        ),
        remedy(
            "On a shared server, ask who runs in the other containers; as root on the host, "
            "nvidia-smi lists host PIDs.",
            "nvidia-smi --query-compute-apps=pid,used_memory --format=csv",
            platforms=("linux", "docker"),
        ),
        remedy(
            "Memory no process owns any more only comes back with a GPU reset or a reboot.",
            "sudo nvidia-smi --gpu-reset -i 0",
            platforms=("linux",),
        ),
    ]
    return info("; ".join(titles), evidence=ev, remedies=remedies)


@check(
    "GD404",
    "gpu-process-visibility",
    summary="How completely GPU processes could be seen on this platform",
    requires=("gpu_processes.sources",),
    uses=("gpu_processes.platform_kind", "gpu_processes.unreadable"),
    tags=("gpu", "processes", "wsl", "windows"),
)
def gpu_process_visibility(facts: Facts):
    """Say when the process list is partial, so an empty list is not read as 'nothing runs'."""
    kind = facts.get("gpu_processes.platform_kind")
    unreadable = facts.get("gpu_processes.unreadable") or 0
    ev = [evidence("sources", _sources_text(facts), "gpu_processes probe")]
    notes = []
    if kind == "wsl2":
        notes.append(
            "under WSL2 NVML cannot list GPU processes or their memory; gpudoctor looked for "
            "processes in this distro holding /dev/dxg or mapping libcuda instead"
        )
    elif kind == "windows":
        notes.append(
            "under Windows (WDDM) NVML reports no per-process GPU memory; gpudoctor listed "
            "the processes NVML or nvidia-smi name and Python processes loading nvcuda.dll"
        )
    if isinstance(unreadable, int) and unreadable > 0:
        notes.append(
            f"the open files or memory maps of {unreadable} process(es) could not be read "
            "(other users); run as root/Administrator to include them"
        )
    if not notes:
        return passed("The GPU process list is as complete as this platform allows", evidence=ev)
    return info(
        "The GPU process list is partial: " + "; ".join(notes),
        evidence=ev,
        remedies=[
            remedy(
                "See the Windows side in Task Manager > Details (column 'Dedicated GPU memory').",
                platforms=("wsl", "windows"),
            ),
            remedy(
                "Run as root to see every user's processes.",
                "sudo gpudoctor check --select GD4",
                platforms=("linux", "wsl"),
            ),
            remedy(
                "Run from a terminal opened with 'Run as administrator'.",
                "gpudoctor check --select GD4",
                platforms=("windows",),
            ),
        ],
    )


def _sources_text(facts: Facts) -> str:
    sources = facts.get("gpu_processes.sources") or {}
    parts = []
    for name, value in sources.items():
        parts.append(f"{name}: {value.reason if isinstance(value, Unavailable) else value}")
    return "; ".join(parts) or "none"
