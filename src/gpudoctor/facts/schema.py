"""Validate facts against the section types, and generate the JSON Schema from them.

The types in :mod:`gpudoctor.facts.sections` are the one source: :func:`validate_sections`
checks a recorded snapshot with them (so a replay with a wrong type is refused with the path
that is wrong), :func:`snapshot_json_schema` writes them out for other tools, and
:func:`declared_path` tells the registry whether a check's ``requires`` names a real fact.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from typing import Union

from gpudoctor.facts.model import NOT_APPLICABLE_KEY
from gpudoctor.facts.model import UNAVAILABLE_KEY
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.facts.sections import OPEN_SECTIONS
from gpudoctor.facts.sections import SECTIONS

_MARKER_KEYS = (UNAVAILABLE_KEY, NOT_APPLICABLE_KEY)


class SchemaMismatch(ValueError):
    """A fact whose value does not have its declared type; ``path`` says which."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _is_marker(value: Any) -> bool:
    if isinstance(value, (Unavailable, NotApplicable)):
        return True
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)) in _MARKER_KEYS
        and isinstance(next(iter(value.values())), str)
    )


#: What fits an open object (``dict[str, Any]``): the exact types first, then by isinstance.
_OBJECT_TYPES = frozenset({dict, MappingProxyType})
_OBJECT_OR_MARKER = (Mapping, Unavailable, NotApplicable)


@functools.cache
def _is_open_object(hint: Any) -> bool:
    """``dict[str, Any]``-like: any object fits, whatever its keys and values."""
    if typing.get_origin(hint) not in (dict, Mapping):
        return False
    args = typing.get_args(hint)
    return len(args) != 2 or args[1] is Any


def _is_typed_dict(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__total__")


@functools.cache
def _hints(typed: type) -> dict[str, Any]:
    """Resolved field types; cached, as resolving them costs ~1 ms and a replayed 50k-row
    table would otherwise resolve them once per row."""
    return typing.get_type_hints(typed)


def _type_name(hint: Any) -> str:
    if _is_typed_dict(hint):
        return "an object"
    origin = typing.get_origin(hint)
    if origin is Union:
        options = [a for a in typing.get_args(hint) if a not in (Unavailable, NotApplicable)]
        return " or ".join(_type_name(a) for a in options)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if hint in names:
        return names[hint]
    if hint is type(None):
        return "null"
    if origin in (list, tuple):
        return "a list"
    if origin in (dict, Mapping):
        return "an object"
    return str(hint)


def _matches_scalar(value: Any, hint: Any) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    return False


def check_value(value: Any, hint: Any, path: str, *, open_keys: bool = False) -> None:
    """Raise :class:`SchemaMismatch` at the first place ``value`` does not fit ``hint``."""
    if hint is Any or _is_marker(value):
        return
    origin = typing.get_origin(hint)
    if origin is Union:
        options = typing.get_args(hint)
        for option in options:
            try:
                check_value(value, option, path)
                return
            except SchemaMismatch:
                continue
        raise SchemaMismatch(path, f"expected {_type_name(hint)}, got {_json_kind(value)}")
    if _is_typed_dict(hint):
        if not isinstance(value, Mapping):
            raise SchemaMismatch(path, f"expected an object, got {_json_kind(value)}")
        fields = _hints(hint)
        for key, item in value.items():
            if key not in fields:
                if open_keys:
                    continue
                raise SchemaMismatch(f"{path}.{key}", "is not a fact of this section")
            check_value(item, fields[key], f"{path}.{key}")
        return
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise SchemaMismatch(path, f"expected a list, got {_json_kind(value)}")
        (item_hint,) = typing.get_args(hint)[:1] or (Any,)
        if item_hint is Any:
            return
        if _is_open_object(item_hint):
            # Any object (or marker) fits: a 50k-row process table is checked without a
            # call or a path per row; a row that does not fit gets the general error.
            for index, item in enumerate(value):
                if type(item) not in _OBJECT_TYPES and not isinstance(item, _OBJECT_OR_MARKER):
                    check_value(item, item_hint, f"{path}[{index}]")
            return
        for index, item in enumerate(value):
            check_value(item, item_hint, f"{path}[{index}]")
        return
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise SchemaMismatch(path, f"expected an object, got {_json_kind(value)}")
        args = typing.get_args(hint)
        item_hint = args[1] if len(args) == 2 else Any
        if item_hint is Any:
            return
        for key, item in value.items():
            check_value(item, item_hint, f"{path}.{key}")
        return
    if not _matches_scalar(value, hint):
        raise SchemaMismatch(path, f"expected {_type_name(hint)}, got {_json_kind(value)}")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"[:60]
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def validate_sections(sections: Mapping[str, Any]) -> None:
    """Check every section of a facts document; raise :class:`SchemaMismatch` if one is off."""
    for name, value in sections.items():
        typed = SECTIONS.get(name)
        if typed is None:
            raise SchemaMismatch(f"facts.{name}", "is not a facts section this gpudoctor knows")
        check_value(value, typed, f"facts.{name}", open_keys=name in OPEN_SECTIONS)


def declared_path(path: str) -> bool:
    """True when ``path`` (``section.key...``) names a declared fact.

    Below a fact typed as an open object (``dict[str, Any]``) any key is allowed: its shape
    belongs to the engine that fills it.
    """
    section, _, rest = path.partition(".")
    hint: Any = SECTIONS.get(section)
    if hint is None:
        return False
    for part in rest.split(".") if rest else ():
        hint = _strip_optional(hint)
        if _is_typed_dict(hint):
            fields = _hints(hint)
            if part not in fields:
                return section in OPEN_SECTIONS and hint is SECTIONS[section]
            hint = fields[part]
            continue
        # Inside an open object or a list the shape is the engine's own; a scalar has no parts.
        return hint is Any or typing.get_origin(hint) in (dict, list, Mapping)
    return True


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) is Union:
        markers = (type(None), Unavailable, NotApplicable)
        options = [a for a in typing.get_args(hint) if a not in markers]
        if len(options) == 1:
            return options[0]
    return hint


# -- JSON Schema ---------------------------------------------------------------------------

_MARKER_SCHEMA = {"$ref": "#/$defs/marker"}


def _schema_for(hint: Any, *, open_keys: bool = False) -> dict[str, Any]:
    if hint is Any:
        return {}
    origin = typing.get_origin(hint)
    if origin is Union:
        options = [a for a in typing.get_args(hint) if a not in (Unavailable, NotApplicable)]
        if len(options) == 1:
            return _schema_for(options[0])
        return {"anyOf": [_schema_for(a) for a in options]}
    if _is_typed_dict(hint):
        properties = {
            key: {"anyOf": [_MARKER_SCHEMA, _schema_for(value)]}
            for key, value in _hints(hint).items()
        }
        return {
            "type": "object",
            "description": (hint.__doc__ or "").strip().splitlines()[0],
            "properties": properties,
            "additionalProperties": open_keys,
        }
    if origin in (list, tuple):
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return {"type": "array", "items": {"anyOf": [_MARKER_SCHEMA, _schema_for(item)]}}
    if origin in (dict, Mapping):
        args = typing.get_args(hint)
        values = _schema_for(args[1]) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": values or True}
    scalars = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if hint in scalars:
        return {"type": scalars[hint]}
    if hint is type(None):
        return {"type": "null"}
    raise TypeError(f"no JSON Schema for {hint!r}")


def facts_json_schema() -> dict[str, Any]:
    """The schema of the ``facts`` object: every section and its properties."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            name: {"anyOf": [_MARKER_SCHEMA, _schema_for(typed, open_keys=name in OPEN_SECTIONS)]}
            for name, typed in SECTIONS.items()
        },
    }


MARKER_DEFINITION: dict[str, Any] = {
    "description": "A fact that could not be read ($unavailable) or does not exist here "
    "($not_applicable), with the reason.",
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        UNAVAILABLE_KEY: {"type": "string"},
        NOT_APPLICABLE_KEY: {"type": "string"},
    },
    "additionalProperties": False,
}


def snapshot_json_schema() -> dict[str, Any]:
    """The whole replay-file schema, as written to ``schemas/snapshot.schema.json``."""
    from gpudoctor.facts.model import SCHEMA_VERSION

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://gpudoctor.dev/schemas/snapshot-{SCHEMA_VERSION}.json",
        "title": "gpudoctor snapshot (replay file)",
        "description": "Output of 'gpudoctor snapshot', replayed with 'gpudoctor check --replay "
        "FILE'. Generated from gpudoctor.facts.sections; see docs/snapshot-format.md.",
        "type": "object",
        "required": ["format", "schema_version", "gpudoctor_version", "facts"],
        "properties": {
            "format": {"const": "gpudoctor-snapshot"},
            "schema_version": {"type": "integer", "minimum": 1},
            "gpudoctor_version": {"type": "string"},
            "created_utc": {"type": "string"},
            "command": {"type": "string"},
            "recorded_with": {"type": "object"},
            "fixture": {
                "type": "object",
                "required": ["description", "expect"],
                "properties": {
                    "description": {"type": "string"},
                    "expect": {
                        "type": "array",
                        "items": {
                            "type": "string",
                            "pattern": "^[A-Z]{2,4}[0-9]{3} (info|warn|fail|error)(@.+)?$",
                        },
                    },
                },
            },
            "facts": facts_json_schema(),
            "probes": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["status", "seconds"],
                    "properties": {
                        "status": {"enum": ["ok", "timeout", "error"]},
                        "seconds": {"type": "number"},
                        "error": {"type": "string"},
                    },
                },
            },
        },
        "$defs": {"marker": MARKER_DEFINITION},
    }


if __name__ == "__main__":  # python -m gpudoctor.facts.schema > src/gpudoctor/schemas/...
    import json

    print(json.dumps(snapshot_json_schema(), indent=2))
