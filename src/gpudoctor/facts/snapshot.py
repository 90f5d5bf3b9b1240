"""Write and read replay files: the facts snapshot a maintainer re-runs the checks on.

A replay file is JSON with ``"format": "gpudoctor-snapshot"``; a JSON report
(``"format": "gpudoctor-report"``) carries the same facts and replays too. The format is
documented in ``docs/snapshot-format.md``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone
from types import MappingProxyType
from typing import Any

from gpudoctor._version import __version__
from gpudoctor.errors import SnapshotError
from gpudoctor.facts.model import NOT_APPLICABLE_KEY
from gpudoctor.facts.model import SCHEMA_VERSION
from gpudoctor.facts.model import UNAVAILABLE_KEY
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import ProbeRecord
from gpudoctor.facts.model import Unavailable
from gpudoctor.facts.schema import SchemaMismatch
from gpudoctor.facts.schema import validate_sections
from gpudoctor.facts.sections import not_wsl_facts
from gpudoctor.gc_pause import collector_paused

SNAPSHOT_FORMAT = "gpudoctor-snapshot"
REPORT_FORMAT = "gpudoctor-report"
REPLAYABLE_FORMATS = (SNAPSHOT_FORMAT, REPORT_FORMAT)


def snapshot_document(facts: Facts, command: str = "") -> dict[str, Any]:
    """The JSON document for ``gpudoctor snapshot``, as the probes saw it.

    Privacy is the writer's business: whatever prints or saves it redacts it first.
    """
    return {
        "format": SNAPSHOT_FORMAT,
        "schema_version": facts.schema_version,
        "gpudoctor_version": __version__,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "recorded_with": {
            "python": platform.python_version(),
            "platform": sys.platform,
        },
        "facts": facts.to_json(),
        "probes": facts.probes_json(),
    }


def facts_from_document(doc: Any, origin: str = "<data>") -> Facts:
    """Rebuild facts from a snapshot or JSON report document; raise SnapshotError if unusable."""
    return _facts_of(doc, origin, sections_frozen=False)


def facts_from_parsed(parsed: ParsedReplay, origin: str = "<data>") -> Facts:
    """:func:`facts_from_document` of a :func:`parse_replay` result, frozen sections kept."""
    return _facts_of(parsed.document, origin, sections_frozen=parsed.frozen)


def _facts_of(doc: Any, origin: str, *, sections_frozen: bool) -> Facts:
    if not isinstance(doc, Mapping):
        raise SnapshotError(f"{origin}: not a gpudoctor replay file (top level is not an object)")
    kind = doc.get("format")
    if kind not in REPLAYABLE_FORMATS:
        raise SnapshotError(
            f"{origin}: not a gpudoctor replay file (format is {kind!r}, expected "
            f"{SNAPSHOT_FORMAT!r} or {REPORT_FORMAT!r})"
        )
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SnapshotError(f"{origin}: schema_version is missing or not a positive integer")
    if version > SCHEMA_VERSION:
        raise SnapshotError(
            f"{origin}: written by gpudoctor {doc.get('gpudoctor_version', '?')} with facts "
            f"schema {version}; this gpudoctor ({__version__}) reads schema {SCHEMA_VERSION} "
            "or older. Upgrade with: pip install -U gpudoctor"
        )
    sections = doc.get("facts")
    if not isinstance(sections, Mapping):
        raise SnapshotError(f"{origin}: has no 'facts' object")
    probes_doc = doc.get("probes") or {}
    if not isinstance(probes_doc, Mapping):
        raise SnapshotError(f"{origin}: 'probes' is not an object")
    if version == 1:
        sections = migrate_v1(sections)
    try:
        validate_sections(sections)
    except SchemaMismatch as exc:
        raise SnapshotError(f"{origin}: facts do not match the schema at {exc}") from None
    try:
        records = {
            str(name): ProbeRecord.from_json(str(name), rec)
            for name, rec in probes_doc.items()
            if isinstance(rec, Mapping)
        }
        if sections_frozen:
            return Facts.of_frozen_sections(sections, records, schema_version=SCHEMA_VERSION)
        return Facts(sections, records, schema_version=SCHEMA_VERSION)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise SnapshotError(f"{origin}: facts are malformed: {exc}") from None


#: Schema 1 marked sections that do not apply with ``applicable: false`` and a ``reason``.
_V1_APPLICABILITY_SECTIONS = ("shm", "limits", "kernel_log", "gpu_processes", "wsl")


def migrate_v1(sections: Mapping[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: ``applicable: false`` sections become :class:`NotApplicable` values."""
    migrated = dict(sections)
    for name in _V1_APPLICABILITY_SECTIONS:
        section = migrated.get(name)
        if not isinstance(section, Mapping) or "applicable" not in section:
            continue
        rest = {k: v for k, v in section.items() if k not in ("applicable", "reason")}
        if section.get("applicable"):
            migrated[name] = rest
            continue
        reason = str(section.get("reason") or f"{name} does not apply here")
        if name == "wsl" and "wslconfig" in rest:
            migrated[name] = not_wsl_facts(reason, rest)
        else:
            migrated[name] = NotApplicable(reason).to_json()
    return migrated


#: Bounds on a replay document (documented in docs/snapshot-format.md).
MAX_DEPTH = 64
MAX_STRING = 1024 * 1024
MAX_INT_DIGITS = 30
MAX_NODES = 4_000_000


def _bad_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (no NaN or Infinity in a replay file)")


#: Integers must stay below this in magnitude (JSON has no leading zeros: 30 digits at most).
_INT_LIMIT = 10**MAX_INT_DIGITS


def _refused_number(value: float, where: str) -> SnapshotError:
    """The error for an integer of too many digits or a number out of range.

    Numbers are checked on the parsed values (:func:`bounded_document`), not in a
    ``parse_int`` hook: that is a Python call for each of the half million integers of a
    50k-row process table. (:func:`parse_replay` notes infinite floats in a
    ``parse_float`` hook: floats are fewer, and it saves a walk over every value.)
    """
    if isinstance(value, int):
        why = f"an integer of {len(str(abs(value)))} digits (at most {MAX_INT_DIGITS})"
    else:
        why = f"a number out of range ({value})"
    return SnapshotError(f"{where}: not a usable replay file: {why}")


def _clean_string(text: str, where: str) -> str:
    if len(text) > MAX_STRING:
        raise SnapshotError(
            f"{where}: a string of {len(text):,} characters (at most {MAX_STRING:,})"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    return text


def bounded_document(doc: Any, where: str, *, surrogates: bool = True) -> Any:
    """``doc`` checked for depth, size and string length, with lone surrogates replaced.

    Iterative, so a deeply nested document cannot exhaust the stack; only containers go on
    the stack (a 50k-row process table has half a million scalars). ``surrogates=False``
    (the JSON text had no ``\\uD8xx``-``\\uDFxx`` escape) skips the per-string encoding test.
    """
    root: list[Any] = [doc]
    stack: list[tuple[Any, int]] = [(root, 0)]  # a container and its depth
    nodes = 0
    while stack:
        container, depth = stack.pop()
        if not container:
            continue
        nodes += len(container)
        if nodes > MAX_NODES:
            raise SnapshotError(f"{where}: more than {MAX_NODES:,} values")
        if depth + 1 > MAX_DEPTH:
            raise SnapshotError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        items = container.items() if type(container) is dict else enumerate(container)
        changed: list[tuple[Any, Any]] = []
        for slot, value in items:
            kind = type(value)
            if kind is str:
                if surrogates or len(value) > MAX_STRING:
                    cleaned = _clean_string(value, where)
                    if cleaned is not value:
                        changed.append((slot, cleaned))
            elif kind is int:
                if not -_INT_LIMIT < value < _INT_LIMIT:
                    raise _refused_number(value, where)
            elif kind is float:
                if not math.isfinite(value):
                    raise _refused_number(value, where)
            elif kind is dict:
                if surrogates or max(map(len, value), default=0) > MAX_STRING:
                    value = {_clean_string(str(k), where): v for k, v in value.items()}
                    changed.append((slot, value))
                stack.append((value, depth + 1))
            elif kind is list:
                stack.append((value, depth + 1))
        for slot, value in changed:
            container[slot] = value
    return root[0]


def parse_replay_bytes(raw: bytes, where: str) -> Any:
    """JSON from a replay file's bytes, bounded; SnapshotError with one line otherwise."""
    text, doc = _decoded(raw, where)
    return bounded_document(doc, where, surrogates=_has_surrogate_escape(text))


def _decoded(raw: bytes, where: str, number: Callable[[str], float] = float) -> tuple[str, Any]:
    """The text of a replay file and its JSON; ``number`` parses each non-integer number."""
    if not raw.strip():
        raise SnapshotError(f"{where}: file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotError(f"{where}: not UTF-8 text, so not a replay file") from None
    try:
        doc = json.loads(text, parse_constant=_bad_constant, parse_float=number)
    except json.JSONDecodeError as exc:
        stripped = text.rstrip()
        truncated = (
            exc.msg.startswith(("Unterminated", "Expecting")) and exc.pos >= len(stripped) - 64
        )
        hint = " (the file looks truncated)" if truncated else ""
        raise SnapshotError(
            f"{where}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except RecursionError:
        raise SnapshotError(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        why = str(exc)
        if "integer string conversion" in why:  # longer than Python converts at all
            why = f"an integer of more than {MAX_INT_DIGITS} digits"
        raise SnapshotError(f"{where}: not a usable replay file: {why}") from None
    return text, doc


def _has_surrogate_escape(text: str) -> bool:
    """A lone surrogate in the document needs a \\uD800-\\uDFFF escape in the text."""
    # A backslash is found at memchr speed; a two-character needle is ~15x slower to find.
    return "\\" in text and "\\u" in text and re.search(r"\\u[dD][89a-fA-F]", text) is not None


@dataclass(frozen=True)
class ParsedReplay:
    """A replay file's JSON, bounded. Where ``frozen``, the value of each section of its
    ``facts`` object is frozen already, as :class:`Facts` keeps it, and belongs to no one
    else; the rest of the document is plain JSON data."""

    document: Any
    frozen: bool


def parse_replay(raw: bytes, where: str) -> ParsedReplay:
    """A replay file's bytes parsed and bounded, and its facts frozen in the same walk.

    :func:`parse_replay_bytes` then :class:`Facts` walk every value twice (bounds, then a
    frozen copy): half a second at 50k process rows. Here the text vouches for the
    scalars (:func:`_scalars_vouched_for`), so one walk over the containers checks depth
    and size and freezes the facts sections in place. A document the text cannot vouch
    for, or that is out of bounds, or of an older schema, takes the general path, which
    gives the same data and the same errors.
    """
    infinite: list[float] = []

    def number(token: str) -> float:
        value = float(token)
        if value - value != 0.0:  # inf - inf is nan
            infinite.append(value)
        return value

    text, doc = _decoded(raw, where, number)
    if (
        infinite
        or type(doc) is not dict
        or doc.get("schema_version") != SCHEMA_VERSION
        or not _scalars_vouched_for(raw, text)
    ):
        surrogates = _has_surrogate_escape(text)
        return ParsedReplay(bounded_document(doc, where, surrogates=surrogates), False)
    try:
        return ParsedReplay(_with_frozen_facts(doc), True)
    except _Unsure:  # part of ``doc`` is frozen already: start again from the bytes
        return ParsedReplay(parse_replay_bytes(raw, where), False)


#: Every digit byte as ``0``, so that one substring search finds any long run of digits.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_TOO_MANY_DIGITS = b"0" * (MAX_INT_DIGITS + 1)
_DIGIT_BLOCK = 1024 * 1024
#: A quote after anything but a backslash: it opens or closes a string (a closing quote
#: after an escaped backslash is not found, so a block of them only costs the quick path).
_PLAIN_QUOTE = re.compile(rb'[^\\]"')
#: Any run of at least this many bytes holds a whole block of this size starting at a
#: multiple of it; a string too long to allow spans more than twice the size.
_QUOTE_BLOCK = MAX_STRING // 2


def _scalars_vouched_for(raw: bytes, text: str) -> bool:
    """True when the text shows no scalar can be out of bounds or need cleaning.

    No run of more than :data:`MAX_INT_DIGITS` digits: no integer too long (a float too
    big parses to infinity, which :func:`parse_replay` notes as it parses). No escape of a
    lone surrogate. A plain quote in every block of :data:`_QUOTE_BLOCK` bytes: no string
    longer than :data:`MAX_STRING` (a search that stops at the first quote of each block).
    """
    # By the MiB (overlapping by a run's length), so that no copy of the whole file is made.
    for start in range(0, len(raw), _DIGIT_BLOCK):
        block = raw[start : start + _DIGIT_BLOCK + MAX_INT_DIGITS]
        if _TOO_MANY_DIGITS in block.translate(_DIGITS_AS_ZERO):
            return False
    if _has_surrogate_escape(text):
        return False
    last = len(raw) - _QUOTE_BLOCK
    return all(
        _PLAIN_QUOTE.search(raw, start, start + _QUOTE_BLOCK + 1)
        for start in range(0, last + 1, _QUOTE_BLOCK)
    )


class _Unsure(Exception):
    """The single walk cannot vouch for this document; the general path decides."""


_SCALARS = frozenset({str, int, float, bool, type(None)})
_MARKER_TYPES = {UNAVAILABLE_KEY: Unavailable, NOT_APPLICABLE_KEY: NotApplicable}


def _with_frozen_facts(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``, bounded, with the value of each of its facts sections frozen in place.

    The bounds are :func:`bounded_document`'s on containers (a document is at depth 1,
    and the count of values starts at 1 for the wrapper it puts around the document).
    """
    nodes = [1 + len(doc)]
    for key, value in doc.items():
        if type(value) in _SCALARS:
            continue
        if key != "facts" or type(value) is not dict:
            _bounded(value, 2, nodes)
            continue
        nodes[0] += len(value)
        for name, section in value.items():
            if type(section) not in _SCALARS:
                value[name] = _frozen(section, 3, nodes)
    return doc


def _counted(container: Any, depth: int, nodes: list[int]) -> None:
    if depth >= MAX_DEPTH:
        raise _Unsure
    nodes[0] += len(container)
    if nodes[0] > MAX_NODES:
        raise _Unsure


def _bounded(container: Any, depth: int, nodes: list[int]) -> None:
    _counted(container, depth, nodes)
    for value in container.values() if type(container) is dict else container:
        if type(value) not in _SCALARS:
            _bounded(value, depth + 1, nodes)


def _frozen(container: Any, depth: int, nodes: list[int]) -> Any:
    """What :func:`~gpudoctor.facts.model.freeze` makes of ``container``, made in place."""
    _counted(container, depth, nodes)
    if type(container) is not dict:
        if _SCALARS.issuperset(map(type, container)):  # most lists: decided in C
            return tuple(container)
        return tuple(
            [v if type(v) in _SCALARS else _frozen(v, depth + 1, nodes) for v in container]
        )
    if len(container) == 1:
        key, value = next(iter(container.items()))
        marker = _MARKER_TYPES.get(key)
        if marker is not None:
            if type(value) is not str:  # freeze would make a string of it: rare enough
                raise _Unsure
            return marker(value)
    for key, value in container.items():
        if type(value) not in _SCALARS:
            container[key] = _frozen(value, depth + 1, nodes)
    return MappingProxyType(container)


def load_replay(path: str | os.PathLike[str]) -> Facts:
    """Read a replay file from disk, with a one-line error for every way it can be wrong.

    Only a regular file of at most :data:`~gpudoctor.files.REPLAY_MAX_BYTES` is read.
    """
    from gpudoctor.files import REPLAY_MAX_BYTES
    from gpudoctor.files import read_bounded

    where = os.fspath(path)
    raw = read_bounded(where, REPLAY_MAX_BYTES, "JSON replay file")
    with collector_paused():
        return facts_from_parsed(parse_replay(raw, where), where)
