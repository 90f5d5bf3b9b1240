"""How long the gpu probe takes over the fake NVML, healthy and with one hung call.

Run: PYTHONPATH=src python benchmarks/gpu_probe.py
Goal: 8 GPUs in well under a second; a hung NVML call adds about one call timeout (1 s)
and no more, so the probe stays inside its 4.5 s limit.
"""

from __future__ import annotations

import time

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.nvidia import probe_gpu
from gpudoctor.testing.fake_nvml import FakeNvml

H100 = {
    "name": "NVIDIA H100 80GB HBM3",
    "uuid": "GPU-00000000-0000-4000-8000-000000000000",
    "compute_capability": [9, 0],
    "memory": {"total": 85520809984, "free": 8211398656, "used": 77309411328},
    "utilization": {"gpu": 96, "memory": 66},
    "temperature": 62,
    "temperature_thresholds": {"shutdown": 92, "slowdown": 90, "gpu_max": 87},
    "power_usage_mw": 655000,
    "power_limit_mw": 700000,
    "power_default_limit_mw": 700000,
    "clocks_event_reasons": 0x4,
    "pcie": {"curr_gen": 5, "max_gen": 5, "gpu_max_gen": 5, "curr_width": 16, "max_width": 16},
    "persistence_mode": 1,
    "compute_mode": 0,
    "ecc_mode": [1, 1],
    "ecc_errors": {
        "volatile": {"corrected": 0, "uncorrected": 0},
        "aggregate": {"corrected": 0, "uncorrected": 0},
    },
    "remapped_rows": [0, 0, 0, 0],
    "mig_mode": [0, 0],
}


def timed(data: dict) -> float:
    fake = FakeNvml(data)
    started = time.perf_counter()
    probe_gpu(ProbeContext(platform="linux", nvml_module=fake, env={"PATH": ""}))
    elapsed = time.perf_counter() - started
    fake.release()
    return elapsed


def main() -> None:
    base = {"driver_version": "570.124.06", "cuda_driver_version": 12080, "devices": [H100] * 8}
    runs = sorted(timed(base) for _ in range(5))
    print(f"8 GPUs, healthy: median {runs[2] * 1000:.0f} ms, {len(runs)} runs")
    hung = {**base, "hang": {"nvmlDeviceGetPowerUsage": 60}}
    print(
        f"8 GPUs, power query hangs: {timed(hung):.2f} s (call timeout 1 s, then NVML is "
        "treated as wedged after two hung calls)"
    )


if __name__ == "__main__":
    main()
