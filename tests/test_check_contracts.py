"""Contracts every built-in check keeps: it reads only the facts it declares, and the
facts it declares exist in the schema.

A check's reads are recorded through the ``Facts`` accessor while it runs on every recorded
machine; a read that no ``requires``/``uses`` path covers is a check that would silently
work on facts it never asked the runner to vouch for.
"""

from __future__ import annotations

import pytest

from conftest import FIXTURES
from gpudoctor.facts.schema import declared_path
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.registry import load_registry

MACHINES = sorted(FIXTURES.glob("*.json"))
CHECKS = [spec for spec in load_registry(plugins=False) if spec.func is not None]


def covered(read: str, declared: tuple[str, ...]) -> bool:
    """Is the recorded read ``read`` one the declarations allow?

    A declared path covers itself and everything below it; reading a container on the way
    to a declared fact (``wsl`` on the way to ``wsl.version``) is navigation and allowed,
    but listing a container (``wsl.*``) needs the container itself declared.
    """
    whole = read.endswith(".*")
    path = read[:-2] if whole else read
    for want in declared:
        if path == want or path.startswith(want + "."):
            return True
        if not whole and want.startswith(path + "."):
            return True
    return False


@pytest.mark.parametrize("spec", CHECKS, ids=[s.id for s in CHECKS])
def test_check_reads_only_declared_facts(spec):
    declared = (*spec.requires, *spec.uses)
    undeclared: set[str] = set()
    for machine in MACHINES:
        facts, log = load_replay(machine).recording()
        try:
            spec.func(facts)
        except Exception:  # noqa: BLE001 - crashes are the runner's business, not this test's
            pass
        undeclared |= {read for read in log if not covered(read, declared)}
    assert not undeclared, f"{spec.id} reads undeclared facts: {sorted(undeclared)}"


@pytest.mark.parametrize("spec", CHECKS, ids=[s.id for s in CHECKS])
def test_declared_facts_exist_in_the_schema(spec):
    assert all(declared_path(p) for p in (*spec.requires, *spec.uses))


def test_recording_notes_nested_reads():
    facts, log = load_replay(MACHINES[0]).recording()
    facts["host"].get("kind")
    facts.get("memory.total_bytes")
    assert {"host", "host.kind", "memory.total_bytes"} <= log


@pytest.mark.parametrize(
    ("read", "declared", "ok"),
    [
        ("wsl", ("wsl.version",), True),
        ("wsl.version", ("wsl",), True),
        ("wsl.*", ("wsl.version",), False),
        ("gpu.devices", ("gpu.nvml",), False),
        ("host.kind", ("host.kind",), True),
    ],
)
def test_coverage_rule(read, declared, ok):
    assert covered(read, declared) is ok
