"""A stand-in for the ``pynvml`` module, fed by plain data, for machines without a GPU.

It answers with the same types and units as nvidia-ml-py 13.x (bytes, milliwatts, degrees
Celsius, ctypes structures for memory and utilization, friendly objects with
``usedGpuMemory = None`` for WDDM's "not available"), raises the real
``pynvml.NVMLError`` subclasses, and can be told to lack functions (old drivers:
FunctionNotFound, which the unversioned process wrappers turn into
``NVMLLibraryMismatchError``), to lack them in the bindings altogether, to raise on one
call, or to hang on one call. A fact missing from a device's data answers NotSupported, as
NVML does for GeForce ECC counters and the like.

Data shape (every key optional)::

    {"driver_version": "550.120", "cuda_driver_version": 12040,
     "init_error": "LibraryNotFound",            # nvmlInit raises this
     "missing_functions": ["nvmlDeviceGetComputeRunningProcesses_v3"],
     "absent_functions": ["nvmlDeviceGetCurrentClocksEventReasons"],
     "raise": {"nvmlDeviceGetPowerUsage": "NoPermission"},
     "hang": {"nvmlDeviceGetTemperature": 30.0},
     "devices": [{"name": "...", "uuid": "GPU-...", "memory": {"total": 0, "free": 0,
                  "used": 0}, "temperature": 45, "temperature_thresholds": {"slowdown": 90},
                  "power_usage_mw": 0, "power_limit_mw": 0, "clocks_event_reasons": 1,
                  "pcie": {"curr_gen": 4, "max_gen": 4, "gpu_max_gen": 4, "curr_width": 16,
                  "max_width": 16}, "utilization": {"gpu": 0, "memory": 0},
                  "ecc_mode": [1, 1], "ecc_errors": {"volatile": {"corrected": 0,
                  "uncorrected": 0}, "aggregate": {...}}, "retired_pages": {"single_bit": [],
                  "double_bit": [], "pending": 0}, "remapped_rows": [0, 0, 0, 0],
                  "persistence_mode": 1, "compute_mode": 0, "mig_mode": [0, 0],
                  "driver_model": [0, 0], "compute_capability": [8, 9],
                  "processes": [{"pid": 4242, "used_gpu_memory": null}],
                  "process_utilization": [{"pid": 4242, "seconds_ago": 1.5, "sm": 35,
                                           "mem": 10}],
                  "p2p_status": 0,
                  "lost": false, "errors": {"nvmlDeviceGetEccMode": "NotSupported"}}]}
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import pynvml

# Error classes and constants come from the real bindings, so ``except`` clauses match.
NVMLError = pynvml.NVMLError
NVMLLibraryMismatchError = pynvml.NVMLLibraryMismatchError

_THRESHOLD_NAMES = {
    pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: "shutdown",
    pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: "slowdown",
    pynvml.NVML_TEMPERATURE_THRESHOLD_MEM_MAX: "mem_max",
    pynvml.NVML_TEMPERATURE_THRESHOLD_GPU_MAX: "gpu_max",
}
_COUNTER_NAMES = {pynvml.NVML_VOLATILE_ECC: "volatile", pynvml.NVML_AGGREGATE_ECC: "aggregate"}
_ERROR_TYPE_NAMES = {
    pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED: "corrected",
    pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED: "uncorrected",
}
_RETIREMENT_NAMES = {
    pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS: "single_bit",
    pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR: "double_bit",
}


def error_code(name: str | int) -> int:
    """``"NotSupported"`` or ``"NOT_SUPPORTED"`` or ``3`` -> 3 (the nvml.h return code)."""
    if isinstance(name, int):
        return name
    wanted = re.sub(r"[^a-z]", "", name.lower())
    for attr in dir(pynvml):
        if attr.startswith("NVML_ERROR_") and attr[11:].replace("_", "").lower() == wanted:
            return int(getattr(pynvml, attr))
    raise ValueError(f"unknown NVML error name {name!r}")


def nvml_error(name: str | int) -> Exception:
    """The exception the real bindings raise for this error (``NVMLError_NotSupported`` ...)."""
    error: Exception = NVMLError(error_code(name))
    return error


class FakeHandle:
    """What ``nvmlDeviceGetHandleByIndex`` returns; the real one is an opaque pointer."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"FakeHandle({self.index})"


class FakeNvml:
    """Module-like object with the ``pynvml`` functions gpudoctor uses, answering from data."""

    # Constants that callers may read off the module, as they would off ``pynvml``.
    NVMLError = NVMLError
    NVMLLibraryMismatchError = NVMLLibraryMismatchError

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self.devices: list[dict[str, Any]] = [dict(d) for d in self.data.get("devices", [])]
        self.calls: list[str] = []
        self.initialized = 0
        #: Calls currently stuck in a configured hang (a test can see the caller gave up).
        self.hanging = 0
        self._release = threading.Event()
        self._lock = threading.Lock()

    # -- test controls ---------------------------------------------------------------------
    def release(self) -> None:
        """Let every hanging call return (tests call this so no thread outlives them)."""
        self._release.set()

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("nvml") and name in object.__getattribute__(self, "data").get(
            "absent_functions", ()
        ):
            raise AttributeError(f"module 'pynvml' has no attribute {name!r}")
        return object.__getattribute__(self, name)

    # -- plumbing --------------------------------------------------------------------------
    def _enter(self, name: str, *, needs_init: bool = True) -> None:
        with self._lock:
            self.calls.append(name)
        if name in self.data.get("missing_functions", ()):
            raise nvml_error("FunctionNotFound")
        seconds = self.data.get("hang", {}).get(name)
        if seconds is not None:
            with self._lock:
                self.hanging += 1
            try:
                self._release.wait(float(seconds))
            finally:
                with self._lock:
                    self.hanging -= 1
        raised = self.data.get("raise", {}).get(name)
        if raised is not None:
            raise nvml_error(raised)
        if needs_init and self.initialized <= 0:
            raise nvml_error("Uninitialized")

    def _device(self, name: str, handle: Any) -> dict[str, Any]:
        self._enter(name)
        if not isinstance(handle, FakeHandle) or not 0 <= handle.index < len(self.devices):
            raise nvml_error("InvalidArgument")
        device = self.devices[handle.index]
        if device.get("lost"):
            raise nvml_error("GpuIsLost")
        raised = device.get("errors", {}).get(name)
        if raised is not None:
            raise nvml_error(raised)
        return device

    @staticmethod
    def _field(device: Mapping[str, Any], key: str) -> Any:
        value = device.get(key)
        if value is None:
            raise nvml_error("NotSupported")
        return value

    def _int(self, name: str, handle: Any, key: str, entry: str | None = None) -> int:
        """A device's integer ``key`` (or that table's ``entry``): ``name``'s errors first,
        then NotSupported where it is unset."""
        value = self._field(self._device(name, handle), key)
        return int(value if entry is None else self._field(value, entry))

    def _current_pending(self, name: str, handle: Any, key: str) -> list[int]:
        """A mode NVML reports as ``[current, pending]``."""
        current, pending = self._field(self._device(name, handle), key)
        return [int(current), int(pending)]

    # -- library ---------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        self._enter("nvmlInit", needs_init=False)
        if self.data.get("init_error") is not None:
            raise nvml_error(self.data["init_error"])
        self.initialized += 1

    def nvmlInitWithFlags(self, flags: int) -> None:
        self.nvmlInit()

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialized -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return str(self._field(self.data, "driver_version"))

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return int(self._field(self.data, "cuda_driver_version"))

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion_v2")
        return int(self._field(self.data, "cuda_driver_version"))

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.devices):
            raise nvml_error("InvalidArgument")
        if self.devices[index].get("lost"):
            raise nvml_error("GpuIsLost")
        return FakeHandle(index)

    # -- topology --------------------------------------------------------------------------
    def nvmlDeviceGetP2PStatus(self, handle1: Any, handle2: Any, index: int) -> int:
        """``p2p_status`` of the first device (0: NVML_P2P_STATUS_OK; 4: not supported)."""
        first = self._device("nvmlDeviceGetP2PStatus", handle1)
        self._device("nvmlDeviceGetP2PStatus", handle2)
        return int(first.get("p2p_status", 0))

    # -- identity --------------------------------------------------------------------------
    def nvmlDeviceGetName(self, handle: Any) -> str:
        return str(self._field(self._device("nvmlDeviceGetName", handle), "name"))

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return str(self._field(self._device("nvmlDeviceGetUUID", handle), "uuid"))

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> tuple[int, int]:
        device = self._device("nvmlDeviceGetCudaComputeCapability", handle)
        major, minor = self._field(device, "compute_capability")
        return (int(major), int(minor))

    # -- memory, utilization ---------------------------------------------------------------
    def nvmlDeviceGetMemoryInfo(self, handle: Any, version: Any = None) -> Any:
        name = "nvmlDeviceGetMemoryInfo_v2" if version else "nvmlDeviceGetMemoryInfo"
        memory = self._field(self._device(name, handle), "memory")
        if version:
            return pynvml.c_nvmlMemory_v2_t(
                version=version,
                total=memory["total"],
                reserved=memory.get("reserved", 0),
                free=memory["free"],
                used=memory["used"],
            )
        return pynvml.c_nvmlMemory_t(
            total=memory["total"], free=memory["free"], used=memory["used"]
        )

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        util = self._field(self._device("nvmlDeviceGetUtilizationRates", handle), "utilization")
        return pynvml.c_nvmlUtilization_t(gpu=util["gpu"], memory=util["memory"])

    # -- temperature, power, clocks --------------------------------------------------------
    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        device = self._device("nvmlDeviceGetTemperature", handle)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise nvml_error("InvalidArgument")
        return int(self._field(device, "temperature"))

    def nvmlDeviceGetTemperatureThreshold(self, handle: Any, threshold: int) -> int:
        name = _THRESHOLD_NAMES.get(threshold, "?")
        return self._int(
            "nvmlDeviceGetTemperatureThreshold", handle, "temperature_thresholds", name
        )

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetPowerUsage", handle, "power_usage_mw")

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetEnforcedPowerLimit", handle, "power_limit_mw")

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: Any) -> int:
        return self._int(
            "nvmlDeviceGetPowerManagementDefaultLimit", handle, "power_default_limit_mw"
        )

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetCurrentClocksEventReasons", handle, "clocks_event_reasons")

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: Any) -> int:
        return self._int(
            "nvmlDeviceGetCurrentClocksThrottleReasons", handle, "clocks_event_reasons"
        )

    # -- PCIe ------------------------------------------------------------------------------
    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetCurrPcieLinkGeneration", handle, "pcie", "curr_gen")

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetMaxPcieLinkGeneration", handle, "pcie", "max_gen")

    def nvmlDeviceGetGpuMaxPcieLinkGeneration(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetGpuMaxPcieLinkGeneration", handle, "pcie", "gpu_max_gen")

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetCurrPcieLinkWidth", handle, "pcie", "curr_width")

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetMaxPcieLinkWidth", handle, "pcie", "max_width")

    # -- ECC, retired pages, remapped rows -------------------------------------------------
    def nvmlDeviceGetEccMode(self, handle: Any) -> list[int]:
        return self._current_pending("nvmlDeviceGetEccMode", handle, "ecc_mode")

    def nvmlDeviceGetTotalEccErrors(self, handle: Any, error_type: int, counter: int) -> int:
        device = self._device("nvmlDeviceGetTotalEccErrors", handle)
        counters = self._field(device, "ecc_errors").get(_COUNTER_NAMES.get(counter, "?"))
        if counters is None:
            raise nvml_error("NotSupported")
        value = counters.get(_ERROR_TYPE_NAMES.get(error_type, "?"))
        if value is None:
            raise nvml_error("InvalidArgument")
        return int(value)

    def nvmlDeviceGetRetiredPages(self, handle: Any, cause: int) -> list[int]:
        pages = self._field(self._device("nvmlDeviceGetRetiredPages", handle), "retired_pages")
        return [int(a) for a in pages.get(_RETIREMENT_NAMES.get(cause, "?"), [])]

    def nvmlDeviceGetRetiredPagesPendingStatus(self, handle: Any) -> int:
        device = self._device("nvmlDeviceGetRetiredPagesPendingStatus", handle)
        return int(self._field(device, "retired_pages").get("pending", 0))

    def nvmlDeviceGetRemappedRows(self, handle: Any) -> tuple[int, int, int, int]:
        device = self._device("nvmlDeviceGetRemappedRows", handle)
        corr, unc, pending, failure = self._field(device, "remapped_rows")
        return (int(corr), int(unc), int(pending), int(failure))

    # -- modes -----------------------------------------------------------------------------
    def nvmlDeviceGetPersistenceMode(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetPersistenceMode", handle, "persistence_mode")

    def nvmlDeviceGetComputeMode(self, handle: Any) -> int:
        return self._int("nvmlDeviceGetComputeMode", handle, "compute_mode")

    def nvmlDeviceGetMigMode(self, handle: Any) -> list[int]:
        return self._current_pending("nvmlDeviceGetMigMode", handle, "mig_mode")

    def nvmlDeviceGetDriverModel_v2(self, handle: Any) -> list[int]:
        return self._current_pending("nvmlDeviceGetDriverModel_v2", handle, "driver_model")

    def nvmlDeviceGetDriverModel(self, handle: Any) -> list[int]:
        # The current binding's unversioned name calls the _v2 symbol.
        return self.nvmlDeviceGetDriverModel_v2(handle)

    # -- processes -------------------------------------------------------------------------
    def _processes(self, name: str, handle: Any) -> list[Any]:
        device = self._device(name, handle)
        result = []
        for proc in self._field(device, "processes"):
            used = proc.get("used_gpu_memory")
            result.append(
                pynvml.nvmlFriendlyObject(
                    {
                        "pid": int(proc["pid"]),
                        "usedGpuMemory": None if used is None else int(used),
                        "gpuInstanceId": int(proc.get("gpu_instance_id", 0xFFFFFFFF)),
                        "computeInstanceId": int(proc.get("compute_instance_id", 0xFFFFFFFF)),
                    }
                )
            )
        return result

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: Any) -> list[Any]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses_v3", handle)

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: Any) -> list[Any]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses_v2", handle)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        # Like the real wrapper: the unversioned name calls _v3 and reports a missing symbol
        # as a library mismatch rather than FunctionNotFound.
        try:
            return self.nvmlDeviceGetComputeRunningProcesses_v3(handle)
        except pynvml.NVMLError_FunctionNotFound:
            raise NVMLLibraryMismatchError(
                "Unversioned function called and the pyNVML version does not match the NVML "
                "lib version."
            ) from None

    def nvmlDeviceGetProcessUtilization(self, handle: Any, since_us: int) -> list[Any]:
        """Buffered per-process samples newer than ``since_us`` (µs since the epoch).

        A sample is given either as ``timestamp_us`` or as ``seconds_ago`` (relative to the
        call). Like the driver, no sample in the window raises NotFound; a device without the
        ``process_utilization`` key answers NotSupported (WDDM, WSL2, old GPUs).
        """
        device = self._device("nvmlDeviceGetProcessUtilization", handle)
        now_us = int(time.time() * 1_000_000)
        result = []
        for item in self._field(device, "process_utilization"):
            stamp = item.get("timestamp_us")
            if stamp is None:
                stamp = now_us - int(float(item.get("seconds_ago", 0.0)) * 1_000_000)
            if int(stamp) <= int(since_us):
                continue
            result.append(
                pynvml.c_nvmlProcessUtilizationSample_t(
                    pid=int(item["pid"]),
                    timeStamp=int(stamp),
                    smUtil=int(item.get("sm", 0)),
                    memUtil=int(item.get("mem", 0)),
                    encUtil=int(item.get("enc", 0)),
                    decUtil=int(item.get("dec", 0)),
                )
            )
        if not result:
            raise nvml_error("NotFound")
        return result
