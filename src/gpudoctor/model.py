"""The data a check produces: severities, evidence, remedies and findings.

Everything here is frozen and JSON-friendly, so that a finding computed on a user's
machine and one replayed from their snapshot compare equal.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Iterable
from typing import Any
from typing import NamedTuple


class Severity(str, enum.Enum):
    """How much a finding matters; ``rank`` orders them for exit codes and sorting."""

    PASS = "pass"
    SKIP = "skip"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANKS[self._value_]  # by value: an enum member's hash is a Python call

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None

    def __str__(self) -> str:
        return self.value


_RANKS = {
    Severity.PASS.value: 0,
    Severity.SKIP.value: 1,
    Severity.INFO.value: 2,
    Severity.WARN.value: 3,
    Severity.FAIL.value: 4,
    Severity.ERROR.value: 5,
}

#: A finding's (or verdict's) severity as its value, read in C: ``Severity.value`` is a
#: Python-level property, and a replay's report may hold 33k findings, counted often.
severity_value = operator.attrgetter("severity._value_")

#: Severities that make ``gpudoctor check`` exit with 1.
PROBLEM_SEVERITIES = frozenset({Severity.WARN, Severity.FAIL, Severity.ERROR})


class Evidence(NamedTuple):
    """One measured value and where it was read, e.g. ``MemAvailable`` from ``/proc/meminfo``."""

    label: str
    value: str
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        return cls(str(data["label"]), str(data["value"]), str(data.get("source", "")))


class Remedy(NamedTuple):
    """Something the user can do: a sentence, optionally exact commands, optionally per platform.

    ``platforms`` is empty when the remedy applies everywhere; otherwise it names the
    platforms (``linux``, ``wsl``, ``windows``, ``macos``, ``docker``) it is written for.
    """

    text: str
    commands: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "commands": list(self.commands),
            "platforms": list(self.platforms),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Remedy:
        return cls(
            str(data["text"]),
            tuple(str(c) for c in data.get("commands", ())),
            tuple(str(p) for p in data.get("platforms", ())),
        )


class Finding(NamedTuple):
    """The verdict of one check on one subject, with the numbers behind it and what to do."""

    check_id: str
    name: str
    severity: Severity
    title: str
    subject: str = ""
    evidence: tuple[Evidence, ...] = ()
    remedies: tuple[Remedy, ...] = ()
    fix: str | None = None
    reference: str = ""
    details: str = ""

    @property
    def is_problem(self) -> bool:
        return self.severity in PROBLEM_SEVERITIES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "name": self.name,
            "severity": self.severity.value,
            "title": self.title,
            "subject": self.subject,
            "evidence": [e.to_json() for e in self.evidence],
            "remedies": [r.to_json() for r in self.remedies],
            "fix": self.fix,
            "reference": self.reference,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            check_id=str(data["id"]),
            name=str(data["name"]),
            severity=Severity.parse(str(data["severity"])),
            title=str(data["title"]),
            subject=str(data.get("subject", "")),
            evidence=tuple(Evidence.from_json(e) for e in data.get("evidence", ())),
            remedies=tuple(Remedy.from_json(r) for r in data.get("remedies", ())),
            fix=data.get("fix"),
            reference=str(data.get("reference", "")),
            details=str(data.get("details", "")),
        )


class Verdict(NamedTuple):
    """What a check returns before the registry stamps its id, name and reference on it.

    Checks build these with the helpers in :mod:`gpudoctor.checks._helpers` (``passed``,
    ``warn``, ``fail`` ...) so a check body stays a few lines long.
    """

    severity: Severity
    title: str
    subject: str = ""
    evidence: tuple[Evidence, ...] = ()
    remedies: tuple[Remedy, ...] = ()
    details: str = ""
    offer_fix: bool = True


# -- builders that keep check bodies short ----------------------------------------------


def evidence(label: str, value: object, source: str = "") -> Evidence:
    """One measured value, stringified, and where it was read."""
    return Evidence(label, str(value), source)


def remedy(text: str, *commands: str, platforms: Iterable[str] = ()) -> Remedy:
    """Something to do, with exact commands, optionally only for some platforms."""
    return Remedy(text, tuple(commands), tuple(platforms))


def verdict(
    severity: Severity,
    title: str,
    *,
    subject: str = "",
    evidence: Iterable[Evidence] = (),
    remedies: Iterable[Remedy] = (),
    details: str = "",
    offer_fix: bool = True,
) -> Verdict:
    """A verdict of any severity; the shortcuts below name the common ones."""
    return Verdict(
        severity=severity,
        title=title,
        subject=subject,
        evidence=tuple(evidence),
        remedies=tuple(remedies),
        details=details,
        offer_fix=offer_fix,
    )


def passed(title: str, **kwargs: Any) -> Verdict:
    return verdict(Severity.PASS, title, **kwargs)


def info(title: str, **kwargs: Any) -> Verdict:
    return verdict(Severity.INFO, title, **kwargs)


def skip(title: str, **kwargs: Any) -> Verdict:
    return verdict(Severity.SKIP, title, **kwargs)


def warn(title: str, **kwargs: Any) -> Verdict:
    return verdict(Severity.WARN, title, **kwargs)


def fail(title: str, **kwargs: Any) -> Verdict:
    return verdict(Severity.FAIL, title, **kwargs)
