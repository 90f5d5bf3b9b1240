"""Markdown for a GitHub issue: the verdict first, then findings, then the facts folded away."""

from __future__ import annotations

import json

from gpudoctor._version import __version__
from gpudoctor.model import Finding, Severity
from gpudoctor.runner import Report

_ICONS = {
    Severity.PASS: "✅",
    Severity.SKIP: "⏭️",
    Severity.INFO: "ℹ️",
    Severity.WARN: "⚠️",
    Severity.FAIL: "❌",
    Severity.ERROR: "💥",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _finding_section(finding: Finding) -> list[str]:
    lines = [
        f"#### {_ICONS[finding.severity]} {finding.check_id} `{finding.name}` — {finding.title}",
        "",
    ]
    if finding.evidence:
        lines.append("Evidence:")
        lines.extend(
            f"- {e.label}: `{e.value}`" + (f" (from {e.source})" if e.source else "")
            for e in finding.evidence
        )
        lines.append("")
    if finding.remedies:
        lines.append("What to do:")
        for r in finding.remedies:
            where = f" *({', '.join(r.platforms)})*" if r.platforms else ""
            lines.append(f"- {r.text}{where}")
            lines.extend(f"  ```\n  {c}\n  ```" for c in r.commands)
        lines.append("")
    if finding.fix:
        lines.append(f"Automatic fix: `gpudoctor fix --{finding.fix}`")
        lines.append("")
    lines.append(f"Reference: `gpudoctor explain {finding.check_id}`")
    lines.append("")
    return lines


def render_markdown(report: Report, *, strict: bool = False) -> str:
    counts = report.counts
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [
        "## gpudoctor report",
        "",
        f"**Verdict: {report.verdict}** ({summary})",
        "",
        f"gpudoctor {__version__} · facts schema {report.facts.schema_version} · "
        f"command: `{report.command or 'gpudoctor check'}`"
        + (f" · replayed from `{report.replayed_from}`" if report.replayed_from else ""),
        "",
        "| | ID | Check | Result |",
        "|---|---|---|---|",
    ]
    lines.extend(
        f"| {_ICONS[f.severity]} {f.severity.value} | {f.check_id} | `{f.name}` "
        f"| {_cell(f.title)} |"
        for f in report.findings
    )
    lines.append("")
    problems = [f for f in report.findings if f.severity.rank >= Severity.INFO.rank]
    if problems:
        lines.extend(["### Findings", ""])
        for finding in problems:
            lines.extend(_finding_section(finding))
    facts_json = json.dumps(report.facts.to_json(), indent=2, sort_keys=True, allow_nan=False)
    lines.extend(
        [
            "<details><summary>Facts (replay with <code>gpudoctor check --replay FILE</code> "
            "after saving the JSON report)</summary>",
            "",
            "```json",
            facts_json,
            "```",
            "",
            "</details>",
            "",
        ]
    )
    return "\n".join(lines)
