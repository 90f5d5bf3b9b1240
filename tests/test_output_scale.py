"""Large reports: indented JSON through the C encoder, text output redacts only what it prints."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from gpudoctor.facts.snapshot import load_replay
from gpudoctor.privacy import redact_report
from gpudoctor.registry import load_registry
from gpudoctor.report.json_text import LONG_LIST
from gpudoctor.report.json_text import dumps_indented
from gpudoctor.report.text import render_text
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks
from gpudoctor.session import written_by_text

REPO = Path(__file__).resolve().parent.parent
MACHINES = sorted((REPO / "fixtures" / "machines").glob("*.json"))

SMALL_DOCUMENTS = [
    {"a": 1, "b": [1, 2, {"c": None, "d": []}, {}], "e": 'x\u00e9\n"', "f": 1.5, "g": True},
    {1: 2, None: 3, 2.5: "z", False: 1},
    [],
    {},
    "text",
    [[[]], [{}], 0],
]


@pytest.mark.parametrize("document", SMALL_DOCUMENTS)
def test_small_documents_match_json_dumps(document: object) -> None:
    assert dumps_indented(document) == json.dumps(document, indent=2)


@pytest.mark.parametrize("path", MACHINES[:4], ids=lambda p: p.stem)
def test_recorded_machines_match_json_dumps(path: Path) -> None:
    document = json.loads(path.read_text())
    assert dumps_indented(document) == json.dumps(document, indent=2)


def test_long_lists_are_one_item_per_line_and_round_trip() -> None:
    rows = [{"pid": i, "cmdline": f"python train.py --rank {i}"} for i in range(LONG_LIST + 5)]
    document = {"facts": {"gpu_processes": {"processes": rows}}}
    text = dumps_indented(document)
    assert json.loads(text) == document
    assert len(text.splitlines()) == len(rows) + 8  # 4 opening lines, 4 closing lines


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        dumps_indented({"x": math.nan})


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
@pytest.mark.parametrize("path", MACHINES, ids=lambda p: p.stem)
def test_text_output_is_the_same_from_the_written_part(path: Path, verbose: bool) -> None:
    """If the text report starts printing another facts section, this test says so."""
    facts = load_replay(path)
    specs = [s for s in load_registry(plugins=False).select((), ()) if not s.deep]
    report = Report(facts=facts, findings=run_checks(facts, specs), replayed_from=str(path))
    full, slim = io.StringIO(), io.StringIO()
    render_text(redact_report(report), full, plain=True, verbose=verbose, strict=False)
    written = written_by_text(report, verbose=verbose)
    render_text(redact_report(written), slim, plain=True, verbose=verbose, strict=False)
    assert slim.getvalue() == full.getvalue()
    if not verbose:  # skips are only counted: their words are not redacted for nothing
        assert not [f.title for f in written.findings if f.severity.value == "skip" and f.title]
    assert len(written_by_text(report).facts) <= 1


def many_holders(tmp_path: Path) -> Path:
    """The stale-holders machine with its process table repeated 60 times (fresh pids)."""
    import copy

    machine = REPO / "fixtures" / "machines" / "linux-server-stale-gpu-holders.json"
    doc = json.loads(machine.read_text())
    rows = doc["facts"]["gpu_processes"]["processes"]
    many = []
    for copy_index in range(60):
        for offset, row in enumerate(rows):
            clone = copy.deepcopy(row)
            clone["pid"] = 200_000 + copy_index * 100 + offset
            clone["cmdline"] = f"{clone['cmdline']} --log /home/user{copy_index}/run.log"
            many.append(clone)
    doc["facts"]["gpu_processes"]["processes"] = many
    replay = tmp_path / "many.json"
    replay.write_text(json.dumps(doc))
    return replay


@pytest.mark.parametrize("verbose", [False, True])
def test_text_output_is_the_same_from_the_written_findings(tmp_path: Path, verbose: bool) -> None:
    """Findings the text only counts lose their words before redaction; the text is unchanged."""
    from gpudoctor.report.text import MAX_FINDINGS_PER_CHECK

    replay = many_holders(tmp_path)
    facts = load_replay(replay)
    report = Report(facts, run_checks(facts, list(load_registry(plugins=False))), "x", str(replay))
    slim = written_by_text(report, verbose=verbose)
    assert len(slim.findings) == len(report.findings)
    words = [f for f in slim.findings if f.title]
    assert len(words) < len(report.findings) - 10 * MAX_FINDINGS_PER_CHECK
    full_text, slim_text = io.StringIO(), io.StringIO()
    render_text(redact_report(report), full_text, plain=True, verbose=verbose, strict=False)
    render_text(redact_report(slim), slim_text, plain=True, verbose=verbose, strict=False)
    assert slim_text.getvalue() == full_text.getvalue()


def test_text_shows_the_first_findings_of_a_check_and_counts_the_rest(tmp_path: Path) -> None:
    """A box with hundreds of stale holders gets a readable report, not a finding per row."""
    from gpudoctor.report.text import MAX_FINDINGS_PER_CHECK

    facts = load_replay(many_holders(tmp_path))
    findings = run_checks(facts, list(load_registry(plugins=False)))
    stale = [f for f in findings if f.check_id == "GD402" and f.is_problem]
    assert len(stale) > MAX_FINDINGS_PER_CHECK
    stream = io.StringIO()
    render_text(Report(facts, findings), stream, plain=True)
    text = stream.getvalue()
    hidden = len(stale) - MAX_FINDINGS_PER_CHECK
    assert f"and {hidden} more findings of GD402 (all of them: -f json)" in text
    assert text.count("GD402") < 2 * MAX_FINDINGS_PER_CHECK + 5
