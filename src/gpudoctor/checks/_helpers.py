"""Small builders that keep check bodies short: verdicts, evidence, remedies, units."""

from __future__ import annotations

from collections.abc import Iterable

from gpudoctor.model import Evidence, Remedy, Severity, Verdict

__all__ = [
    "evidence",
    "fail",
    "fmt_bytes",
    "info",
    "passed",
    "remedy",
    "skip",
    "verdict",
    "warn",
]

GiB = 1024**3
MiB = 1024**2


def evidence(label: str, value: object, source: str = "") -> Evidence:
    return Evidence(label, str(value), source)


def remedy(text: str, *commands: str, platforms: Iterable[str] = ()) -> Remedy:
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
    return Verdict(
        severity=severity,
        title=title,
        subject=subject,
        evidence=tuple(evidence),
        remedies=tuple(remedies),
        details=details,
        offer_fix=offer_fix,
    )


def passed(title: str, **kwargs: object) -> Verdict:
    return verdict(Severity.PASS, title, **kwargs)  # type: ignore[arg-type]


def info(title: str, **kwargs: object) -> Verdict:
    return verdict(Severity.INFO, title, **kwargs)  # type: ignore[arg-type]


def skip(title: str, **kwargs: object) -> Verdict:
    return verdict(Severity.SKIP, title, **kwargs)  # type: ignore[arg-type]


def warn(title: str, **kwargs: object) -> Verdict:
    return verdict(Severity.WARN, title, **kwargs)  # type: ignore[arg-type]


def fail(title: str, **kwargs: object) -> Verdict:
    return verdict(Severity.FAIL, title, **kwargs)  # type: ignore[arg-type]


def fmt_bytes(value: float | int | None) -> str:
    """``17179869184`` -> ``16.0 GiB``; binary units, as free(1) -h and Task Manager use."""
    if value is None:
        return "unknown"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - loop always returns
