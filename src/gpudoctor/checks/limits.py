"""Process limits: PyTorch shares each worker tensor through a file descriptor by default."""

from __future__ import annotations

from gpudoctor.api import evidence, info, passed, remedy, skip, warn
from gpudoctor.facts.model import Facts
from gpudoctor.registry import check

WARN_NOFILE = 1024
INFO_NOFILE = 4096


@check(
    "GD304",
    "open-files-limit",
    summary="The open-files limit is high enough for tensor sharing",
    requires=("limits",),
    tags=("limits",),
)
def open_files_limit(facts: Facts):
    """A soft RLIMIT_NOFILE of 1024 (256 on macOS) ends in 'Too many open files' with workers."""
    limits = facts["limits"]
    if not limits.get("applicable"):
        return skip(f"Not applicable: {limits.get('reason')}")
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
    remedies = [
        remedy(
            "Raise the soft limit in the shell that starts training (up to the hard limit).",
            f"ulimit -n {target}",
            platforms=("linux", "wsl", "macos"),
        ),
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
