"""The ticket Markdown: header, collect_env table, every section, and GitHub's size limit."""

from __future__ import annotations

from conftest import make_facts
from gpudoctor.registry import load_registry
from gpudoctor.report.ticket import GITHUB_BODY_LIMIT
from gpudoctor.report.ticket import render_ticket_markdown
from gpudoctor.report.ticket import ticket_document
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks


def _report(**overrides) -> Report:
    facts = make_facts(**overrides)
    findings = run_checks(facts, list(load_registry(plugins=False)))
    return Report(facts=facts, findings=findings, command="gpudoctor report -o r.md")


def test_header_findings_first_then_table_then_any_section():
    text = render_ticket_markdown(
        _report(memory__available_bytes=1 << 20, wslconfig={"memory": "8GB"}), redacted=True
    )
    assert "gpudoctor **" in text
    assert "`gpudoctor report -o r.md`" in text
    assert "gpudoctor check --replay FILE" in text
    order = [text.index(s) for s in ("### Verdict", "GD301", "### collect_env fields", "### Facts")]
    assert order == sorted(order)
    assert "<b>wslconfig</b>" in text  # a section no renderer knows about still appears
    assert "| OS | `Could not collect` |" in text  # no system probe in these facts


def test_huge_sections_are_trimmed_under_the_github_limit_with_a_note():
    holders = [{"pid": i, "cmdline": "python train.py " + "x" * 200} for i in range(2000)]
    text = render_ticket_markdown(_report(processes={"holders": holders}), redacted=True)
    assert len(text) < GITHUB_BODY_LIMIT
    assert "Trimmed to fit a GitHub issue" in text
    assert "facts section 'processes' left out" in text
    assert "### collect_env fields" in text
    assert "<b>memory</b>" in text


def test_json_ticket_replays_and_lists_collect_env_fields():
    from gpudoctor.facts.snapshot import facts_from_document

    doc = ticket_document(_report(), redacted=True)
    assert doc["format"] == "gpudoctor-report"
    assert doc["redacted"] is True
    assert "PyTorch version" in doc["collect_env"]["fields"]
    assert facts_from_document(doc).get("memory.total_bytes") == 68404903936
