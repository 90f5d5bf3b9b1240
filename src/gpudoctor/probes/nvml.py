"""The one funnel every NVML call goes through.

NVML can be missing, refuse ("NotSupported" under WSL and WDDM, "NoPermission" in
containers), lose the GPU, or hang. :meth:`Nvml.call` turns all of that into a value or an
:class:`~gpudoctor.facts.model.Unavailable` with a plain reason, each call bounded by a
timeout, and falls back from ``_v3`` to ``_v2`` to the plain function where the bindings or
the driver lack the newer one. The module behind it is injectable, so tests drive the same
code with a fake that raises the real ``pynvml`` exception classes
(:mod:`gpudoctor.testing.fake_nvml`).
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

from gpudoctor.facts.model import Unavailable

#: Seconds one NVML call may take before we stop waiting for it.
DEFAULT_CALL_TIMEOUT = 1.0

#: After this many calls that never returned, NVML is treated as wedged and not asked again:
#: a hung driver usually hangs every call, and each would cost a full timeout.
MAX_HUNG_CALLS = 2

# NVML error codes (nvml.h); matched by value so any binding version maps the same way.
NOT_SUPPORTED = 3
FUNCTION_NOT_FOUND = 13

_REASONS = {
    1: "NVML is not initialized",
    2: "invalid argument",
    3: "not supported on this GPU, driver or platform",
    4: "no permission (containers need the NVIDIA runtime; check access to /dev/nvidia*)",
    5: "NVML was already initialized",
    6: "not found",
    7: "insufficient size",
    8: "insufficient power (check the GPU's power cables)",
    9: "the NVIDIA driver is not loaded",
    10: "timed out inside the driver",
    11: "interrupt problem between the GPU and the system",
    12: "NVML library not found (no NVIDIA driver installed?)",
    13: "function not found in this driver's NVML (driver older than the bindings)",
    14: "the GPU's infoROM is corrupted",
    15: "GPU is lost (fallen off the bus; reboot, then check power and seating)",
    16: "the GPU needs a reset or a reboot",
    17: "operating system blocked GPU access",
    18: "driver and NVML library versions do not match (reboot after a driver update)",
    19: "the GPU is in use by another operation",
    20: "NVML ran out of memory",
    21: "no data",
    25: "the bindings and the driver disagree on a structure version (update nvidia-ml-py)",
    26: "deprecated in this driver",
    27: "not ready yet",
    28: "GPU not found",
    29: "invalid state",
    999: "unknown NVML error",
}


class Nvml:
    """An initialized NVML session; every query returns a value or an Unavailable."""

    def __init__(self, module: ModuleType | Any, timeout: float = DEFAULT_CALL_TIMEOUT) -> None:
        self.module = module
        self.timeout = timeout
        self.hung_calls: list[str] = []
        self.init_error: Unavailable | None = None
        result = self.call("nvmlInit")
        if isinstance(result, Unavailable):
            self.init_error = result

    @property
    def ok(self) -> bool:
        return self.init_error is None

    @property
    def wedged(self) -> bool:
        """True once enough calls hung that asking NVML again would only waste time."""
        return len(self.hung_calls) >= MAX_HUNG_CALLS

    def call(self, name: str, *args: Any, versions: tuple[str, ...] = ()) -> Any:
        """Call ``module.<name><suffix>(*args)`` for the first suffix that exists.

        ``versions`` lists suffixes to try first (``("_v3", "_v2")``); the plain name is
        always the last resort. A suffix whose function is missing from the bindings, or
        whose C symbol the driver lacks ("function not found"), moves on to the next.
        """
        last: Unavailable = Unavailable(f"{name} is not in these NVML bindings")
        for suffix in (*versions, ""):
            label = name + suffix
            func = getattr(self.module, label, None)
            if func is None:
                continue
            if self.wedged:
                return Unavailable(
                    f"{label} not attempted: NVML stopped answering "
                    f"({', '.join(self.hung_calls)} hung)"
                )
            outcome = _call_with_timeout(func, args, self.timeout)
            if outcome.hung:
                self.hung_calls.append(label)
                return Unavailable(
                    f"{label} did not return within {self.timeout:g} s (driver hung?)"
                )
            if outcome.error is not None:
                if _is_function_missing(outcome.error):
                    last = Unavailable(f"{label}: {describe_error(outcome.error)}")
                    continue
                return Unavailable(f"{label}: {describe_error(outcome.error)}")
            return outcome.value
        return last

    def shutdown(self) -> None:
        if self.ok and not self.wedged:
            self.call("nvmlShutdown")


def error_code(exc: BaseException) -> int | None:
    """The NVML return code behind an exception (``NVMLError.value``), if it has one."""
    code = getattr(exc, "value", None)
    return code if isinstance(code, int) else None


def describe_error(exc: BaseException) -> str:
    """A plain reason for an NVML exception (by error code, else by class name)."""
    code = error_code(exc)
    if code is not None and code in _REASONS:
        return _REASONS[code]
    name = type(exc).__name__
    if name == "NVMLLibraryMismatchError":
        return _REASONS[FUNCTION_NOT_FOUND]
    if name.startswith("NVMLError_"):
        return name[len("NVMLError_") :]
    if code is not None:
        return f"NVML error {code}"
    return f"{name}: {exc}"


def is_not_supported(value: Any) -> bool:
    """True for the Unavailable that an NVMLError_NotSupported became."""
    return isinstance(value, Unavailable) and _REASONS[NOT_SUPPORTED] in value.reason


def _is_function_missing(exc: BaseException) -> bool:
    # The unversioned process-list wrappers turn FunctionNotFound into their own class.
    return error_code(exc) == FUNCTION_NOT_FOUND or type(exc).__name__ == (
        "NVMLLibraryMismatchError"
    )


class _Outcome:
    __slots__ = ("error", "hung", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.hung = False


def _call_with_timeout(func: Any, args: tuple[Any, ...], timeout: float) -> _Outcome:
    """Run one binding call in a daemon thread; a call that never returns is abandoned."""
    outcome = _Outcome()
    done = threading.Event()

    def target() -> None:
        try:
            outcome.value = func(*args)
        except Exception as exc:  # noqa: BLE001 - NVML errors become reasons
            outcome.error = exc
        finally:
            done.set()

    threading.Thread(target=target, name="gpudoctor-nvml-call", daemon=True).start()
    if not done.wait(timeout):
        outcome.hung = True
    return outcome


def open_nvml(
    module: ModuleType | Any | None = None, timeout: float = DEFAULT_CALL_TIMEOUT
) -> Nvml | Unavailable:
    """Import the official bindings (``nvidia-ml-py``) unless given a module, and init."""
    if module is None:
        try:
            import pynvml

            module = pynvml
        except ImportError:
            return Unavailable("the nvidia-ml-py package (module pynvml) is not installed")
    session = Nvml(module, timeout=timeout)
    if session.init_error is not None:
        return session.init_error
    return session


def text(value: Any) -> Any:
    """NVML returns bytes from old bindings and str from new ones; facts hold str."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value
