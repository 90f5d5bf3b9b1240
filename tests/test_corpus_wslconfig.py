"""Every .wslconfig in tests/corpus/wslconfig gets exactly the findings written in its header.

Each file is checked the way ``gpudoctor check --wslconfig FILE`` checks it on a machine that
is not WSL (host RAM unknown). Its first ``# expect:`` comment lists the expected findings,
written before gpudoctor was run on it; SOURCES.md names the real file each one models.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

from corpus_scoring import COUNTED
from corpus_scoring import Score
from corpus_scoring import parse_expect
from gpudoctor.facts.model import Facts
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.wsl import probe_wsl
from gpudoctor.readers.wslconfig import decode_wslconfig
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

CORPUS = Path(__file__).parent / "corpus" / "wslconfig"
FILES = sorted(CORPUS.glob("*.wslconfig"))
EXPECT = re.compile(r"#\s*expect:\s*(.*)")


def expectation(data: bytes) -> set[str]:
    _, text, _ = decode_wslconfig(data)
    if text is None or "\x00" in text:
        text = data.decode("utf-16-be" if data[:2] == b"\xfe\xff" else "utf-16-le", "replace")
    for line in text.splitlines():
        match = EXPECT.search(line)
        if match:
            return parse_expect(match.group(1))
    raise AssertionError("no '# expect:' line")


def findings_for(path: Path) -> set[str]:
    """Labels of the WSL findings for one file, checked off WSL like --wslconfig does."""
    ctx = ProbeContext(
        root=CORPUS, env={}, options={"wslconfig": "/" + path.name}, platform="linux"
    )
    facts = Facts({"host": {"kind": "linux"}, "wsl": probe_wsl(ctx)})
    specs = [s for s in load_registry(plugins=False) if s.id.startswith("GD5")]
    labels = set()
    for finding in run_checks(facts, specs, probe_errors=False):
        if finding.severity.value in COUNTED:
            label = f"{finding.check_id} {finding.severity.value}"
            labels.add(f"{label}@{finding.subject}" if finding.subject else label)
    return labels


def test_corpus_is_big_enough_and_sourced():
    assert len(FILES) >= 40
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    for path in FILES:
        assert path.name in sources, f"{path.name} has no entry in SOURCES.md"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_file_gets_expected_findings(path):
    assert findings_for(path) == expectation(path.read_bytes())


def test_corpus_score(capsys):
    score = Score()
    for path in FILES:
        score.add_judged(path.name, expectation(path.read_bytes()), partial(findings_for, path))
    with capsys.disabled():
        print("\n" + score.summary("wslconfig corpus"))
    assert score.crashes == 0
    assert score.false_alarms == 0
    assert score.recall >= 0.98
