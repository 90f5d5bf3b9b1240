"""Facts: what the probes saw, frozen, schema-versioned and replayable. Pure data."""

from __future__ import annotations

from gpudoctor.facts.model import SCHEMA_VERSION
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import ProbeRecord
from gpudoctor.facts.model import Unavailable
from gpudoctor.facts.model import is_available

__all__ = [
    "SCHEMA_VERSION",
    "Facts",
    "NotApplicable",
    "ProbeRecord",
    "Unavailable",
    "is_available",
]
