"""The one funnel every NVML call goes through.

NVML can be missing, refuse ("NotSupported" under WSL and WDDM, "NoPermission" in
containers), lose the GPU, or hang. :meth:`Nvml.call` turns all of that into a value or an
:class:`~gpudoctor.facts.model.Unavailable` with a plain reason, each call bounded by a
timeout, and falls back from ``_v3`` to ``_v2`` to the plain function where the bindings or
the driver lack the newer one. The module behind it is injectable, so tests drive the same
code with a fake that raises the real ``pynvml`` exception classes.
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

from gpudoctor.facts.model import Unavailable

#: Seconds one NVML call may take before we stop waiting for it.
DEFAULT_CALL_TIMEOUT = 1.5

# NVML error codes (nvml.h); matched by value so any binding version maps the same way.
_REASONS = {
    1: "NVML is not initialized",
    2: "invalid argument",
    3: "not supported on this GPU, driver or platform",
    4: "no permission (containers need the NVIDIA runtime; check access to /dev/nvidia*)",
    6: "not found",
    7: "insufficient size",
    8: "insufficient power (check the GPU's power cables)",
    9: "the NVIDIA driver is not loaded",
    10: "timed out inside the driver",
    12: "NVML library not found (no NVIDIA driver installed?)",
    13: "function not found in this driver's NVML (driver too old)",
    15: "GPU is lost (fallen off the bus; reboot, then check power and seating)",
    17: "operating system blocked GPU access",
    18: "driver and NVML library versions do not match (reboot after a driver update)",
    999: "unknown NVML error",
}


class Nvml:
    """An initialized NVML session; every query returns a value or an Unavailable."""

    def __init__(self, module: ModuleType | Any, timeout: float = DEFAULT_CALL_TIMEOUT) -> None:
        self.module = module
        self.timeout = timeout
        self.init_error: Unavailable | None = None
        result = self.call("nvmlInit")
        if isinstance(result, Unavailable):
            self.init_error = result

    @property
    def ok(self) -> bool:
        return self.init_error is None

    def call(self, name: str, *args: Any, versions: tuple[str, ...] = ()) -> Any:
        """Call ``module.<name><suffix>(*args)`` for the first suffix that exists.

        ``versions`` lists suffixes to try first (``("_v3", "_v2")``); the plain name is
        always the last resort. A suffix whose function is missing or reports
        "function not found" moves on to the next.
        """
        last: Unavailable = Unavailable(f"{name} is not in these NVML bindings")
        for suffix in (*versions, ""):
            func = getattr(self.module, name + suffix, None)
            if func is None:
                continue
            result = _call_with_timeout(func, args, self.timeout, name + suffix)
            if isinstance(result, Unavailable) and "function not found" in result.reason:
                last = result
                continue
            return result
        return last

    def shutdown(self) -> None:
        if self.ok:
            self.call("nvmlShutdown")


def describe_error(exc: BaseException) -> str:
    """A plain reason for an NVML exception (by error code, else by class name)."""
    code = getattr(exc, "value", None)
    if isinstance(code, int) and code in _REASONS:
        return _REASONS[code]
    name = type(exc).__name__
    if name.startswith("NVMLError_"):
        return name[len("NVMLError_") :]
    return f"{name}: {exc}"


def _call_with_timeout(func: Any, args: tuple[Any, ...], timeout: float, label: str) -> Any:
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = func(*args)
        except Exception as exc:  # noqa: BLE001 - NVML errors become reasons
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"nvml-{label}", daemon=True).start()
    if not done.wait(timeout):
        return Unavailable(f"{label} did not return within {timeout:g} s (driver hung?)")
    if "error" in box:
        return Unavailable(f"{label}: {describe_error(box['error'])}")
    return box["value"]


def open_nvml(
    module: ModuleType | Any | None = None, timeout: float = DEFAULT_CALL_TIMEOUT
) -> Nvml | Unavailable:
    """Import the official bindings (``nvidia-ml-py``) unless given a module, and init."""
    if module is None:
        try:
            import pynvml as module
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
