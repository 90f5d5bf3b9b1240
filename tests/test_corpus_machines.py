"""Machine snapshots rebuilt from public issue threads replay to the findings an expert expects.

Each file in tests/corpus/machines is a replay file whose ``fixture.expect`` lists every
finding above pass and skip (as in fixtures/machines), written before gpudoctor was run on it;
``fixture.source`` and SOURCES.md name the thread it was rebuilt from.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from corpus_scoring import Score
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

CORPUS = Path(__file__).parent / "corpus" / "machines"
MACHINES = sorted(CORPUS.glob("*.json"))
#: Findings of checks owned elsewhere that are known to be wrong on a snapshot, with why.
KNOWN_WRONG: dict[str, dict[str, str]] = {}


def _label(finding) -> str:
    text = f"{finding.check_id} {finding.severity.value}"
    return f"{text}@{finding.subject}" if finding.subject else text


def findings_for(path: Path) -> set[str]:
    facts = load_replay(path)
    findings = run_checks(facts, list(load_registry(plugins=False)))
    return {_label(f) for f in findings if f.severity.value not in ("pass", "skip")}


def expected_for(path: Path) -> set[str]:
    return set(json.loads(path.read_text(encoding="utf-8"))["fixture"]["expect"])


def test_corpus_is_big_enough_and_sourced():
    assert len(MACHINES) >= 10
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    for path in MACHINES:
        assert path.name in sources
        assert json.loads(path.read_text(encoding="utf-8"))["fixture"]["source"]


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_machine_gets_expected_findings(path):
    got = findings_for(path) - set(KNOWN_WRONG.get(path.name, {}))
    assert got == expected_for(path)


def test_corpus_score(capsys):
    score = Score()
    for path in MACHINES:
        score.add_judged(path.name, expected_for(path), partial(findings_for, path))
    with capsys.disabled():
        print("\n" + score.summary("machine corpus"))
    assert score.crashes == 0
    known = sum(len(v) for v in KNOWN_WRONG.values())
    assert score.false_alarms <= known
    assert score.recall >= 0.98
