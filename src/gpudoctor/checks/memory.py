"""GD3xx: host RAM and swap, shared memory and process limits."""

from __future__ import annotations

from gpudoctor.api import GiB
from gpudoctor.api import MiB
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import fmt_bytes
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.facts.model import Facts
from gpudoctor.model import Verdict

# -- RAM and swap --------------------------------------------------------------------------

#: Available RAM below these shares of the total (or absolute sizes) is a problem.
FAIL_AVAILABLE_SHARE, WARN_AVAILABLE_SHARE = 0.05, 0.15
FAIL_AVAILABLE_BYTES, WARN_AVAILABLE_BYTES = 1 * GiB, 2 * GiB
#: Swap traffic, in pages per second (4 KiB pages): ~1 MiB/s is swapping, ~10 MiB/s thrashing.
WARN_SWAP_PAGES, FAIL_SWAP_PAGES = 256, 2560
#: Share of time all tasks stalled on memory (PSI "full avg10", percent).
WARN_PSI_FULL = 10.0

_LOWER_MEMORY = remedy(
    "Give training more room: fewer DataLoader workers or a smaller prefetch_factor, no "
    "in-RAM dataset caching, and close other memory-hungry programs (browsers, IDE indexers, "
    "old Jupyter kernels)."
)


def _available(facts: Facts) -> tuple[int, int, str]:
    """Total and available bytes, taking a container's cgroup limit into account."""
    total = facts["memory"]["total_bytes"]
    available = facts["memory"]["available_bytes"]
    where = facts["memory"].get("source", "")
    cgroup = facts["memory"].get("cgroup") or {}
    limit, current = cgroup.get("limit_bytes"), cgroup.get("current_bytes")
    if limit and current is not None and limit < total:
        return limit, min(available, max(0, limit - current)), "cgroup memory.max"
    return total, available, where


@check(
    "GD301",
    "host-memory-pressure",
    summary="Enough host RAM is free for training",
    requires=("memory.total_bytes", "memory.available_bytes"),
    uses=("memory.cgroup", "memory.pressure", "memory.source"),
    tags=("memory",),
)
def host_memory_pressure(facts: Facts) -> Verdict | list[Verdict]:
    """Flag a machine whose available RAM is nearly gone before training even starts."""
    total, available, source = _available(facts)
    share = available / total if total else 0.0
    ev = [
        evidence("total", fmt_bytes(total), source),
        evidence("available", f"{fmt_bytes(available)} ({share:.0%})", source),
    ]
    psi = facts.get("memory.pressure")
    if psi and psi.get("full_avg10") is not None:
        ev.append(
            evidence(
                "memory stall (PSI full, 10 s)",
                f"{psi['full_avg10']:.1f}%",
                "/proc/pressure/memory",
            )
        )
    if share < FAIL_AVAILABLE_SHARE or available < FAIL_AVAILABLE_BYTES:
        return fail(
            f"Host RAM is nearly exhausted: {fmt_bytes(available)} of {fmt_bytes(total)} available",
            evidence=ev,
            remedies=[_LOWER_MEMORY],
        )
    if share < WARN_AVAILABLE_SHARE or available < WARN_AVAILABLE_BYTES:
        return warn(
            f"Host RAM is low: {fmt_bytes(available)} of {fmt_bytes(total)} available",
            evidence=ev,
            remedies=[_LOWER_MEMORY],
        )
    if psi and (psi.get("full_avg10") or 0) >= WARN_PSI_FULL:
        return warn(
            f"Processes are stalling on memory {psi['full_avg10']:.0f}% of the time",
            evidence=ev,
            remedies=[_LOWER_MEMORY],
        )
    return passed(
        f"{fmt_bytes(available)} of {fmt_bytes(total)} RAM available ({share:.0%})", evidence=ev
    )


@check(
    "GD302",
    "swap-activity",
    summary="The machine is not swapping",
    requires=("memory.swap_total_bytes", "memory.swap_free_bytes"),
    uses=("memory.source", "memory.swap_activity"),
    tags=("memory",),
)
def swap_activity(facts: Facts) -> Verdict | list[Verdict]:
    """Swap traffic right now means every step waits on the disk; used swap alone is history."""
    memory = facts["memory"]
    total, free = memory["swap_total_bytes"], memory["swap_free_bytes"]
    used = max(0, total - free)
    activity = memory.get("swap_activity") or {}
    rate_in, rate_out = activity.get("pages_in_per_s"), activity.get("pages_out_per_s")
    ev = [
        evidence("swap used", f"{fmt_bytes(used)} of {fmt_bytes(total)}", memory.get("source", "")),
    ]
    if rate_in is not None and rate_out is not None:
        ev.append(
            evidence(
                "swap traffic",
                f"{rate_in:.0f} pages/s in, {rate_out:.0f} pages/s out "
                f"over {activity.get('seconds') or 0:.1f} s",
                "/proc/vmstat pswpin/pswpout",
            )
        )
        traffic = rate_in + rate_out
        remedies = [
            _LOWER_MEMORY,
            remedy(
                "Find what holds the memory.",
                "ps aux --sort=-rss | head",
                platforms=("linux", "wsl"),
            ),
        ]
        if traffic >= FAIL_SWAP_PAGES:
            return fail(
                f"The machine is thrashing: {traffic * 4 / 1024:.1f} MiB/s of swap traffic",
                evidence=ev,
                remedies=remedies,
            )
        if traffic >= WARN_SWAP_PAGES:
            return warn(
                f"The machine is swapping: {traffic * 4 / 1024:.1f} MiB/s of swap traffic",
                evidence=ev,
                remedies=remedies,
            )
    measured = rate_in is not None and rate_out is not None
    traffic_now = (rate_in or 0) + (rate_out or 0)
    if not measured:
        why = activity.get("reason") if hasattr(activity, "get") else None
        return skip(
            f"Swap traffic could not be measured{f' ({why})' if why else ''}; "
            f"{fmt_bytes(used)} of {fmt_bytes(total)} swap in use",
            evidence=ev,
        )
    if traffic_now > 0:
        return info(
            f"Light swap traffic now ({traffic_now:.0f} pages/s, "
            f"{traffic_now * 4:.0f} KiB/s): below the level that slows training "
            f"({WARN_SWAP_PAGES} pages/s); {fmt_bytes(used)} of {fmt_bytes(total)} swap in use",
            evidence=ev,
        )
    if total == 0:
        return passed("No swap is configured and none is needed right now", evidence=ev)
    if used > 0.5 * total:
        return info(
            f"{fmt_bytes(used)} of swap is in use, but there is no swap traffic now",
            evidence=ev,
            remedies=[
                remedy(
                    "Memory was short earlier; if training slows down, check swap traffic "
                    "with 'vmstat 1' while it runs.",
                    "vmstat 1",
                    platforms=("linux", "wsl"),
                )
            ],
        )
    return passed(
        f"No swap traffic ({fmt_bytes(used)} of {fmt_bytes(total)} swap used)", evidence=ev
    )


# -- shared memory -------------------------------------------------------------------------

FAIL_SHM_BYTES = 256 * MiB
WARN_SHM_BYTES = 1 * GiB

_SHM_REMEDIES = [
    remedy(
        "Start the container with more shared memory (or share the host's IPC namespace).",
        "docker run --shm-size=8g ...",
        "docker run --ipc=host ...",
        platforms=("docker",),
    ),
    remedy("With docker compose, set it per service.", "shm_size: '8gb'", platforms=("docker",)),
    remedy(
        "On Kubernetes, mount an emptyDir with medium: Memory at /dev/shm.",
        platforms=("kubernetes",),
    ),
    remedy(
        "Or make batches in flight smaller: fewer workers, a lower prefetch_factor, "
        "smaller batches."
    ),
]


@check(
    "GD303",
    "dev-shm-size",
    summary="/dev/shm is large enough for DataLoader workers",
    requires=("shm", "host.container"),
    tags=("memory", "containers"),
)
def dev_shm_size(facts: Facts) -> Verdict | list[Verdict]:
    """Workers pass every batch through /dev/shm; 64 MiB (Docker's default) ends in a bus error."""
    shm = facts["shm"]
    if not shm.get("present"):
        return warn(
            "/dev/shm does not exist; DataLoader workers cannot share batches",
            remedies=_SHM_REMEDIES,
        )
    container = facts["host"]["container"]
    total = shm["total_bytes"]
    ev = [
        evidence("/dev/shm size", fmt_bytes(total), shm.get("source", "statvfs")),
        evidence("/dev/shm free", fmt_bytes(shm.get("free_bytes")), shm.get("source", "statvfs")),
        evidence(
            "container",
            container.get("runtime") or "none detected",
            "; ".join(container.get("signals") or ()) or "host probe",
        ),
    ]
    if total < FAIL_SHM_BYTES:
        return fail(
            f"/dev/shm is only {fmt_bytes(total)}: DataLoader workers will die with "
            "'bus error ... insufficient shared memory'",
            evidence=ev,
            remedies=_SHM_REMEDIES,
        )
    if total < WARN_SHM_BYTES:
        return warn(
            f"/dev/shm is {fmt_bytes(total)}: enough for small batches only",
            evidence=ev,
            remedies=_SHM_REMEDIES,
        )
    return passed(f"/dev/shm is {fmt_bytes(total)}", evidence=ev)


# -- process limits ------------------------------------------------------------------------

WARN_NOFILE = 1024
INFO_NOFILE = 4096


@check(
    "GD304",
    "open-files-limit",
    summary="The open-files limit is high enough for tensor sharing",
    requires=("limits",),
    tags=("limits",),
)
def open_files_limit(facts: Facts) -> Verdict | list[Verdict]:
    """A soft RLIMIT_NOFILE of 1024 (256 on macOS) ends in 'Too many open files' with workers."""
    limits = facts["limits"]
    nofile = limits["nofile"]
    soft, hard = nofile.get("soft"), nofile.get("hard")
    ev = [
        evidence("soft limit", soft if soft is not None else "unlimited", nofile.get("source", "")),
        evidence("hard limit", hard if hard is not None else "unlimited", nofile.get("source", "")),
    ]
    if soft is None or soft >= INFO_NOFILE:
        return passed(
            f"Open-files limit is {soft if soft is not None else 'unlimited'}", evidence=ev
        )
    target = INFO_NOFILE if hard is None else min(hard, 65536)
    if target > soft:
        raise_it = remedy(
            "Raise the soft limit in the shell that starts training (up to the hard limit).",
            f"ulimit -n {target}",
            platforms=("linux", "wsl", "macos"),
        )
    else:
        # soft == hard: 'ulimit -n' cannot go higher; the hard limit itself must be raised.
        raise_it = remedy(
            f"The hard limit is also {hard}, so 'ulimit -n' cannot raise it: raise the hard "
            "limit (as root: a 'nofile' line in /etc/security/limits.conf, LimitNOFILE= for a "
            "systemd service, docker run --ulimit nofile=65536:65536, or launchctl limit "
            "maxfiles on macOS), then log in again.",
            "docker run --ulimit nofile=65536:65536 ...",
        )
    remedies = [
        raise_it,
        remedy(
            "Or switch PyTorch's sharing strategy at the top of your script (uses /dev/shm "
            "files instead of descriptors).",
            "torch.multiprocessing.set_sharing_strategy('file_system')",
        ),
    ]
    if soft < WARN_NOFILE:
        return warn(
            f"Open-files limit is only {soft}: DataLoader workers can fail with "
            "'Too many open files'",
            evidence=ev,
            remedies=remedies,
        )
    return info(
        f"Open-files limit is {soft}; raise it if workers report 'Too many open files'",
        evidence=ev,
        remedies=remedies,
    )
