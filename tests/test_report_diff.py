"""gpudoctor diff: resolved, new and re-graded findings and changed facts between two files."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FIXTURES
from conftest import run_cli
from gpudoctor.commands.diff import compare
from gpudoctor.commands.diff import load_side

HEALTHY = str(FIXTURES / "linux-workstation-healthy.json")
SWAPPING = str(FIXTURES / "linux-memory-pressure-swapping.json")


def test_snapshots_are_compared_by_recomputed_findings():
    diff = compare(load_side(HEALTHY), load_side(SWAPPING))
    assert {f["id"] for f in diff.new} == {"GD301", "GD302"}
    assert diff.resolved == []
    paths = {c["path"]: c for c in diff.changed_facts}
    assert paths["memory.total_bytes"]["before"] == 68404903936
    assert paths["memory.total_bytes"]["after"] == 16760438784
    assert diff.worse
    back = compare(load_side(SWAPPING), load_side(HEALTHY))
    assert {f["id"] for f in back.resolved} == {"GD301", "GD302"}
    assert not back.worse


def test_reports_use_their_stored_findings_and_severity_changes(tmp_path):
    doc = json.loads(Path(SWAPPING).read_text(encoding="utf-8"))
    doc["format"] = "gpudoctor-report"
    finding = {"id": "GD301", "name": "host-memory-pressure", "severity": "fail", "title": "t"}
    doc["findings"] = [finding]
    before = tmp_path / "before.json"
    before.write_text(json.dumps(doc))
    doc["findings"] = [{**finding, "severity": "warn"}]
    doc["facts"]["memory"]["swap_total_bytes"] = 1
    after = tmp_path / "after.json"
    after.write_text(json.dumps(doc))

    result = run_cli("diff", str(before), str(after), "--format", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["changed_severity"] == [
        {
            "id": "GD301",
            "name": "host-memory-pressure",
            "subject": "",
            "severity": "warn",
            "title": "t",
            "before": "fail",
            "after": "warn",
        }
    ]
    assert [c["path"] for c in out["changed_facts"]] == ["memory.swap_total_bytes"]
    text = run_cli("diff", str(before), str(after))
    assert "~ memory.swap_total_bytes: 4294967296 -> 1" in text.stdout


def test_bad_files_give_one_line_errors(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "gpudoctor-report", ')
    for bad in (str(broken), str(tmp_path / "missing.json")):
        result = run_cli("diff", HEALTHY, bad)
        assert result.returncode == 2
        assert result.stderr.startswith("gpudoctor: error: ")
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
