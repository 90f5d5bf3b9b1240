"""What every human-facing format shares: areas, counts in words, platform filter, collapsing.

Pure functions of findings and facts, so the terminal and the Markdown report group, count
and filter in exactly the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

from gpudoctor.model import Evidence
from gpudoctor.model import Finding
from gpudoctor.model import Remedy
from gpudoctor.model import Severity

#: Id prefix -> area, in the order a report shows them (GPU first, the cluster last).
AREAS: tuple[tuple[str, str], ...] = (
    ("GD1", "GPU & driver"),
    ("GD2", "torch install"),
    ("GD3", "memory"),
    ("GD4", "GPU processes"),
    ("GD5", "WSL"),
    ("GD6", "training"),
    ("GD7", "measurements"),
    ("GD8", "run"),
    ("GD0", "cluster"),
    ("GD9", "gpudoctor itself"),
)
OTHER_AREA = "plugins"

#: Remedy platforms (``Remedy.platforms``) that a host kind and container runtime make relevant.
_KIND_PLATFORMS = {
    "linux": ("linux",),
    "wsl2": ("wsl", "windows"),
    "wsl1": ("wsl", "windows"),
    "wsl": ("wsl", "windows"),
    "windows": ("windows",),
    "macos": ("macos",),
}
_RUNTIME_PLATFORMS = {
    "docker": ("docker",),
    "podman": ("docker",),
    "kubernetes": ("kubernetes", "docker"),
}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 problem``, ``2 problems``; ``many`` for irregular plurals."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


@functools.cache
def area_of(check_id: str) -> str:
    """The area a check id belongs to; ids outside gpudoctor's blocks are plugins.

    Cached: a report of 50k stale holders asks for the same id 33k times."""
    for prefix, name in AREAS:
        if check_id.startswith(prefix) and check_id[len(prefix) :].isdigit():
            return name
    return OTHER_AREA


class Area(NamedTuple):
    """The findings of one area and how it reads at a glance."""

    name: str
    findings: tuple[Finding, ...]

    @property
    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    @property
    def shown(self) -> tuple[Finding, ...]:
        """Findings worth a line without ``-v``: everything from ``info`` up."""
        return tuple(f for f in self.findings if f.severity.rank >= Severity.INFO.rank)

    @property
    def passes(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.PASS)

    @property
    def skips(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.SKIP)

    @property
    def headline(self) -> str:
        """One line for an area where all is well: the first passing check's own words."""
        passes = sorted(self.passes, key=lambda f: f.check_id)
        if not passes:
            return "not applicable here"
        more = len(passes) - 1
        return passes[0].title + (f" (+{plural(more, 'more check')})" if more else "")


def group_by_area(findings: Iterable[Finding]) -> list[Area]:
    """Findings grouped by area in :data:`AREAS` order, each area's findings worst first."""
    buckets: dict[str, list[Finding]] = {}
    for finding in findings:
        buckets.setdefault(area_of(finding.check_id), []).append(finding)
    order = [name for _, name in AREAS] + [OTHER_AREA]
    return [
        Area(name, tuple(sorted(buckets[name], key=lambda f: (-f.severity.rank, f.check_id))))
        for name in order
        if name in buckets
    ]


def count_words(counts: Mapping[str, int]) -> str:
    """Problems in words, passes left out: ``1 problem, 2 warnings`` or ``no problems``."""
    parts = [
        plural(counts.get("fail", 0), "problem"),
        plural(counts.get("error", 0), "error"),
        plural(counts.get("warn", 0), "warning"),
        plural(counts.get("info", 0), "note"),
    ]
    parts = [p for p in parts if not p.startswith("0 ")]
    return ", ".join(parts) if parts else "no problems"


def report_platforms(facts: Any) -> frozenset[str] | None:
    """The remedy platforms a report is about, from ``host.kind`` and ``host.container``.

    None when the host is unknown (then every remedy is shown).
    """
    host = facts.get("host") if facts is not None else None
    if not isinstance(host, Mapping):
        return None
    platforms = set(_KIND_PLATFORMS.get(str(host.get("kind") or ""), ()))
    if not platforms:
        return None
    container = host.get("container")
    if isinstance(container, Mapping) and container.get("in_container"):
        runtime = str(container.get("runtime") or "")
        platforms.update(_RUNTIME_PLATFORMS.get(runtime, ("docker", "kubernetes")))
    return frozenset(platforms)


def remedies_for(
    remedies: Sequence[Remedy], platforms: frozenset[str] | None
) -> tuple[Remedy, ...]:
    """The remedies that apply on ``platforms``; all of them when none would be left."""
    if platforms is None:
        return tuple(remedies)
    kept = tuple(r for r in remedies if not r.platforms or platforms & set(r.platforms))
    return kept or tuple(remedies)


def collapse_evidence(items: Iterable[Evidence]) -> list[tuple[Evidence, int]]:
    """Identical evidence lines once each, with how often they occurred, first order kept."""
    counts: dict[Evidence, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return list(counts.items())


def collapse_skips(findings: Iterable[Finding]) -> list[tuple[str, list[str]]]:
    """Skipped findings grouped by their reason: ``(reason, [ids])``, first order kept."""
    groups: dict[str, list[str]] = {}
    for finding in findings:
        ids = groups.setdefault(finding.title, [])
        if finding.check_id not in ids:
            ids.append(finding.check_id)
    return list(groups.items())
