"""Shared memory (/dev/shm): where DataLoader workers hand batches to the main process."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from gpudoctor.facts.model import NotApplicable
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

if TYPE_CHECKING:
    from gpudoctor.facts.sections import ShmFacts


@probe("shm", timeout=1.0)
def probe_shm(ctx: ProbeContext) -> ShmFacts | NotApplicable:
    """Size and free space of /dev/shm (Linux and WSL only)."""
    if sys.platform == "win32" or not ctx.platform.startswith("linux"):
        return NotApplicable(f"no /dev/shm on {ctx.platform}")
    path = ctx.path("/dev/shm")
    if not os.path.isdir(path):
        return {"present": False, "path": "/dev/shm"}
    stats = os.statvfs(path)
    return {
        "present": True,
        "path": "/dev/shm",
        "total_bytes": stats.f_blocks * stats.f_frsize,
        "free_bytes": stats.f_bavail * stats.f_frsize,
        "source": "statvfs(/dev/shm)",
    }
