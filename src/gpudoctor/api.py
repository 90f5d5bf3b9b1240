"""The public plugin API: everything a third-party check needs, and nothing else.

A plugin module imports from here only::

    from gpudoctor.api import Facts, check, evidence, fail, passed, remedy

    @check("ACME001", "acme-driver-pin", summary="...", requires=("gpu.driver_version",))
    def driver_pin(facts: Facts) -> Verdict | None:
        ...

and declares the module in the ``gpudoctor.checks`` entry-point group under its id prefix.
Names here keep their meaning across minor versions; anything imported from elsewhere in
gpudoctor may move.
"""

from __future__ import annotations

from gpudoctor.declare import check
from gpudoctor.facts.model import Facts, NotApplicable, Unavailable, is_available
from gpudoctor.model import (
    Evidence,
    Finding,
    Remedy,
    Severity,
    Verdict,
    evidence,
    fail,
    info,
    passed,
    remedy,
    skip,
    verdict,
    warn,
)
from gpudoctor.units import GiB, KiB, MiB, TiB, fmt_bytes

__all__ = [
    "Evidence",
    "Facts",
    "Finding",
    "GiB",
    "KiB",
    "MiB",
    "NotApplicable",
    "Remedy",
    "Severity",
    "TiB",
    "Unavailable",
    "Verdict",
    "check",
    "evidence",
    "fail",
    "fmt_bytes",
    "info",
    "is_available",
    "passed",
    "remedy",
    "skip",
    "verdict",
    "warn",
]
