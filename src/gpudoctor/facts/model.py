"""The facts snapshot: one frozen, schema-versioned record of what the probes saw.

A fact is a JSON value. A fact that could not be read is an :class:`Unavailable` that says
why ("not available: NVML library not found"), which is a different fact from ``0`` or
``False`` or "not applicable". Checks read facts by dotted path (``memory.total_bytes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from typing import ClassVar
from typing import NamedTuple

#: Bumped when a field changes meaning or is removed; new fields do not bump it.
SCHEMA_VERSION = 2

#: How an :class:`Unavailable` is spelled in JSON.
UNAVAILABLE_KEY = "$unavailable"
#: How a :class:`NotApplicable` is spelled in JSON.
NOT_APPLICABLE_KEY = "$not_applicable"


class _Absent:
    """What the two markers of a missing fact share: a reason, falsiness (so
    ``if facts.get(...)`` stays safe) and a one-key JSON spelling. They stay two types that
    never compare equal.

    Immutable and compared by type and reason, as a frozen dataclass would be; written out
    because defining a dataclass costs every run about 0.7 ms.
    """

    __slots__ = ("reason",)
    reason: str
    _json_key: ClassVar[str] = ""
    _label: ClassVar[str] = ""

    def __init__(self, reason: str) -> None:
        object.__setattr__(self, "reason", reason)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Absent) or other.__class__ is not self.__class__:
            return NotImplemented
        return self.reason == other.reason

    def __hash__(self) -> int:
        return hash((self.reason,))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r})"

    def __reduce__(self) -> tuple[type[_Absent], tuple[str]]:
        return (type(self), (self.reason,))

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"{self._label}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {self._json_key: self.reason}


class Unavailable(_Absent):
    """A fact that could not be read, and why."""

    __slots__ = ()
    _json_key: ClassVar[str] = UNAVAILABLE_KEY
    _label: ClassVar[str] = "not available"


class NotApplicable(_Absent):
    """A section or fact that does not exist on this machine (WSL facts on macOS), and why.

    Different from :class:`Unavailable`: nothing went wrong, so the checks that need it are
    skipped with ``reason`` instead of reporting that they could not look.
    """

    __slots__ = ()
    _json_key: ClassVar[str] = NOT_APPLICABLE_KEY
    _label: ClassVar[str] = "not applicable"


_MARKERS = (Unavailable, NotApplicable)


def is_available(value: Any) -> bool:
    """True unless ``value`` is an :class:`Unavailable` or :class:`NotApplicable` marker."""
    return not isinstance(value, (Unavailable, NotApplicable))


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """Turn JSON-like data into read-only data: dicts become mapping proxies, lists tuples."""
    kind = type(value)
    if kind in _SCALAR_TYPES:  # most values: decided without an isinstance chain
        return value
    if kind is dict or (isinstance(value, Mapping) and not isinstance(value, _MARKERS)):
        if len(value) == 1:
            if UNAVAILABLE_KEY in value:
                return Unavailable(str(value[UNAVAILABLE_KEY]))
            if NOT_APPLICABLE_KEY in value:
                return NotApplicable(str(value[NOT_APPLICABLE_KEY]))
        # Scalars (most values) are kept without a call each.
        return MappingProxyType(
            {
                (k if type(k) is str else str(k)): (v if type(v) in _SCALAR_TYPES else freeze(v))
                for k, v in value.items()
            }
        )
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        return tuple([v if type(v) in _SCALAR_TYPES else freeze(v) for v in value])
    if isinstance(value, (*_MARKERS, bool, int, float, str)):
        return value
    raise TypeError(f"fact values must be JSON data, got {type(value).__name__}")


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists, ready for ``json.dumps``."""
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return value
    if isinstance(value, _MARKERS):
        return value.to_json()
    if kind is MappingProxyType or kind is dict or isinstance(value, Mapping):
        return {k: v if type(v) in _SCALAR_TYPES else thaw(v) for k, v in value.items()}
    if kind is tuple or isinstance(value, tuple):
        return [v if type(v) in _SCALAR_TYPES else thaw(v) for v in value]
    return value


class ProbeRecord(NamedTuple):
    """How one probe went: ``ok``, ``timeout`` or ``error``, how long it took, and why."""

    name: str
    status: str
    seconds: float
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "seconds": round(self.seconds, 4)}
        if self.error:
            data["error"] = self.error
        return data

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ProbeRecord:
        return cls(
            name=name,
            status=str(data.get("status", "ok")),
            seconds=float(data.get("seconds", 0.0)),
            error=str(data.get("error", "")),
        )


class _RecordingMapping(Mapping[str, Any]):
    """A read-only view that writes down the dotted path of every key read through it."""

    __slots__ = ("_data", "_log", "_prefix")

    def __init__(self, data: Mapping[str, Any], prefix: str, log: set[str]) -> None:
        self._data, self._prefix, self._log = data, prefix, log

    def _path(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else key

    def __getitem__(self, key: str) -> Any:
        path = self._path(key)
        self._log.add(path)
        return _recording(self._data[key], path, self._log)

    def get(self, key: str, default: Any = None) -> Any:
        path = self._path(key)
        self._log.add(path)
        if key in self._data:
            return _recording(self._data[key], path, self._log)
        return default

    def __contains__(self, key: object) -> bool:
        self._log.add(self._path(str(key)))
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        self._log.add(self._path("*"))
        return iter(self._data)

    def __len__(self) -> int:
        self._log.add(self._path("*"))
        return len(self._data)


def _recording(value: Any, path: str, log: set[str]) -> Any:
    return _RecordingMapping(value, path, log) if isinstance(value, Mapping) else value


class Facts(Mapping[str, Any]):
    """Read-only facts, keyed by section name (``host``, ``memory``, ``gpu`` ...)."""

    __slots__ = ("_log", "_sections", "probes", "schema_version")

    def __init__(
        self,
        sections: Mapping[str, Any],
        probes: Mapping[str, ProbeRecord] | None = None,
        schema_version: int = SCHEMA_VERSION,
    ) -> None:
        self._sections = freeze(dict(sections))
        self.probes: Mapping[str, ProbeRecord] = MappingProxyType(dict(probes or {}))
        self.schema_version = schema_version
        self._log: set[str] | None = None

    @classmethod
    def of_frozen_sections(
        cls,
        sections: Mapping[str, Any],
        probes: Mapping[str, ProbeRecord] | None = None,
        schema_version: int = SCHEMA_VERSION,
    ) -> Facts:
        """Facts over sections whose values are frozen already, as :func:`freeze` makes them,
        and shared with no one (the replay loader freezes a 50k-row table as it checks it;
        freezing it again would copy every row). Only the section mapping is copied."""
        facts = cls({}, probes, schema_version)
        facts._sections = MappingProxyType({str(k): v for k, v in sections.items()})
        return facts

    def recording(self) -> tuple[Facts, set[str]]:
        """A view of these facts that notes the dotted path of every fact read through it.

        Tests use it to prove that a check reads only the facts it declares.
        """
        view = Facts.__new__(Facts)
        view._sections, view.probes, view.schema_version = (
            self._sections,
            self.probes,
            self.schema_version,
        )
        view._log = set()
        return view, view._log

    def __getitem__(self, key: str) -> Any:
        if self._log is not None:
            self._log.add(key)
            return _recording(self._sections[key], key, self._log)
        return self._sections[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections)

    def __len__(self) -> int:
        return len(self._sections)

    def __repr__(self) -> str:
        return f"Facts(sections={sorted(self._sections)})"

    def get(self, path: str, default: Any = None) -> Any:
        """The fact at a dotted ``path``; an :class:`Unavailable` that says why if missing.

        ``default`` is returned instead only when it is given and the path does not exist;
        an Unavailable recorded by a probe is always returned as is.
        """
        if self._log is not None:
            self._log.add(path)
        node: Any = self._sections
        walked: list[str] = []
        for part in path.split("."):
            if isinstance(node, (Unavailable, NotApplicable)):
                return node
            if isinstance(node, Mapping) and part in node:
                node = node[part]
                walked.append(part)
                continue
            if default is not None:
                return default
            if not walked:
                probe = self.probes.get(part)
                if probe is not None and probe.error:
                    return Unavailable(f"probe {part!r} {probe.status}: {probe.error}")
                return Unavailable(f"{part!r} was not collected")
            return Unavailable(f"{path!r} was not collected")
        return node if self._log is None else _recording(node, path, self._log)

    def to_json(self) -> dict[str, Any]:
        sections: dict[str, Any] = thaw(self._sections)
        return sections

    def probes_json(self) -> dict[str, Any]:
        return {name: record.to_json() for name, record in self.probes.items()}
