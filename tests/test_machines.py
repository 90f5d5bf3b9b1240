"""Every recorded machine in fixtures/machines replays to exactly the findings it names.

A fixture is a replay file with a ``fixture`` block::

    "fixture": {"description": "...", "expect": ["GD303 fail", "GD304 info"]}

``expect`` lists every finding whose severity is above ``pass`` and ``skip``, as
``"ID severity"`` (add ``@subject`` when a check reports several subjects).
"""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

MACHINES = sorted(FIXTURES.glob("*.json"))


def _label(finding) -> str:
    text = f"{finding.check_id} {finding.severity.value}"
    return f"{text}@{finding.subject}" if finding.subject else text


def expected_labels(path) -> list[str]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return sorted(doc["fixture"]["expect"])


def test_there_are_fixtures():
    assert len(MACHINES) >= 3


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_machine_replays_to_expected_findings(path):
    facts = load_replay(path)
    registry = load_registry(plugins=False)
    findings = run_checks(facts, list(registry))
    got = sorted(_label(f) for f in findings if f.severity.value not in ("pass", "skip"))
    assert got == expected_labels(path)


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_fixture_describes_itself(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["fixture"]["description"].strip()


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_every_format_renders_every_machine(path):
    """Each recorded machine renders in every format (empty sections, odd shapes included)."""
    import io

    from gpudoctor.report.json_report import render_json
    from gpudoctor.report.markdown import render_markdown
    from gpudoctor.report.text import render_text
    from gpudoctor.report.ticket import render_ticket_markdown
    from gpudoctor.report.ticket import ticket_document
    from gpudoctor.runner import Report

    facts = load_replay(path)
    report = Report(facts, run_checks(facts, list(load_registry(plugins=False))))
    stream = io.StringIO()
    render_text(report, stream, plain=True, verbose=True)  # quiet text names problems only
    outputs = [
        stream.getvalue(),
        render_json(report),
        render_markdown(report),
        render_ticket_markdown(report, redacted=True),
        json.dumps(ticket_document(report, redacted=True)),
    ]
    for finding in report.findings:
        assert all(finding.check_id in text for text in outputs)
