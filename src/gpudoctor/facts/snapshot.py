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
from collections.abc import Mapping
from datetime import datetime
from datetime import timezone
from typing import Any

from gpudoctor._version import __version__
from gpudoctor.errors import SnapshotError
from gpudoctor.facts.model import SCHEMA_VERSION
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import ProbeRecord
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
    ``parse_int``/``parse_float`` hook: a hook is a Python call for each of the half
    million numbers of a 50k-row process table.
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
    if not raw.strip():
        raise SnapshotError(f"{where}: file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SnapshotError(f"{where}: not UTF-8 text, so not a replay file") from None
    try:
        doc = json.loads(text, parse_constant=_bad_constant)
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
    # A lone surrogate in the document needs a \\uD800-\\uDFFF escape in the text.
    surrogates = "\\u" in text and re.search(r"\\u[dD][89a-fA-F]", text) is not None
    return bounded_document(doc, where, surrogates=surrogates)


def load_replay(path: str | os.PathLike[str]) -> Facts:
    """Read a replay file from disk, with a one-line error for every way it can be wrong.

    Only a regular file of at most :data:`~gpudoctor.files.REPLAY_MAX_BYTES` is read.
    """
    from gpudoctor.files import REPLAY_MAX_BYTES
    from gpudoctor.files import read_bounded

    where = os.fspath(path)
    raw = read_bounded(where, REPLAY_MAX_BYTES, "JSON replay file")
    with collector_paused():
        return facts_from_document(parse_replay_bytes(raw, where), where)
