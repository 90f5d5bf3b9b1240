"""The merged cluster report: a table of nodes, then the findings, as text, JSON or Markdown.

Everything is rendered from one redacted JSON document (:func:`cluster_document`), so the
three formats follow the same privacy rules as a single-machine report.
"""

from __future__ import annotations

import json
from datetime import datetime
from datetime import timezone
from typing import IO
from typing import Any

from gpudoctor._version import __version__
from gpudoctor.cluster.merge import ClusterReport
from gpudoctor.cluster.merge import node_row
from gpudoctor.model import Finding
from gpudoctor.model import Severity
from gpudoctor.report.markdown import _cell
from gpudoctor.report.markdown import _finding_section
from gpudoctor.report.text import _ASCII_MARKS
from gpudoctor.report.text import _STYLES
from gpudoctor.report.text import _UNICODE_MARKS
from gpudoctor.report.text import _render_finding
from gpudoctor.report.text import make_console

CLUSTER_FORMAT = "gpudoctor-cluster-report"
#: Version of the cluster report's own layout (see docs/cluster.md).
CLUSTER_SCHEMA_VERSION = 1
_COLUMNS = (
    ("label", "node"),
    ("gpus", "GPUs"),
    ("driver", "driver"),
    ("cuda", "CUDA"),
    ("torch", "torch"),
    ("nccl", "NCCL"),
    ("worst", "own findings"),
)


def cluster_document(
    report: ClusterReport, *, strict: bool = False, redact: bool = True, facts: bool = True
) -> dict[str, Any]:
    """The JSON document, redacted unless ``redact`` is False (secrets are withheld always)."""
    from gpudoctor.privacy import redact_data

    summary = report.summary
    nodes = []
    for node in report.nodes:
        row = node_row(node)
        entry: dict[str, Any] = {
            "label": row.pop("node"),
            **row,
            "worst": _worst_text(report.node_worst.get(node.label, Severity.PASS)),
            "source": report.sources.get(node.label, ""),
        }
        if node.clock_offset_s is not None:
            entry["clock_offset_s"] = round(node.clock_offset_s, 4)
        if node.extra:
            entry["cluster"] = dict(node.extra)
        if facts:
            entry["facts"] = node.facts.to_json()
        nodes.append(entry)
    document = {
        "format": CLUSTER_FORMAT,
        "cluster_schema_version": CLUSTER_SCHEMA_VERSION,
        "gpudoctor_version": __version__,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": report.command,
        "summary": {
            "verdict": summary.verdict,
            "worst": summary.worst.value,
            "exit_code": summary.exit_code(strict),
            "counts": summary.counts,
            "nodes": len(report.nodes),
        },
        "nodes": nodes,
        "findings": [f.to_json() for f in report.findings],
    }
    redacted: dict[str, Any] = redact_data(document, enabled=redact)
    return redacted


def _worst_text(severity: Severity) -> str:
    return severity.value if severity.rank >= Severity.INFO.rank else "ok"


def render_cluster(
    report: ClusterReport,
    fmt: str,
    stream: IO[str],
    *,
    plain: bool,
    redact: bool = True,
    strict: bool = False,
    verbose: bool = False,
) -> None:
    """Write the report in ``fmt`` (text, json, markdown) to ``stream``."""
    doc = cluster_document(report, strict=strict, redact=redact, facts=fmt == "json")
    if fmt == "json":
        stream.write(json.dumps(doc, indent=2) + "\n")
    elif fmt == "markdown":
        stream.write(_markdown(doc))
    else:
        _text(doc, stream, plain=plain, verbose=verbose, strict=strict)


def _findings(doc: dict[str, Any]) -> list[Finding]:
    return [Finding.from_json(f) for f in doc["findings"]]


def _table(doc: dict[str, Any]) -> list[list[str]]:
    return [[str(n.get(key, "-")) for key, _ in _COLUMNS] for n in doc["nodes"]]


def _text(
    doc: dict[str, Any], stream: IO[str], *, plain: bool, verbose: bool, strict: bool
) -> None:
    from rich.table import Table
    from rich.text import Text

    console = make_console(stream, plain=plain)
    marks = _ASCII_MARKS if plain else _UNICODE_MARKS
    summary = doc["summary"]
    console.print(
        Text(f"gpudoctor {__version__} - cluster of {summary['nodes']} nodes", style="bold")
    )
    console.print()
    table = Table(box=None, show_edge=False, pad_edge=False)
    for _, title in _COLUMNS:
        table.add_column(title)
    for row in _table(doc):
        table.add_row(*row)
    console.print(table)
    console.print()
    findings = _findings(doc)
    hidden = [f for f in findings if f.severity.rank < Severity.INFO.rank]
    for finding in findings:
        if finding.severity.rank < Severity.INFO.rank and not verbose:
            continue
        _render_finding(console, finding, marks, verbose)
    if hidden and not verbose:
        console.print(
            Text(
                f"{marks[Severity.PASS]} {len(hidden)} checks passed or were skipped "
                "(-v shows them)",
                style=_STYLES[Severity.SKIP],
            )
        )
    console.print()
    counts = summary["counts"]
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    worst = Severity.parse(summary["worst"])
    line = Text(f"{len(findings)} findings: {', '.join(parts)}. ", style="bold")
    line.append(f"Verdict: {summary['verdict']}.", style=_STYLES[worst])
    console.print(line)
    if summary["exit_code"]:
        console.print(Text("Details of any check: gpudoctor explain ID", style="dim"))


def _markdown(doc: dict[str, Any]) -> str:
    summary = doc["summary"]
    counts = ", ".join(f"{n} {s}" for s, n in summary["counts"].items() if n)
    lines = [
        f"## gpudoctor cluster report ({summary['nodes']} nodes)",
        "",
        f"**Verdict: {summary['verdict']}** ({counts})",
        "",
        f"gpudoctor {__version__} · command: `{doc['command'] or 'gpudoctor merge'}`",
        "",
        "| " + " | ".join(title for _, title in _COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in _table(doc)]
    lines.append("")
    problems = [f for f in _findings(doc) if f.severity.rank >= Severity.INFO.rank]
    if problems:
        lines += ["### Findings", ""]
        for finding in problems:
            lines += _finding_section(finding)
    else:
        lines += ["No problems found on any node.", ""]
    return "\n".join(lines)
