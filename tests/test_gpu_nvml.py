"""The NVML funnel and the gpu probe, driven by the fake NVML (no GPU on test machines)."""

from __future__ import annotations

import copy

import pynvml
import pytest

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.nvidia import probe_gpu
from gpudoctor.probes.nvml import Nvml
from gpudoctor.probes.nvml import is_not_supported
from gpudoctor.probes.nvml import open_nvml
from gpudoctor.testing.fake_nvml import FakeHandle
from gpudoctor.testing.fake_nvml import FakeNvml
from gpudoctor.testing.fake_nvml import nvml_error

RTX_4090 = {
    "name": "NVIDIA GeForce RTX 4090",
    "uuid": "GPU-8f3e2c1a-7b6d-4e5f-9a0b-1c2d3e4f5a6b",
    "compute_capability": [8, 9],
    "memory": {"total": 25757220864, "free": 25344475136, "used": 412745728},
    "utilization": {"gpu": 97, "memory": 60},
    "temperature": 71,
    "temperature_thresholds": {"shutdown": 92, "slowdown": 89, "gpu_max": 87},
    "power_usage_mw": 402123,
    "power_limit_mw": 450000,
    "power_default_limit_mw": 450000,
    "clocks_event_reasons": 0x1 | 0x4,
    "pcie": {"curr_gen": 4, "max_gen": 4, "gpu_max_gen": 4, "curr_width": 16, "max_width": 16},
    "persistence_mode": 1,
    "compute_mode": 0,
    "processes": [{"pid": 4242, "used_gpu_memory": None}],
}

A100 = {
    **RTX_4090,
    "name": "NVIDIA A100-SXM4-80GB",
    "uuid": "MIG-0badcafe-0000-4000-8000-000000000000",
    "ecc_mode": [1, 1],
    "ecc_errors": {
        "volatile": {"corrected": 3, "uncorrected": 0},
        "aggregate": {"corrected": 12, "uncorrected": 1},
    },
    "remapped_rows": [2, 1, 0, 0],
    "mig_mode": [0, 0],
}


def machine(*devices, **extra):
    return {
        "driver_version": "550.120",
        "cuda_driver_version": 12040,
        "devices": [copy.deepcopy(d) for d in devices],
        **extra,
    }


def gather(fake, platform="linux"):
    ctx = ProbeContext(platform=platform, nvml_module=fake, env={"PATH": ""})
    try:
        return probe_gpu(ctx)
    finally:
        fake.release()


# -- the fake behaves like the real bindings ----------------------------------------------


def test_fake_raises_the_real_exception_classes():
    fake = FakeNvml(machine(RTX_4090))
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetEccMode(handle)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetHandleByIndex(5)
    assert type(nvml_error("GPU_IS_LOST")) is pynvml.NVMLError_GpuIsLost


def test_fake_requires_init_like_the_library():
    fake = FakeNvml(machine(RTX_4090))
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()


def test_fake_returns_binding_types_and_units():
    fake = FakeNvml(machine(RTX_4090))
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    memory = fake.nvmlDeviceGetMemoryInfo(handle)
    assert isinstance(memory, pynvml.c_nvmlMemory_t)
    assert memory.total == 25757220864
    assert fake.nvmlDeviceGetPowerUsage(handle) == 402123  # milliwatts, as NVML
    [proc] = fake.nvmlDeviceGetComputeRunningProcesses(handle)
    assert proc.pid == 4242
    assert proc.usedGpuMemory is None  # WDDM "not available"


def test_fake_missing_v3_symbol_reads_as_library_mismatch():
    fake = FakeNvml(
        machine(RTX_4090, missing_functions=["nvmlDeviceGetComputeRunningProcesses_v3"])
    )
    fake.nvmlInit()
    with pytest.raises(pynvml.NVMLLibraryMismatchError):
        fake.nvmlDeviceGetComputeRunningProcesses(FakeHandle(0))


# -- the funnel -----------------------------------------------------------------------------


def test_funnel_falls_back_from_v3_to_v2_when_the_driver_lacks_v3():
    fake = FakeNvml(
        machine(RTX_4090, missing_functions=["nvmlDeviceGetComputeRunningProcesses_v3"])
    )
    nvml = open_nvml(fake)
    procs = nvml.call(
        "nvmlDeviceGetComputeRunningProcesses", FakeHandle(0), versions=("_v3", "_v2")
    )
    assert [p.pid for p in procs] == [4242]
    assert fake.calls[-2:] == [
        "nvmlDeviceGetComputeRunningProcesses_v3",
        "nvmlDeviceGetComputeRunningProcesses_v2",
    ]


def test_funnel_falls_back_when_bindings_lack_the_versioned_name():
    fake = FakeNvml(machine(RTX_4090, absent_functions=["nvmlSystemGetCudaDriverVersion_v2"]))
    nvml = open_nvml(fake)
    assert nvml.call("nvmlSystemGetCudaDriverVersion", versions=("_v2",)) == 12040


def test_funnel_missing_everywhere_is_unavailable_with_reason():
    fake = FakeNvml(machine(RTX_4090, missing_functions=["nvmlDeviceGetPowerUsage"]))
    result = open_nvml(fake).call("nvmlDeviceGetPowerUsage", FakeHandle(0))
    assert isinstance(result, Unavailable)
    assert "driver older than the bindings" in result.reason


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("LibraryNotFound", "NVML library not found"),
        ("NoPermission", "no permission"),
        ("DriverNotLoaded", "driver is not loaded"),
        ("LibRmVersionMismatch", "reboot after a driver update"),
    ],
)
def test_init_failures_map_to_plain_reasons(error, words):
    result = open_nvml(FakeNvml(machine(RTX_4090, init_error=error)))
    assert isinstance(result, Unavailable)
    assert words in result.reason


def test_gpu_is_lost_is_a_reason_for_that_gpu_only():
    lost = {**RTX_4090, "lost": True}
    facts = gather(FakeNvml(machine(RTX_4090, lost)))
    ok, gone = facts["devices"]
    assert ok["name"] == "NVIDIA GeForce RTX 4090"
    assert "fallen off the bus" in gone["error"]


def test_hanging_call_costs_its_timeout_and_only_that_fact():
    fake = FakeNvml(machine(RTX_4090, hang={"nvmlDeviceGetPowerUsage": 30}))
    nvml = Nvml(fake, timeout=0.2)
    power = nvml.call("nvmlDeviceGetPowerUsage", FakeHandle(0))
    assert isinstance(power, Unavailable)
    assert "did not return within 0.2 s" in power.reason
    assert fake.hanging == 1  # the call is still stuck; the funnel stopped waiting for it
    assert nvml.call("nvmlDeviceGetPowerManagementDefaultLimit", FakeHandle(0)) == 450000
    fake.release()


def test_repeated_hangs_stop_further_calls():
    fake = FakeNvml(
        machine(RTX_4090, hang={"nvmlDeviceGetPowerUsage": 30, "nvmlDeviceGetTemperature": 30})
    )
    nvml = Nvml(fake, timeout=0.1)
    nvml.call("nvmlDeviceGetPowerUsage", FakeHandle(0))
    nvml.call("nvmlDeviceGetTemperature", FakeHandle(0), 0)
    calls_before = len(fake.calls)
    result = nvml.call("nvmlDeviceGetName", FakeHandle(0))
    assert isinstance(result, Unavailable)
    assert "stopped answering" in result.reason
    assert len(fake.calls) == calls_before
    fake.release()


def test_raise_on_one_call_leaves_the_rest():
    fake = FakeNvml(machine(RTX_4090, **{"raise": {"nvmlDeviceGetPowerUsage": "NoPermission"}}))
    device = gather(fake)["devices"][0]
    assert isinstance(device["power"]["draw_w"], Unavailable)
    assert "no permission" in device["power"]["draw_w"].reason
    assert device["power"]["limit_w"] == 450.0


# -- the probe -------------------------------------------------------------------------------


def test_probe_reads_every_fact_with_units():
    facts = gather(FakeNvml(machine(RTX_4090)))
    assert facts["nvml"] == "ok"
    assert facts["driver_version"] == "550.120"
    assert facts["cuda_driver_version"] == "12.4"
    device = facts["devices"][0]
    assert device["uuid"] == "GPU-8f3e2c1a-7b6d-4e5f-9a0b-1c2d3e4f5a6b"  # redacted at output
    assert device["compute_capability"] == "8.9"
    assert device["memory_used_bytes"] == 412745728
    assert device["temperature"] == {
        "current_c": 71,
        "slowdown_c": 89,
        "shutdown_c": 92,
        "gpu_max_c": 87,
    }
    assert device["power"]["draw_w"] == 402.1
    assert device["clock_event_reasons"] == {"mask": 5, "idle": True, "active": ["SwPowerCap"]}
    assert device["pcie"]["current_width"] == 16
    assert device["utilization_gpu_percent"] == 97
    assert device["persistence_mode"] is True
    assert device["compute_mode"] == "Default"
    assert "driver_model" not in device  # a Windows-only fact


def test_not_supported_is_unavailable_never_zero():
    device = gather(FakeNvml(machine(RTX_4090)))["devices"][0]
    for value in (device["ecc"]["enabled"], device["remapped_rows"], device["mig_mode"]):
        assert is_not_supported(value)


def test_ecc_and_remapped_rows_on_a_datacenter_gpu():
    device = gather(FakeNvml(machine(A100)))["devices"][0]
    assert device["ecc"]["volatile_corrected"] == 3
    assert device["ecc"]["aggregate_uncorrected"] == 1
    assert device["remapped_rows"] == {
        "correctable": 2,
        "uncorrectable": 1,
        "pending": False,
        "failure": False,
    }
    assert device["mig_mode"] == {"current": False, "pending": False}
    assert device["uuid"] == "MIG-0badcafe-0000-4000-8000-000000000000"


def test_windows_reads_the_driver_model():
    wddm = {**RTX_4090, "driver_model": [0, 0]}
    device = gather(FakeNvml(machine(wddm)), platform="win32")["devices"][0]
    assert device["driver_model"] == {"current": "WDDM", "pending": "WDDM"}


def test_old_bindings_use_the_throttle_reasons_name():
    fake = FakeNvml(machine(RTX_4090, absent_functions=["nvmlDeviceGetCurrentClocksEventReasons"]))
    device = gather(fake)["devices"][0]
    assert device["clock_event_reasons"]["active"] == ["SwPowerCap"]


def test_no_driver_leaves_every_gpu_fact_unavailable():
    facts = gather(FakeNvml(machine(init_error="LibraryNotFound")))
    assert isinstance(facts["devices"], Unavailable)
    assert isinstance(facts["driver_version"], Unavailable)


def test_the_full_uuid_is_recorded_and_withheld_at_output():
    """The probe keeps what NVML says; the report shows a placeholder, the same one for the
    full UUID and for the short form that older snapshots and CUDA_VISIBLE_DEVICES use."""
    from gpudoctor.privacy import Identity
    from gpudoctor.privacy import Redactor

    full = "GPU-8f3e2c1a-7b6d-4e5f-9a0b-1c2d3e4f5a6b"
    assert gather(FakeNvml(machine(RTX_4090)))["devices"][0]["uuid"] == full
    redactor = Redactor(Identity())
    shown = redactor.text(f"device {full}, CUDA_VISIBLE_DEVICES=GPU-8f3e2c1a")
    assert "8f3e2c1a" not in shown
    assert shown.count("<uuid-1>") == 2
