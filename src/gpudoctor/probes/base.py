"""What a probe is, and the only door through which probes touch the operating system.

A probe is a function ``(ctx: ProbeContext) -> dict`` that fills one facts section. All file
reads go through ``ctx.path`` (under an overridable root, like psutil's ``PROCFS_PATH``) and
all commands through ``ctx.run`` (always with a timeout), so tests can point a probe at a
recorded ``/proc`` tree and nothing can hang the doctor.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any
from typing import Callable
from typing import NamedTuple

from gpudoctor.facts.model import Unavailable

if TYPE_CHECKING:
    from gpudoctor.facts.model import NotApplicable
    from gpudoctor.probes.identity import MachineIdentity

#: A probe returns its section (a ``TypedDict`` from :mod:`gpudoctor.facts.sections`), or
#: says the whole section does not apply here.
ProbeFunc = Callable[["ProbeContext"], "Mapping[str, Any] | NotApplicable"]

#: Seconds a probe may run unless it asks for another limit.
DEFAULT_PROBE_TIMEOUT = 2.0


class ProbeSpec(NamedTuple):
    """A registered probe: the section it fills, its limit, and when it applies."""

    section: str
    func: ProbeFunc
    timeout: float = DEFAULT_PROBE_TIMEOUT
    #: Returns False when the probe has nothing to do for this run (e.g. no ``--script``).
    enabled: Callable[[ProbeContext], bool] | None = None
    #: Deep probes run only with ``check --deep``.
    deep: bool = False
    description: str = ""


_REGISTERED: dict[str, ProbeSpec] = {}


def probe(
    section: str,
    *,
    timeout: float = DEFAULT_PROBE_TIMEOUT,
    enabled: Callable[[ProbeContext], bool] | None = None,
    deep: bool = False,
) -> Callable[[ProbeFunc], ProbeFunc]:
    """Register ``func`` as the probe that fills facts section ``section``."""

    def decorate(func: ProbeFunc) -> ProbeFunc:
        if section in _REGISTERED and _REGISTERED[section].func is not func:
            raise ValueError(f"facts section {section!r} already has a probe")
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTERED[section] = ProbeSpec(
            section=section,
            func=func,
            timeout=timeout,
            enabled=enabled,
            deep=deep,
            description=doc[0] if doc else "",
        )
        return func

    return decorate


def registered_probes() -> dict[str, ProbeSpec]:
    return dict(_REGISTERED)


class CommandTimeout(Exception):
    """A command run by a probe did not finish within its timeout (it has been killed)."""


class CommandResult(NamedTuple):
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class ProbeContext:
    """Everything a probe may use to look at the machine.

    ``root`` prefixes every absolute path a probe reads, so a test can serve a recorded
    ``/proc`` and ``/sys``; ``options`` carries what the user asked for on the command line
    (``wslconfig``, ``scripts``, ``data`` ...). ``nvml_module`` is the NVML bindings to use
    (None: the real ``pynvml``; tests pass a fake).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = "/",
        env: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
        platform: str = sys.platform,
        deep: bool = False,
        nvml_module: Any = None,
    ) -> None:
        self.root = root
        self.env: Mapping[str, str] = dict(os.environ) if env is None else env
        self.options: Mapping[str, Any] = {} if options is None else options
        self.platform = platform
        self.deep = deep
        self.nvml_module = nvml_module
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ProbeContext(root={self.root!r}, platform={self.platform!r}, deep={self.deep})"

    @property
    def is_live(self) -> bool:
        """True when probing this very machine (not a recorded tree under another root)."""
        return os.fspath(self.root) == "/"

    # -- files ---------------------------------------------------------------------------
    def path(self, absolute: str | os.PathLike[str]) -> str:
        """``absolute`` under the context's root (``/proc/meminfo`` -> ``ROOT/proc/meminfo``)."""
        text = os.fspath(absolute)
        if self.is_live or not text.startswith("/"):
            return text
        return os.path.join(self.root, text.lstrip("/"))

    def read_text(self, absolute: str | os.PathLike[str], max_bytes: int = 1 << 20) -> str:
        """Read a (small) text file under the root; undecodable bytes are replaced."""
        with open(self.path(absolute), "rb") as handle:
            data = handle.read(max_bytes)
        return data.decode("utf-8", errors="replace")

    def exists(self, absolute: str | os.PathLike[str]) -> bool:
        return os.path.exists(self.path(absolute))

    # -- commands ------------------------------------------------------------------------
    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.env.get("PATH"))

    def run(self, argv: list[str] | tuple[str, ...], timeout: float = 2.0) -> CommandResult:
        """Run ``argv`` (never through a shell) and return its output, or raise.

        Raises :class:`CommandTimeout` when it runs past ``timeout`` (the child is killed)
        and ``FileNotFoundError`` when the program does not exist.
        """
        try:
            completed = subprocess.run(
                list(argv),
                capture_output=True,
                timeout=timeout,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(f"{argv[0]} did not answer within {timeout:g} s") from exc
        return CommandResult(
            argv=tuple(argv),
            returncode=completed.returncode,
            stdout=completed.stdout.decode("utf-8", errors="replace"),
            stderr=completed.stderr.decode("utf-8", errors="replace"),
        )

    def run_or_unavailable(
        self, argv: list[str] | tuple[str, ...], timeout: float, *, name: str = ""
    ) -> CommandResult | Unavailable:
        """``run``, with a timeout or a program that cannot start turned into the
        ``Unavailable`` reason (``cannot run NAME: ...``, NAME defaulting to ``argv[0]``)."""
        try:
            return self.run(argv, timeout=timeout)
        except CommandTimeout as exc:
            return Unavailable(str(exc))
        except OSError as exc:
            return Unavailable(f"cannot run {name or argv[0]}: {exc.strerror or exc}")

    # -- shared, computed once per run --------------------------------------------------
    @property
    def identity(self) -> MachineIdentity:
        """Platform kind, container kind and usable CPUs, decided once per gather."""
        from gpudoctor.probes.identity import identify

        identity: MachineIdentity = self.cached("identity", lambda: identify(self))
        return identity

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value once per gather, shared by probes (e.g. "is this WSL?")."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._lock:
            return self._cache.setdefault(key, value)
