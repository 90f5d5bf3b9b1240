"""Per-process resource limits that training trips over (open files for tensor sharing)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from gpudoctor.facts.model import NotApplicable
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

if TYPE_CHECKING:
    from gpudoctor.facts.sections import LimitsFacts


@probe("limits", timeout=1.0)
def probe_limits(ctx: ProbeContext) -> LimitsFacts | NotApplicable:
    """The open-files limit (RLIMIT_NOFILE), soft and hard, on POSIX systems."""
    if sys.platform == "win32" or ctx.platform.startswith("win"):
        return NotApplicable("Windows has no RLIMIT_NOFILE")
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    return {
        "nofile": {
            "soft": None if soft == unlimited else soft,
            "hard": None if hard == unlimited else hard,
            "source": "getrlimit(RLIMIT_NOFILE)",
        },
    }
