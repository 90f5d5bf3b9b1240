"""How a check is declared: :func:`check` and the :class:`CheckSpec` it attaches.

This is the lowest layer of the framework (it needs only the findings model), so check
modules (built-in or plugin) can declare themselves without importing the registry that
loads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import Callable
from typing import NamedTuple

from gpudoctor.model import Finding
from gpudoctor.model import Severity
from gpudoctor.model import Verdict

SPEC_ATTR = "__gpudoctor_check__"
_WARN_RANK = Severity.WARN.rank

CheckFunc = Callable[..., Any]


class CheckSpec(NamedTuple):
    """A declared check: its stable id and name, the facts it needs, and its fix."""

    id: str
    name: str
    summary: str
    func: CheckFunc | None
    requires: tuple[str, ...] = ()
    #: Facts read when present, without which the check still runs (it says what it lacks).
    uses: tuple[str, ...] = ()
    fix: str | None = None
    tags: tuple[str, ...] = ()
    deep: bool = False
    #: Where the reference page lives (built-ins: ``checks/<ID>.md``; plugins: a URL).
    reference: str = ""
    #: Which distribution supplied the check ("gpudoctor" for built-ins).
    origin: str = "gpudoctor"
    doc: str = ""

    def finding(self, verdict: Verdict) -> Finding:
        """The verdict as this check's finding; the fix is offered on a warning or worse."""
        offers_fix = self.fix if verdict.offer_fix and verdict.severity.rank >= _WARN_RANK else None
        # Positional: a check may return 33k verdicts (a replay's stale processes).
        return Finding(
            self.id,
            self.name,
            verdict.severity,
            verdict.title,
            verdict.subject,
            verdict.evidence,
            verdict.remedies,
            offers_fix,
            self.reference,
            verdict.details,
        )


def check(
    id: str,
    name: str,
    *,
    summary: str,
    requires: Iterable[str] = (),
    uses: Iterable[str] = (),
    fix: str | None = None,
    tags: Iterable[str] = (),
    deep: bool = False,
    reference: str = "",
) -> Callable[[CheckFunc], CheckFunc]:
    """Declare a check. The function takes the facts and returns verdicts (or None)."""

    def decorate(func: CheckFunc) -> CheckFunc:
        spec = CheckSpec(
            id=id,
            name=name,
            summary=summary,
            func=func,
            requires=tuple(requires),
            uses=tuple(uses),
            fix=fix,
            tags=tuple(tags),
            deep=deep,
            reference=reference or f"checks/{id}.md",
            doc=(func.__doc__ or "").strip(),
        )
        setattr(func, SPEC_ATTR, spec)
        return func

    return decorate
