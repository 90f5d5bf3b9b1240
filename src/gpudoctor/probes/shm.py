"""Shared memory (/dev/shm): where DataLoader workers hand batches to the main process."""

from __future__ import annotations

import os
from typing import Any

from gpudoctor.probes._base import ProbeContext, probe


@probe("shm", timeout=1.0)
def probe_shm(ctx: ProbeContext) -> dict[str, Any]:
    """Size and free space of /dev/shm (Linux and WSL only)."""
    if not ctx.platform.startswith("linux"):
        return {"applicable": False, "reason": f"no /dev/shm on {ctx.platform}"}
    path = ctx.path("/dev/shm")
    if not path.is_dir():
        return {"applicable": True, "present": False, "path": "/dev/shm"}
    stats = os.statvfs(path)
    return {
        "applicable": True,
        "present": True,
        "path": "/dev/shm",
        "total_bytes": stats.f_blocks * stats.f_frsize,
        "free_bytes": stats.f_bavail * stats.f_frsize,
        "source": "statvfs(/dev/shm)",
    }
