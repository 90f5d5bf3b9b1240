"""GPU memory holders: who holds it, which of them are stale, and what no one can account for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

from gpudoctor.api import Evidence
from gpudoctor.api import MiB
from gpudoctor.api import Remedy
from gpudoctor.api import Severity
from gpudoctor.api import Verdict
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fmt_bytes
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.checks.staleness import LOW
from gpudoctor.checks.staleness import Judgement
from gpudoctor.checks.staleness import judge_all
from gpudoctor.checks.staleness import manager_label
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import Unavailable

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
def gpu_memory_held(facts: Facts) -> Verdict:
    """An out-of-memory error with nothing running is usually memory someone else holds."""
    others = _others(facts)
    if not others:
        return passed(
            "No other process holds the GPU",
            evidence=[evidence("sources", _sources_text(facts), "gpu_processes probe")],
        )
    known = unknown = 0
    for row in others:
        held = row.get("gpu_memory_bytes")
        if isinstance(held, int):
            known += held
        else:
            unknown += 1
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
    remedies = [
        remedy(
            "If your run fails with 'CUDA out of memory', stop the holders you no longer "
            "need (finished runs, idle notebook kernels)."
        ),
        _DRY_RUN,
    ]
    for row in ranked:
        manager = row.get("manager")
        if manager is None or not isinstance(manager, Mapping):
            continue
        ev.append(
            evidence(
                f"pid {row.get('pid')}",
                manager_label(manager),
                str(manager.get("evidence") or "cgroup"),
            )
        )
        advice = str(manager.get("advice") or "stop it through its manager")
        commands = (str(manager["remedy"]),) if manager.get("remedy") else ()
        remedies.append(
            remedy(
                f"pid {row.get('pid')} {manager_label(manager)}; gpudoctor never stops it: "
                f"{advice}.",
                *commands,
            )
        )
    return info(
        f"{len(others)} other process(es) hold the GPU: {amount}",
        evidence=ev,
        remedies=remedies,
    )


@check(
    "GD402",
    "stale-gpu-processes",
    summary="No stale process (orphaned worker, idle kernel, zombie, stopped, finished run) "
    "holds the GPU",
    requires=("gpu_processes.processes",),
    uses=("gpu_processes.settings",),
    fix="kill-stale",
    tags=("gpu", "processes"),
)
def stale_gpu_processes(facts: Facts) -> Verdict | list[Verdict]:
    """Each stale holder with the evidence behind the verdict; no waiting, no sampling."""
    settings = facts.get("gpu_processes.settings") or {}
    section = {"processes": _others(facts), "settings": settings}
    judged = [
        (row, j)
        for row, j in judge_all(section)
        if j.stale or j.cls in ("orphaned-worker?", "kernel-idle-unknown")
    ]
    if not judged:
        return passed("No stale process holds the GPU")
    verdicts = _StaleVerdicts()
    return [verdicts.of(row, j) for row, j in judged]


_WATCH_FIRST = remedy(
    "The fix watches candidates before deciding and stops only proven ones.",
    "gpudoctor fix --kill-stale --dry-run",
)
_KILL_PLATFORMS = ("linux", "wsl", "macos")
_TASKKILL_PLATFORMS = ("windows",)


class _Shared(NamedTuple):
    """What every holder judged alike has in common in its verdict."""

    severity: Severity
    title: str  #: up to the pid
    evidence: tuple[Evidence, ...]  #: the class and the reason
    remedies: tuple[Remedy, ...]  #: before ``kill PID``, where it may be stopped
    offer_fix: bool


class _StaleVerdicts:
    """GD402's verdict for each holder. Evidence and remedies are immutable, so equal ones
    are built once and shared: with 50k holders, most verdicts differ only in the pid, the
    command line, the amount of memory and a line or two of evidence."""

    def __init__(self) -> None:
        self._shared: dict[tuple[Any, ...], _Shared] = {}
        self._lines: dict[tuple[str, ...], tuple[Evidence, ...]] = {}
        self._said: dict[tuple[str, str], Evidence] = {}  #: by label and value
        self._memory: dict[int, Evidence] = {}  #: by bytes held

    def of(self, row: Mapping[str, Any], judged: Judgement) -> Verdict:
        pid = row.get("pid")
        key = (
            judged.cls,
            judged.stale,
            judged.reason,
            judged.confidence,
            judged.killable,
            judged.remedy,
            judged.advice,
        )
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = _shared_part(judged)
        lines = self._lines.get(judged.evidence)
        if lines is None:
            lines = tuple(self._said_once("evidence", line) for line in judged.evidence)
            self._lines[judged.evidence] = lines
        held = row.get("gpu_memory_bytes")
        memory = self._memory.get(held) if type(held) is int else None
        if memory is None:
            memory = evidence("GPU memory", _memory_text(row), "NVML / nvidia-smi")
            if type(held) is int:
                self._memory[held] = memory
        ev = (
            Evidence("process", _who(row), ", ".join(row.get("sources") or ())),
            memory,
            *shared.evidence,
            *lines,
        )
        if judged.idle_seconds is not None:
            ev += (self._said_once("measured idle", f"{judged.idle_seconds:.0f} s"),)
        remedies = shared.remedies
        if judged.stale and judged.killable:
            remedies += (
                Remedy("Or stop it yourself.", (f"kill {pid}",), _KILL_PLATFORMS),
                Remedy("Or stop it yourself.", (f"taskkill /PID {pid}",), _TASKKILL_PLATFORMS),
            )
        title = f"{shared.title}{pid} {row.get('name') or ''}".rstrip()
        return Verdict(shared.severity, title, f"pid {pid}", ev, remedies, "", shared.offer_fix)

    def _said_once(self, label: str, value: str) -> Evidence:
        found = self._said.get((label, value))
        if found is None:
            found = self._said[label, value] = Evidence(label, value, _SOURCES[label])
        return found


#: Where GD402's per-holder evidence comes from, by label.
_SOURCES = {"evidence": "process table, NVML, Jupyter", "measured idle": "classifier"}


def _shared_part(judged: Judgement) -> _Shared:
    """The parts of a holder's verdict that follow from its class, reason and advice."""
    ev = (
        evidence("class", judged.cls, "classifier"),
        evidence("reason", judged.reason, "classifier"),
    )
    advice = [remedy(judged.advice[0].upper() + judged.advice[1:] + ".")] if judged.advice else []
    if not judged.stale:
        title = "Possibly stale, not proven: pid "
        return _Shared(Severity.INFO, title, ev, (_WATCH_FIRST, *advice), True)
    remedies = [*advice, _DRY_RUN] if judged.killable else advice
    if not judged.killable and judged.remedy:
        remedies.append(remedy("Its parent must collect it.", judged.remedy))
    severity = Severity.INFO if judged.confidence == LOW else Severity.WARN
    title = f"{judged.cls.replace('-', ' ').capitalize()} holds the GPU: pid "
    return _Shared(severity, title, ev, tuple(remedies), judged.killable)


def _driver_reserve(facts: Facts) -> dict[int, int]:
    """Per GPU index, the memory the driver keeps for itself (NVML v2), where it is known.

    NVML's v1 memory info (what the process inventory reads) counts it as used, so an idle
    80 GB GPU shows 0.5-1 GiB "used" with no process at all.
    """
    devices = facts.get("gpu.devices")
    if not isinstance(devices, (list, tuple)):
        return {}
    return {
        d["index"]: d["memory_reserved_bytes"]
        for d in devices
        if isinstance(d.get("index"), int) and isinstance(d.get("memory_reserved_bytes"), int)
    }


def _margin(device: Mapping[str, Any], reserve_known: bool) -> int:
    """Unattributed memory below this is noise (driver, context bookkeeping), per GPU.

    Where the driver's reserve is unknown it grows with the GPU: about 1.5% of its memory.
    """
    total = device.get("total_bytes")
    if reserve_known or not isinstance(total, int):
        return UNATTRIBUTED_MARGIN
    return max(UNATTRIBUTED_MARGIN, int(total * 0.015))


@check(
    "GD403",
    "unattributed-gpu-memory",
    summary="GPU memory in use that no visible process accounts for",
    requires=("gpu_processes.processes", "gpu_processes.devices"),
    uses=("gpu_processes.platform_kind", "gpu.devices"),
    tags=("gpu", "processes"),
)
def unattributed_gpu_memory(facts: Facts) -> Verdict:
    """Other containers, other WSL distros and Windows apps use the GPU where we cannot look."""
    rows = facts.get("gpu_processes.processes") or ()
    devices = [d for d in facts["gpu_processes"]["devices"] if isinstance(d.get("used_bytes"), int)]
    reserved = _driver_reserve(facts)
    used = sum(max(0, d["used_bytes"] - reserved.get(d.get("index"), 0)) for d in devices)
    hidden = []
    known = 0
    some_unknown = False  # a process on a GPU whose memory the driver does not report
    for row in rows:  # one pass: a replay may list 50k processes
        if not row.get("visible"):
            hidden.append(row)
        held = row.get("gpu_memory_bytes")
        if isinstance(held, int):
            known += held
        elif not some_unknown and row.get("gpu_indices"):
            some_unknown = True
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
    if reserved:
        ev.append(
            evidence(
                "kept by the driver itself",
                fmt_bytes(sum(reserved.values())),
                "nvmlDeviceGetMemoryInfo_v2 reserved (not counted)",
            )
        )
    if gap > sum(_margin(d, d.get("index") in reserved) for d in devices):
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
def gpu_process_visibility(facts: Facts) -> Verdict:
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
    sources = facts.get("gpu_processes.sources") or {}
    samples = sources.get("gpu_samples")
    if kind in ("wsl2", "windows") or (
        sources.get("nvml") == "ok" and isinstance(samples, Unavailable)
    ):
        why = samples.reason if isinstance(samples, Unavailable) else "not reported here"
        notes.append(
            f"GPU activity cannot be attributed to processes ({why}); a process is called "
            "finished only on host-side evidence (how long since it last ran on a CPU)"
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
