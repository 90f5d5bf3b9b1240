"""Training logs named with ``check --log`` or ``report --log``: read offline, never run."""

from __future__ import annotations

from typing import Any

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

#: What reading the logs may take inside ``check`` (a huge log is read in part, and says so).
LOG_PROBE_SECONDS = 50.0


def _enabled(ctx: ProbeContext) -> bool:
    return bool(ctx.options.get("logs"))


@probe("run_log", timeout=LOG_PROBE_SECONDS + 5, enabled=_enabled)
def probe_run_log(ctx: ProbeContext) -> dict[str, Any]:
    """The run_log section: what each --log file says about the run."""
    from gpudoctor.readers.logs import read_logs

    return read_logs(
        [str(p) for p in ctx.options.get("logs") or ()],
        configs=[str(p) for p in ctx.options.get("configs") or ()],
        budget=LOG_PROBE_SECONDS,
    )
