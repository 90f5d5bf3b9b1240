"""The replay loader's single walk (``parse_replay``) gives exactly the facts, and the
errors, of the general path (``parse_replay_bytes`` then ``facts_from_document``)."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest

from conftest import FIXTURES
from gpudoctor.errors import SnapshotError
from gpudoctor.facts import snapshot
from gpudoctor.facts.model import Facts
from gpudoctor.facts.snapshot import MAX_STRING
from gpudoctor.facts.snapshot import facts_from_document
from gpudoctor.facts.snapshot import facts_from_parsed
from gpudoctor.facts.snapshot import parse_replay
from gpudoctor.facts.snapshot import parse_replay_bytes

MACHINES = sorted(FIXTURES.glob("*.json"))


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (a tuple is not a list here)."""
    if type(a) is not type(b):
        return False
    if type(a) is MappingProxyType:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if type(a) is tuple:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _outcome(load: Any, raw: bytes) -> Any:
    try:
        facts: Facts = load(raw)
    except SnapshotError as exc:
        return str(exc)
    return facts


def _general(raw: bytes) -> Facts:
    return facts_from_document(parse_replay_bytes(raw, "r.json"), "r.json")


def _single_walk(raw: bytes) -> Facts:
    return facts_from_parsed(parse_replay(raw, "r.json"), "r.json")


def _assert_same_outcome(raw: bytes) -> None:
    general, single = _outcome(_general, raw), _outcome(_single_walk, raw)
    if isinstance(general, str):
        assert single == general
        return
    assert isinstance(single, Facts)
    assert _same(dict(single), dict(general))
    assert single.probes == general.probes
    assert single.schema_version == general.schema_version


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
@pytest.mark.parametrize("vouched", [False, True], ids=["as-read", "walk-forced"])
def test_every_machine_loads_as_the_general_path_loads_it(path, vouched, monkeypatch):
    if vouched:  # a synthetic all-zero git hash keeps some fixtures off the single walk
        monkeypatch.setattr(snapshot, "_scalars_vouched_for", lambda raw, text: True)
    _assert_same_outcome(path.read_bytes())


def _snapshot(facts: str, *, version: int = 2, probes: str = "{}") -> bytes:
    return (
        f'{{"format": "gpudoctor-snapshot", "schema_version": {version}, '
        f'"facts": {facts}, "probes": {probes}}}'
    ).encode()


ODD_DOCUMENTS = {
    "infinite float": _snapshot('{"memory": {"x": 1e400}}'),
    "31-digit integer": _snapshot('{"memory": {"x": ' + "9" * 31 + "}}"),
    "30-digit integer": _snapshot('{"memory": {"total_bytes": ' + "9" * 30 + "}}"),
    "too deep": _snapshot('{"env": ' + '{"a": ' * 70 + "1" + "}" * 70 + "}"),
    "too deep outside the facts": _snapshot("{}", probes="[" * 70 + "]" * 70),
    "marker of a number": _snapshot('{"memory": {"$unavailable": 5}}'),
    "marker of an object": _snapshot('{"env": {"variables": {"X": {"$unavailable": {"a": 1}}}}}'),
    "section marker": _snapshot('{"memory": {"$unavailable": "no /proc/meminfo"}}'),
    "facts marker": _snapshot('{"$unavailable": "why"}'),
    "probes marker": _snapshot("{}", probes='{"$unavailable": "why"}'),
    "lone surrogate": _snapshot('{"host": {"distro": "\\ud800 x"}}'),
    "schema 1": _snapshot(
        '{"shm": {"applicable": false, "reason": {"$unavailable": "y"}}}', version=1
    ),
    "top level list": b"[1, 2]",
    "facts list": _snapshot("[1]"),
    "escaped quotes": _snapshot('{"host": {"distro": "a \\"q\\" \\\\"}}'),
    "string too long": _snapshot('{"host": {"distro": "' + "x" * (MAX_STRING + 1) + '"}}'),
    "string as long as allowed": _snapshot('{"host": {"distro": "' + "y" * MAX_STRING + '"}}'),
    "long string of escaped quotes": _snapshot(
        '{"host": {"distro": "' + '\\"' * (MAX_STRING // 2 + 8) + '"}}'
    ),
}


@pytest.mark.parametrize("raw", ODD_DOCUMENTS.values(), ids=ODD_DOCUMENTS)
def test_odd_documents_load_or_fail_as_the_general_path(raw):
    _assert_same_outcome(raw)


def test_a_large_plain_table_takes_the_single_walk_and_stays_read_only():
    doc = json.loads((FIXTURES / "linux-server-stale-gpu-holders.json").read_text())
    rows = doc["facts"]["gpu_processes"]["processes"]
    doc["facts"]["gpu_processes"]["processes"] = rows * 300
    raw = json.dumps(doc).encode()
    parsed = parse_replay(raw, "r.json")
    assert parsed.frozen
    _assert_same_outcome(raw)
    facts = facts_from_parsed(parsed, "r.json")
    table = facts["gpu_processes"]["processes"]
    assert isinstance(table, tuple)
    with pytest.raises(TypeError):
        table[0]["pid"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    ["31-digit integer", "infinite float", "lone surrogate", "string too long", "schema 1"],
)
def test_what_the_text_cannot_vouch_for_takes_the_general_path(name, monkeypatch):
    walked = []
    original = snapshot.bounded_document

    def general(doc: Any, where: str, *, surrogates: bool = True) -> Any:
        walked.append(where)
        return original(doc, where, surrogates=surrogates)

    monkeypatch.setattr(snapshot, "bounded_document", general)
    try:
        assert not parse_replay(ODD_DOCUMENTS[name], "r.json").frozen
    except SnapshotError:
        pass
    assert walked == ["r.json"]


@pytest.mark.parametrize("offset", [-40, -31, -16, -1, 0])
def test_a_long_integer_across_a_block_boundary_is_seen(offset):
    """The digit runs are searched block by block; a run across two blocks still counts."""
    head = '{"format": "gpudoctor-snapshot", "schema_version": 2, "facts": {"env": {"pad": ['
    pad = ", ".join(['"' + "x" * 98 + '"'] * 10_000)  # a quote every 102 bytes
    before, after = head + pad + ', "', '"], "n": '
    fill = snapshot._DIGIT_BLOCK + offset - len(before) - len(after)
    text = before + "y" * fill + after
    raw = (text + "1" * 31 + "}}}").encode()
    assert raw.index(b"1" * 31) == snapshot._DIGIT_BLOCK + offset
    assert not snapshot._scalars_vouched_for(raw, raw.decode())
    _assert_same_outcome(raw)
