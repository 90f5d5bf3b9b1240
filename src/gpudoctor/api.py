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
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.facts.model import is_available
from gpudoctor.model import Evidence
from gpudoctor.model import Finding
from gpudoctor.model import Remedy
from gpudoctor.model import Severity
from gpudoctor.model import Verdict
from gpudoctor.model import evidence
from gpudoctor.model import fail
from gpudoctor.model import info
from gpudoctor.model import passed
from gpudoctor.model import remedy
from gpudoctor.model import skip
from gpudoctor.model import verdict
from gpudoctor.model import warn
from gpudoctor.units import GiB
from gpudoctor.units import KiB
from gpudoctor.units import MiB
from gpudoctor.units import TiB
from gpudoctor.units import fmt_bytes

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
