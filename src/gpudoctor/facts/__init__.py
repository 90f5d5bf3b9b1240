"""Facts: what the probes saw, frozen, schema-versioned and replayable."""

from __future__ import annotations

from gpudoctor.facts.model import SCHEMA_VERSION, Facts, ProbeRecord, Unavailable, is_available

__all__ = ["SCHEMA_VERSION", "Facts", "ProbeRecord", "Unavailable", "collect", "is_available"]


def collect(options=None, *, deep: bool = False, budget: float | None = None, progress=None):  # type: ignore[no-untyped-def]
    """Gather facts from this machine with every built-in probe."""
    from gpudoctor.probes import ProbeContext, all_probes
    from gpudoctor.probes.gather import DEEP_BUDGET, DEFAULT_BUDGET, gather

    ctx = ProbeContext(options=dict(options or {}), deep=deep)
    default = DEEP_BUDGET if deep else DEFAULT_BUDGET
    return gather(ctx, all_probes(deep=deep), budget=budget or default, progress=progress)
