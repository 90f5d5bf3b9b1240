"""The versioned JSON report: findings, summary, and the facts they were drawn from."""

from __future__ import annotations

from datetime import datetime
from datetime import timezone
from typing import Any

from gpudoctor._version import __version__
from gpudoctor.facts.snapshot import REPORT_FORMAT
from gpudoctor.report.json_text import dumps_indented
from gpudoctor.runner import Report

#: Version of the report document's own layout (see docs/report-format.md).
REPORT_SCHEMA_VERSION = 1


def report_document(report: Report, *, strict: bool = False) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "schema_version": report.facts.schema_version,
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "gpudoctor_version": __version__,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": report.command,
        "replayed_from": report.replayed_from or None,
        "summary": {
            "verdict": report.verdict,
            "worst": report.worst.value,
            "exit_code": report.exit_code(strict),
            "counts": report.counts,
        },
        "findings": [f.to_json() for f in report.findings],
        "facts": report.facts.to_json(),
        "probes": report.facts.probes_json(),
    }


def render_json(report: Report, *, strict: bool = False) -> str:
    return dumps_indented(report_document(report, strict=strict)) + "\n"
