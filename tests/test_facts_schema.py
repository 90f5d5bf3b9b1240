"""The facts schema: one type per section, the JSON Schema generated from it, and replay
refusing a snapshot whose facts do not fit."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import FIXTURES
from conftest import REPO
from conftest import run_cli
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.schema import SchemaMismatch
from gpudoctor.facts.schema import declared_path
from gpudoctor.facts.schema import snapshot_json_schema
from gpudoctor.facts.sections import SECTIONS
from gpudoctor.facts.snapshot import facts_from_document
from gpudoctor.facts.snapshot import migrate_v1

SCHEMA_FILE = REPO / "src" / "gpudoctor" / "schemas" / "snapshot.schema.json"
MACHINES = sorted(FIXTURES.glob("*.json"))


def test_committed_schema_is_generated_from_the_section_types():
    """Regenerate with:
    python -m gpudoctor.facts.schema > src/gpudoctor/schemas/snapshot.schema.json"""
    assert json.loads(SCHEMA_FILE.read_text()) == snapshot_json_schema()


def test_schema_describes_every_section_with_its_properties():
    facts = snapshot_json_schema()["properties"]["facts"]["properties"]
    assert set(facts) == set(SECTIONS)
    for name, entry in facts.items():
        typed = entry["anyOf"][1]
        assert typed["type"] == "object"
        assert typed["properties"], name


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_every_machine_fixture_validates(path):
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, snapshot_json_schema())


def _doc(**sections):
    doc = json.loads((FIXTURES / "linux-workstation-healthy.json").read_text())
    doc["facts"].update(sections)
    return doc


@pytest.mark.parametrize(
    ("sections", "where"),
    [
        ({"host": "linux"}, "facts.host"),
        ({"memory": {"total_bytes": "16 GB"}}, "facts.memory.total_bytes"),
        ({"memory": {"total_bytes": True}}, "facts.memory.total_bytes"),
        ({"gpu": {"devices": {"0": {}}}}, "facts.gpu.devices"),
        ({"env": {"variables": {"CUDA_HOME": 3}}}, "facts.env.variables.CUDA_HOME"),
        ({"shm": {"free_bytes": None}}, "facts.shm.free_bytes"),
        ({"wsl": {"memory": 1}}, "facts.wsl.memory"),
        ({"cuda": {}}, "facts.cuda"),
    ],
)
def test_wrong_type_in_any_section_is_refused_with_its_path(sections, where):
    with pytest.raises(Exception, match=rf"{where}\b") as caught:
        facts_from_document(_doc(**sections))
    assert "schema" in str(caught.value)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_doc(**sections), snapshot_json_schema())


def test_markers_are_accepted_at_any_level():
    doc = _doc(
        memory={"$unavailable": "probe 'memory' timed out after 2.0 s"},
        shm={"$not_applicable": "no /dev/shm on win32"},
        gpu={"nvml": {"$unavailable": "NVML library not found"}, "devices": []},
    )
    facts = facts_from_document(doc)
    assert isinstance(facts.get("shm"), NotApplicable)
    jsonschema.validate(doc, snapshot_json_schema())


def test_cli_refuses_a_mistyped_snapshot_with_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_doc(memory={"total_bytes": "lots"})))
    proc = run_cli("check", "--replay", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "facts.memory.total_bytes" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_schema_1_applicability_flags_migrate_to_not_applicable():
    migrated = migrate_v1(
        {
            "shm": {"applicable": False, "reason": "no /dev/shm on win32"},
            "limits": {"applicable": True, "nofile": {"soft": 1024, "hard": 4096}},
            "wsl": {"applicable": False, "reason": "not WSL", "wslconfig": {"given": True}},
        }
    )
    assert migrated["shm"] == NotApplicable("no /dev/shm on win32").to_json()
    assert migrated["limits"] == {"nofile": {"soft": 1024, "hard": 4096}}
    assert migrated["wsl"]["wslconfig"] == {"given": True}
    assert migrated["wsl"]["vm"] == NotApplicable("not WSL")


@pytest.mark.parametrize(
    ("path", "known"),
    [
        ("memory.total_bytes", True),
        ("wsl.wslconfig.parsed", True),
        ("gpu.devices", True),
        ("memory.totl_bytes", False),
        ("gpus", False),
        ("host.kind.extra", False),
    ],
)
def test_declared_path(path, known):
    assert declared_path(path) is known


def test_schema_mismatch_names_its_path():
    err = SchemaMismatch("facts.host.kind", "expected a string")
    assert err.path == "facts.host.kind"


def test_probes_record_unknowns_as_unavailable_not_as_its_json_spelling():
    """``{"$unavailable": ...}`` is how a snapshot file writes Unavailable; a probe that writes
    it by hand hands the checks a dict live and an Unavailable on replay."""
    probes = REPO / "src" / "gpudoctor" / "probes"
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(probes.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if '"$unavailable"' in line
    ]
    assert offenders == []
