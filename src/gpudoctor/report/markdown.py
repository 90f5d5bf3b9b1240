"""Markdown for a GitHub issue: the verdict first, problems only, the rest folded away.

The findings table lists what needs a look (notes, warnings, failures, errors); passes and
skips each fold into one ``<details>`` so a reader sees the problem before anything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Sequence

from gpudoctor._version import __version__
from gpudoctor.model import Finding
from gpudoctor.model import Severity
from gpudoctor.report.summary import collapse_evidence
from gpudoctor.report.summary import collapse_skips
from gpudoctor.report.summary import count_words
from gpudoctor.report.summary import plural
from gpudoctor.report.summary import remedies_for
from gpudoctor.report.summary import report_platforms
from gpudoctor.runner import Report

ICONS = {
    Severity.PASS: "✅",
    Severity.SKIP: "⏭️",
    Severity.INFO: "ℹ️",
    Severity.WARN: "⚠️",
    Severity.FAIL: "❌",
    Severity.ERROR: "💥",
}
_ICONS = ICONS  # the ticket and cluster renderers share the icons


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


_cell = cell


def finding_section(
    finding: Finding, platforms: frozenset[str] | None = None, *, level: int = 4
) -> list[str]:
    """One problem in full: evidence, remedies for the report's platform, fix, reference."""
    lines = [
        f"{'#' * level} {ICONS[finding.severity]} {finding.check_id} `{finding.name}` — "
        f"{finding.title}",
        "",
    ]
    if finding.evidence:
        lines.append("Evidence:")
        for e, times in collapse_evidence(finding.evidence):
            where = f" (from {e.source})" if e.source else ""
            again = f" ×{times}" if times > 1 else ""
            lines.append(f"- {e.label}: `{e.value}`{where}{again}")
        lines.append("")
    remedies = remedies_for(finding.remedies, platforms)
    if remedies:
        lines.append("What to do:")
        for r in remedies:
            where = f" *({', '.join(r.platforms)})*" if r.platforms and platforms is None else ""
            lines.append(f"- {r.text}{where}")
            if r.commands:
                lines += ["", "  ```", *(f"  {c}" for c in r.commands), "  ```", ""]
        lines.append("")
    if finding.fix:
        lines.append(f"Automatic fix: `gpudoctor fix --{finding.fix}`")
        lines.append("")
    lines.append(f"Reference: `gpudoctor explain {finding.check_id}`")
    lines.append("")
    return lines


def _finding_section(finding: Finding) -> list[str]:
    return finding_section(finding)


def verdict_line(report: Report) -> str:
    """``**Verdict: ...** (1 problem, 2 warnings)``: problems counted, passes left out."""
    counts = report.counts
    words = count_words(counts)
    checked = plural(counts["pass"] + counts["info"] + counts["warn"] + counts["fail"], "check")
    return f"**Verdict: {report.verdict}** ({words} in {checked})"


def details(summary: str, body: Iterable[str]) -> list[str]:
    """``body`` folded under ``summary`` (GitHub renders it closed), blank lines around it."""
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>", ""]


def findings_table(findings: Sequence[Finding]) -> list[str]:
    """The table of problems, then passes and skips folded into one ``<details>`` each."""
    problems = [f for f in findings if f.severity.rank >= Severity.INFO.rank]
    lines: list[str] = []
    if problems:
        lines += ["| | ID | Check | Result |", "|---|---|---|---|"]
        lines += [
            f"| {ICONS[f.severity]} {f.severity.value} | {f.check_id} | `{f.name}` "
            f"| {cell(f.title)} |"
            for f in problems
        ]
        lines.append("")
    passes = [f for f in findings if f.severity is Severity.PASS]
    if passes:
        lines += details(
            f"{plural(len(passes), 'check')} passed",
            (f"- {f.check_id} `{f.name}`: {f.title}" for f in passes),
        )
    skips = [f for f in findings if f.severity is Severity.SKIP]
    if skips:
        lines += details(
            f"{plural(len(skips), 'check')} not applicable here",
            (f"- {', '.join(ids)}: {reason}" for reason, ids in collapse_skips(skips)),
        )
    return lines


def render_markdown(report: Report, *, strict: bool = False) -> str:
    platforms = report_platforms(report.facts)
    lines = [
        "## gpudoctor report",
        "",
        verdict_line(report),
        "",
        f"gpudoctor {__version__} · facts schema {report.facts.schema_version} · "
        f"command: `{report.command or 'gpudoctor check'}`"
        + (f" · replayed from `{report.replayed_from}`" if report.replayed_from else ""),
        "",
        *findings_table(report.findings),
    ]
    problems = [f for f in report.findings if f.severity.rank >= Severity.INFO.rank]
    if problems:
        lines.extend(["### Findings", ""])
        for finding in problems:
            lines.extend(finding_section(finding, platforms))
    facts_json = json.dumps(report.facts.to_json(), indent=2, sort_keys=True, allow_nan=False)
    lines += details(
        "Facts (replay with <code>gpudoctor check --replay FILE</code> "
        "after saving the JSON report)",
        ["```json", facts_json, "```"],
    )
    return "\n".join(lines)
