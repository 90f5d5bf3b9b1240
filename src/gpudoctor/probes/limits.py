"""Per-process resource limits that training trips over (open files for tensor sharing)."""

from __future__ import annotations

from typing import Any

from gpudoctor.probes._base import ProbeContext, probe


@probe("limits", timeout=1.0)
def probe_limits(ctx: ProbeContext) -> dict[str, Any]:
    """The open-files limit (RLIMIT_NOFILE), soft and hard, on POSIX systems."""
    if ctx.platform.startswith("win"):
        return {"applicable": False, "reason": "Windows has no RLIMIT_NOFILE", "nofile": None}
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    return {
        "applicable": True,
        "nofile": {
            "soft": None if soft == unlimited else soft,
            "hard": None if hard == unlimited else hard,
            "source": "getrlimit(RLIMIT_NOFILE)",
        },
    }
