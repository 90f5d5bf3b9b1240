"""Containers: the shared-memory size Docker gives by default breaks DataLoader workers."""

from __future__ import annotations

from gpudoctor.api import (
    GiB,
    MiB,
    evidence,
    fail,
    fmt_bytes,
    passed,
    remedy,
    skip,
    warn,
)
from gpudoctor.facts.model import Facts
from gpudoctor.registry import check

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
def dev_shm_size(facts: Facts):
    """Workers pass every batch through /dev/shm; 64 MiB (Docker's default) ends in a bus error."""
    shm = facts["shm"]
    if not shm.get("applicable"):
        return skip(f"Not applicable: {shm.get('reason')}")
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
