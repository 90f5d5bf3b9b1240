"""GD6xx on our training corpus: expected findings written before running, per machine.

Each file in tests/corpus/training names the warn/fail ids an expert expects on a Linux and
a Windows machine (see SOURCES.md). This runs the real readers and checks on every file,
prints recall, false alarms and crashes, and fails below the goals.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conftest import make_facts
from gpudoctor.api import NotApplicable
from gpudoctor.readers.training_config import analyse_config
from gpudoctor.readers.training_script import analyse_script
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

CORPUS = Path(__file__).resolve().parent / "corpus" / "training"
GiB = 1024**3
_HEADER = re.compile(r"^#:\s*(\w+):\s*(.*)$")
_PROBLEMS = ("warn", "fail", "error")


def machine(kind: str) -> dict[str, Any]:
    """Fact overrides for the two corpus machines (see SOURCES.md)."""
    windows = kind == "windows"
    cpus = {"logical": 8, "usable": 8, "cgroup_quota": None}
    return {
        "host__kind": "windows" if windows else "linux",
        "host__cpus": cpus,
        "limits": NotApplicable("no RLIMIT_NOFILE on Windows")
        if windows
        else {"nofile": {"soft": 1024, "hard": 524288}},
        "shm": NotApplicable("no /dev/shm on win32")
        if windows
        else {"present": True, "path": "/dev/shm", "total_bytes": 8 * GiB, "free_bytes": 8 * GiB},
        "memory__available_bytes": 16 * GiB,
        "env__variables": {},
    }


def training_section(source: dict[str, Any], kind: str) -> dict[str, Any]:
    windows = kind == "windows"
    return {
        "sources": [source],
        "start_method": {
            "default": "spawn" if windows else "fork",
            "why": "corpus machine",
            "python": "3.11.9",
            "platform": "win32" if windows else "linux",
        },
        "machine": {
            "cpus_logical": 8,
            "cpus_usable": 8,
            "commit": {
                "limit_bytes": 32 * GiB,
                "available_bytes": 20 * GiB,
                "source": "corpus machine",
            }
            if windows
            else None,
        },
        "data": None,
    }


def expectations(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines()[:5]:
        match = _HEADER.match(line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def run_file(path: Path, kind: str) -> set[str]:
    header = expectations(path)
    as_config = path.suffix in (".yaml", ".yml") or header.get("kind") == "config"
    source = analyse_config(path) if as_config else analyse_script(path)
    facts = make_facts(training=training_section(source, kind), **machine(kind))
    specs = load_registry(plugins=False).select(["GD6"])
    found = run_checks(facts, specs, probe_errors=False)
    return {f.check_id for f in found if f.severity.value in _PROBLEMS}


def test_corpus_recall_and_false_alarms() -> None:
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".py", ".yaml", ".yml"))
    assert len(files) >= 40
    expected_total = hits = 0
    misses: list[str] = []
    false_alarms: list[str] = []
    crashes: list[str] = []
    for path in files:
        header = expectations(path)
        for kind in ("linux", "windows"):
            assert kind in header, f"{path.name} has no '#: {kind}:' expectation"
            expected = {t for t in header[kind].split() if t != "-"}
            try:
                actual = run_file(path, kind)
            except Exception as exc:  # noqa: BLE001 - a crash is counted, then fails the test
                crashes.append(f"{path.name} [{kind}]: {type(exc).__name__}: {exc}")
                continue
            expected_total += len(expected)
            hits += len(expected & actual)
            misses += [f"{path.name} [{kind}]: {i}" for i in sorted(expected - actual)]
            false_alarms += [f"{path.name} [{kind}]: {i}" for i in sorted(actual - expected)]
    recall = hits / expected_total if expected_total else 1.0
    print(
        f"\ntraining corpus: {len(files)} files x 2 machines, recall {hits}/{expected_total} "
        f"= {recall:.1%}, false alarms {len(false_alarms)}, crashes {len(crashes)}"
    )
    for line in misses:
        print("  missed", line)
    for line in false_alarms:
        print("  false alarm", line)
    for line in crashes:
        print("  crash", line)
    assert not crashes
    assert recall >= 0.98
    assert not false_alarms
