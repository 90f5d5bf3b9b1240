"""Unknown is never pass: for every built-in check, a fact it needs that could not be read
turns its ``pass`` into skip, info, a finding or an error, never into ``pass``.

For each check and each recorded machine on which it passes cleanly, every path in its
``requires``, and every facts section of those paths that the passing run reads (recorded
while it runs), is replaced with ``Unavailable``, and the check is run again. Facts a check
only ``uses`` (context such as the platform, for the wording of a remedy) may be unknown
without changing the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import thaw
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.registry import CheckSpec
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_one

REGISTRY = load_registry(plugins=False)
BASES = sorted(FIXTURES.glob("*.json")) + sorted(
    (Path(__file__).parent / "corpus" / "machines").glob("*.json")
)
UNKNOWN = {"$unavailable": "replaced by the unknown-never-pass test"}

#: Checks known to pass on an unknown fact, with why; empty: every built-in check holds.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def _passes(spec: CheckSpec, facts: Facts) -> bool:
    """A clean pass: some subject passes and none is judged worse (skips are fine), so the
    sections read are those a passing run needs."""
    severities = {f.severity.value for f in run_one(spec, facts)}
    return "pass" in severities and severities <= {"pass", "skip"}


def _replace(facts: Facts, path: str) -> Facts | None:
    """``facts`` with the fact at ``path`` replaced by an Unavailable (None if absent)."""
    sections = thaw(facts.to_json())
    parts = path.split(".")
    node: Any = sections
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, dict) or parts[-1] not in node:
        return None
    node[parts[-1]] = dict(UNKNOWN)
    return Facts(sections, facts.probes, facts.schema_version)


def _deep_base() -> Facts:
    """The healthy workstation with measured disk and loader facts (the --deep checks)."""
    from test_bench_checks import _disk
    from test_bench_checks import _loader
    from test_bench_checks import _row

    doc = json.loads((FIXTURES / "linux-workstation-healthy.json").read_text(encoding="utf-8"))
    sections = doc["facts"]
    sections["bench_disk"] = _disk()
    sections["bench_loader"] = _loader([_row(0, 100), _row(1, 190), _row(2, 380), _row(4, 390)])
    return Facts(sections)


def _deep_balanced_base() -> Facts:
    """Measured facts where workers do not help: GD703 passes instead of advising."""
    from test_bench_checks import _loader
    from test_bench_checks import _row

    facts = _deep_base().to_json()
    facts["bench_loader"] = _loader([_row(0, 380), _row(1, 385), _row(2, 390)])
    return Facts(facts)


def _bases() -> list[tuple[str, Facts]]:
    return [(path.stem, load_replay(path)) for path in BASES] + [
        ("deep", _deep_base()),
        ("deep-balanced", _deep_balanced_base()),
    ]


def _base(name: str) -> Facts:
    return dict(_bases())[name]


def _cases() -> Iterator[Any]:
    seen: set[tuple[str, str]] = set()
    bases = _bases()
    for spec in REGISTRY:
        for name, facts in bases:
            recording, log = facts.recording()
            if not _passes(spec, recording):
                continue
            required = {path.split(".", 1)[0] for path in spec.requires}
            sections = {read.split(".", 1)[0] for read in log} & required
            for target in sorted({*spec.requires, *sections}):
                if (spec.id, target) in seen or _replace(facts, target) is None:
                    continue
                seen.add((spec.id, target))
                reason = KNOWN_VIOLATIONS.get((spec.id, target))
                marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
                yield pytest.param(spec.id, target, name, marks=marks, id=f"{spec.id}-{target}")


CASES = list(_cases())


def test_every_check_was_exercised_somewhere():
    """A check that never passes on any recorded machine is not tested here: list them."""
    exercised = {case.values[0] for case in CASES}
    missing = sorted(spec.id for spec in REGISTRY if spec.id not in exercised)
    print(json.dumps({"never pass on a recorded machine": missing}))
    assert len(exercised) >= 20


@pytest.mark.parametrize(("check_id", "target", "base"), CASES)
def test_unknown_fact_never_passes(check_id, target, base):
    spec = REGISTRY.get(check_id)
    facts = _base(base)
    replaced = _replace(facts, target)
    assert replaced is not None
    findings = run_one(spec, replaced)
    passing = [f.title for f in findings if f.severity.value == "pass"]
    assert not passing, f"{check_id} passes with {target} unknown (on {base}): {passing}"


def test_the_missing_fact_markers_are_values_that_never_pass_for_facts():
    """Compared by type and reason, hashable, frozen, falsy, and they survive a copy."""
    import copy
    import pickle

    from gpudoctor.facts.model import NotApplicable
    from gpudoctor.facts.model import Unavailable

    gone = Unavailable("permission denied")
    assert gone == Unavailable("permission denied")
    assert gone != Unavailable("timed out")
    assert gone != NotApplicable("permission denied")  # two kinds of absence stay apart
    assert len({gone, Unavailable("permission denied"), NotApplicable("x")}) == 2
    assert not gone
    assert not NotApplicable("not on WSL")
    assert repr(gone) == "Unavailable(reason='permission denied')"
    assert str(gone) == "not available: permission denied"
    with pytest.raises(AttributeError):
        gone.reason = "changed"  # type: ignore[misc]
    for clone in (copy.deepcopy(gone), pickle.loads(pickle.dumps(gone))):
        assert clone == gone
        assert type(clone) is Unavailable
