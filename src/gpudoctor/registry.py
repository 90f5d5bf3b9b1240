"""The check registry: built-in check modules plus third-party ones from entry points.

A check is a pure function of the facts, declared with :func:`check`. Built-in check
modules are listed in :data:`gpudoctor.checks.BUILTIN_MODULES`; a plugin distribution
declares, in the ``gpudoctor.checks`` entry-point group, a module of decorated functions
under a name that is its id prefix::

    [project.entry-points."gpudoctor.checks"]
    ACME = "acme_checks.gpu"

Plugins are validated when loaded (id format and prefix, unique ids, kebab-case names,
fact paths, fix names). A plugin that fails to load or validate becomes a ``GD900``
finding; the rest of the checks still run.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from types import ModuleType
from typing import Any
from typing import NamedTuple

from gpudoctor.declare import SPEC_ATTR
from gpudoctor.declare import CheckSpec
from gpudoctor.errors import BadInputError
from gpudoctor.errors import PluginError
from gpudoctor.lazy_regex import lazy_compile

ENTRY_POINT_GROUP = "gpudoctor.checks"
ID_PATTERN = lazy_compile(r"^[A-Z]{2,4}[0-9]{3}$")
NAME_PATTERN = lazy_compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
BUILTIN_PREFIX = "GD"

#: Fixes that ``gpudoctor fix`` knows how to plan and apply; a check may name only these.
KNOWN_FIXES = frozenset({"kill-stale", "wslconfig"})


class LoadError(NamedTuple):
    """A plugin that could not be used, and why; reported as a GD900 finding."""

    plugin: str
    distribution: str
    message: str


class Registry:
    """All checks that can run, in id order, plus the plugins that failed to load."""

    def __init__(
        self,
        checks: dict[str, CheckSpec] | None = None,
        load_errors: list[LoadError] | None = None,
        load_rest: Callable[[Registry], None] | None = None,
    ) -> None:
        self.checks: dict[str, CheckSpec] = {} if checks is None else checks
        self.load_errors: list[LoadError] = [] if load_errors is None else load_errors
        #: Loads the checks ``load_registry(everything=False)`` left out; None when all are in.
        self.load_rest = load_rest

    def __repr__(self) -> str:
        return f"Registry({len(self.checks)} checks, {len(self.load_errors)} load errors)"

    def complete(self) -> None:
        """Load the checks that were left out, if any."""
        if self.load_rest is not None:
            load, self.load_rest = self.load_rest, None
            load(self)

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.complete()
        return iter(sorted(self.checks.values(), key=lambda s: s.id))

    def get(self, check_id: str) -> CheckSpec | None:
        if self.load_rest is not None:
            found = self._get(check_id)
            if found is not None:
                return found
            self.complete()
        return self._get(check_id)

    def _get(self, check_id: str) -> CheckSpec | None:
        key = check_id.strip()
        if key.upper() in self.checks:
            return self.checks[key.upper()]
        for spec in self.checks.values():
            if spec.name == key.lower():
                return spec
        return None

    def add_module(
        self, module: ModuleType, *, prefix: str, origin: str, check_fact_paths: bool = True
    ) -> list[CheckSpec]:
        """Collect and validate every check declared in ``module``.

        ``check_fact_paths=False`` leaves out the lookup of each fact path in the schema
        (resolving the section types costs ~15 ms): for the built-in checks, whose paths the
        test suite checks (``test_declared_facts_exist_in_the_schema``).
        """
        found = [
            getattr(obj, SPEC_ATTR)
            for obj in vars(module).values()
            if callable(obj) and isinstance(getattr(obj, SPEC_ATTR, None), CheckSpec)
        ]
        if not found:
            raise PluginError(f"module {module.__name__} declares no checks")
        staged: dict[str, CheckSpec] = {}
        for spec in found:
            _validate(spec, prefix, check_fact_paths=check_fact_paths)
            if spec.id in self.checks or spec.id in staged:
                raise PluginError(f"check id {spec.id} is declared twice")
            staged[spec.id] = _with_origin(spec, origin)
        self.checks.update(staged)
        return list(staged.values())

    def select(self, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[CheckSpec]:
        """The checks to run: ids, names or id prefixes; unknown ones are a usage error.

        From a registry loaded without everything, the checks left out are loaded (and can
        be chosen) only when a token matches none of the loaded ones.
        """
        chosen_tokens = _tokens(select)
        ignored_tokens = _tokens(ignore)
        for token in [*chosen_tokens, *ignored_tokens]:
            if self.load_rest is not None and not any(
                _matches(spec, token) for spec in self.checks.values()
            ):
                self.complete()
            if not any(_matches(spec, token) for spec in self.checks.values()):
                raise BadInputError(
                    f"unknown check {token!r}: see 'gpudoctor list' for the check ids"
                )
        result = []
        for spec in sorted(self.checks.values(), key=lambda s: s.id):
            if chosen_tokens and not any(_matches(spec, t) for t in chosen_tokens):
                continue
            if any(_matches(spec, t) for t in ignored_tokens):
                continue
            result.append(spec)
        return result


def _tokens(values: Iterable[str]) -> list[str]:
    tokens: list[str] = []
    for value in values:
        tokens.extend(t.strip() for t in value.split(",") if t.strip())
    return tokens


def _matches(spec: CheckSpec, token: str) -> bool:
    upper = token.upper()
    return (
        spec.id == upper
        or spec.name == token.lower()
        or (bool(re.fullmatch(r"[A-Z]{2,4}[0-9]{0,2}", upper)) and spec.id.startswith(upper))
    )


def _with_origin(spec: CheckSpec, origin: str) -> CheckSpec:
    if spec.origin == origin:  # immutable: the declared spec itself will do
        return spec
    return spec._replace(origin=origin)


def _validate(spec: CheckSpec, prefix: str, *, check_fact_paths: bool = True) -> None:
    if not ID_PATTERN.match(spec.id):
        raise PluginError(f"check id {spec.id!r} is not of the form ABC123 (2-4 letters, 3 digits)")
    letters = spec.id.rstrip("0123456789")
    if letters != prefix:
        raise PluginError(f"check id {spec.id} does not use its plugin's prefix {prefix!r}")
    if not NAME_PATTERN.match(spec.name):
        raise PluginError(f"check {spec.id} name {spec.name!r} is not kebab-case")
    if not spec.summary.strip():
        raise PluginError(f"check {spec.id} has no summary")
    if spec.func is None:
        raise PluginError(f"check {spec.id} has no function")
    for path in (*spec.requires, *spec.uses):
        if not isinstance(path, str) or not re.fullmatch(r"[a-z0-9_]+(\.[A-Za-z0-9_]+)*", path):
            raise PluginError(f"check {spec.id} requires a malformed fact path {path!r}")
        if check_fact_paths and not _declared_path(path):
            raise PluginError(
                f"check {spec.id} reads {path!r}, which is not a fact in gpudoctor's schema "
                "(see gpudoctor.facts.sections)"
            )
    if spec.fix is not None and spec.fix not in KNOWN_FIXES:
        raise PluginError(
            f"check {spec.id} names fix {spec.fix!r}, which gpudoctor does not provide "
            f"(known: {', '.join(sorted(KNOWN_FIXES))})"
        )


# -- loading ----------------------------------------------------------------------------


def _runner_check(id: str, name: str, summary: str) -> CheckSpec:
    """A check the runner reports itself: no function, a reference page like any other."""
    return CheckSpec(
        id=id,
        name=name,
        summary=summary,
        func=None,
        reference=f"checks/{id}.md",
        tags=("gpudoctor",),
    )


#: Checks emitted by the runner itself rather than by a check function.
RUNNER_CHECKS = (
    _runner_check("GD900", "plugin-load-failed", "A third-party check plugin could not be loaded"),
    _runner_check(
        "GD901", "check-crashed", "A check raised an exception instead of returning a verdict"
    ),
    _runner_check(
        "GD902", "probe-failed", "A probe failed or ran past its timeout, so some facts are missing"
    ),
)


#: Built-in modules whose checks only ``gpudoctor watch`` runs (every one tagged ``watch``).
WATCH_MODULES = ("gpudoctor.checks.run_live",)


def load_registry(
    *,
    plugins: bool = True,
    entry_points: Iterable[Any] | None = None,
    everything: bool = True,
) -> Registry:
    """Load the built-in checks and, unless ``plugins`` is False, the installed plugins.

    ``everything=False`` is for ``check``, which never runs the cluster checks (``merge`` and
    ``cluster`` do) nor a watched run's: their modules are imported only when the registry
    is iterated, or when a ``select`` token names none of the others (see
    :meth:`Registry.select`).
    """
    from gpudoctor.checks import BUILTIN_MODULES

    registry = Registry()
    for spec in RUNNER_CHECKS:
        registry.checks[spec.id] = spec
    if everything:
        _load_checks_check_never_runs(registry)
    else:
        registry.load_rest = _load_checks_check_never_runs
    for module_name in BUILTIN_MODULES:
        if module_name in WATCH_MODULES:
            continue
        _add_builtin(registry, module_name)
    if plugins:
        for ep in entry_points if entry_points is not None else _plugin_entry_points():
            _load_plugin(registry, ep)
    return registry


def _declared_path(path: str) -> bool:
    """The schema's answer; it loads only for plugins (built-ins are checked by the tests)."""
    from gpudoctor.facts.schema import declared_path

    return declared_path(path)


def _add_builtin(registry: Registry, module_name: str) -> None:
    module = importlib.import_module(module_name)
    registry.add_module(module, prefix=BUILTIN_PREFIX, origin="gpudoctor", check_fact_paths=False)


def _load_checks_check_never_runs(registry: Registry) -> None:
    """The cluster checks (compare nodes: run by ``merge`` and ``cluster``) and the watch ones."""
    from gpudoctor.checks.cluster import cluster_specs

    for spec in cluster_specs():
        registry.checks[spec.id] = spec
    for module_name in WATCH_MODULES:
        _add_builtin(registry, module_name)


def _plugin_entry_points() -> list[Any]:
    """Installed entry points of our group.

    ``importlib.metadata.entry_points()`` parses the metadata of every installed distribution
    (a quarter of a second in an environment with torch, on every ``check``). Plugins are
    rare, so a plain scan of ``entry_points.txt`` files finds the distributions that declare
    one first, and only those are loaded through ``importlib.metadata``.
    """
    marker = f"[{ENTRY_POINT_GROUP}]".encode()
    declaring: list[str] = []
    for entry in sys.path:
        if entry and os.path.isfile(entry):  # a zip on the path: let importlib.metadata look
            return _metadata_entry_points()
        try:
            listing = os.scandir(entry or ".")
        except OSError:
            continue
        with listing:
            for item in listing:
                if not item.name.endswith((".dist-info", ".egg-info")):
                    continue
                text = _head(os.path.join(item.path, "entry_points.txt"))
                if text is not None and marker in text:
                    declaring.append(item.path)
    if not declaring:
        return []
    from importlib.metadata import PathDistribution
    from pathlib import Path  # importlib.metadata walks a Path

    found: list[Any] = []
    seen: set[str] = set()
    for path in declaring:  # sys.path order: the first distribution of a name wins
        dist = PathDistribution(Path(path))
        name = re.sub(r"[-_.]+", "-", str(dist.metadata["Name"] or path)).lower()
        if name in seen:
            continue
        seen.add(name)
        found.extend(ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP)
    return found


def _head(path: str) -> bytes | None:
    """The first MiB of a file, or None where there is none (most distributions have no
    ``entry_points.txt``); a bare ``os.open`` skips the buffered file object per file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        return os.read(fd, 1 << 20)
    except OSError:
        return None
    finally:
        os.close(fd)


def _metadata_entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        return list(entry_points(group=ENTRY_POINT_GROUP))
    return list(entry_points().get(ENTRY_POINT_GROUP, ()))  # pragma: no cover - 3.9


def _distribution_label(ep: Any) -> str:
    dist = getattr(ep, "dist", None) or _owner_of(ep)
    if dist is None:
        return "unknown distribution"
    meta: Mapping[str, str] = getattr(dist, "metadata", {}) or {}
    return f"{meta.get('Name', '?')} {getattr(dist, 'version', '?')}"


def _owner_of(ep: Any) -> Any:
    """The distribution that declares ``ep`` (Python 3.9's entry points do not carry it)."""
    from importlib.metadata import distributions

    key = (getattr(ep, "group", None), getattr(ep, "name", None), getattr(ep, "value", None))
    for dist in distributions():
        for declared in dist.entry_points:
            if (declared.group, declared.name, declared.value) == key:
                return dist
    return None


def _load_plugin(registry: Registry, ep: Any) -> None:
    label = _distribution_label(ep)
    prefix = str(ep.name).strip().upper()
    try:
        if prefix == BUILTIN_PREFIX or not re.fullmatch(r"[A-Z]{2,4}", prefix):
            raise PluginError(
                f"entry-point name {ep.name!r} must be its id prefix: 2-4 letters, not 'GD'"
            )
        module = ep.load()
        if not isinstance(module, ModuleType):
            raise PluginError(f"{ep.value} is not a module of checks")
        registry.add_module(module, prefix=prefix, origin=label)
    except Exception as exc:  # noqa: BLE001 - any plugin failure is reported, not raised
        message = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        registry.load_errors.append(
            LoadError(plugin=str(ep.name), distribution=label, message=message)
        )
