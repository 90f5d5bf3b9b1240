"""``gpudoctor bench gpu``: a short self-test of the GPU, run in a child process.

Allocates most of the free memory in chunks and checks it holds what was written, compares a
matmul against the CPU, times host-device copies from pinned and pageable memory against what
the PCIe link should carry, and reads the throttle reasons while the GPU is busy. Everything
that touches CUDA runs in :mod:`gpudoctor.probes.bench._gpu_child` under a timeout, so a wedged
driver cannot hang the doctor. Without CUDA the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Usable GB/s per lane of each PCIe generation, after line encoding (8b/10b, then 128b/130b).
PCIE_GBPS_PER_LANE = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}
#: Pinned host-to-device copies reach ~70-85% of the link; below half something is wrong.
PCIE_WARN_FRACTION = 0.5
#: NVML clock-event reason bits that mean the GPU slowed itself down (GpuIdle etc. excluded).
THROTTLE_BITS = {
    0x4: "SwPowerCap",
    0x8: "HwSlowdown",
    0x20: "SwThermalSlowdown",
    0x40: "HwThermalSlowdown",
    0x80: "HwPowerBrakeSlowdown",
}
DEFAULT_TIMEOUT_S = 90.0
PROTOCOL_PREFIX = "GPUDOCTOR-GPU "


def pcie_expected_gbps(generation: int | None, width: int | None) -> float | None:
    """Theoretical one-direction bandwidth of a PCIe link in GB/s, or None if unknown."""
    if not generation or not width or generation not in PCIE_GBPS_PER_LANE:
        return None
    return round(PCIE_GBPS_PER_LANE[generation] * width, 2)


def throttle_names(mask: int) -> list[str]:
    return [name for bit, name in THROTTLE_BITS.items() if mask & bit]


def bandwidth_verdict(pinned_h2d_gbps: float | None, expected: float | None) -> str:
    if not pinned_h2d_gbps or not expected:
        return "unknown"
    return "ok" if pinned_h2d_gbps >= PCIE_WARN_FRACTION * expected else "slow"


def run_gpu_bench(*, timeout: float = DEFAULT_TIMEOUT_S, device: int = 0) -> dict[str, Any]:
    """The self-test's results; ``status`` is "skipped" with a ``reason`` when it cannot run."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-c",
                "from gpudoctor.probes.bench._gpu_child import main; main()",
                str(device),
            ],
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {
            "status": "fail",
            "reason": f"the GPU self-test did not finish within {timeout:g} s "
            "(a hung driver or a GPU that stopped answering)",
            "tests": [],
        }
    for line in completed.stdout.decode("utf-8", errors="replace").splitlines():
        if line.startswith(PROTOCOL_PREFIX):
            result: dict[str, Any] = json.loads(line[len(PROTOCOL_PREFIX) :])
            return result
    err = completed.stderr.decode("utf-8", errors="replace").strip().splitlines()
    if any("No module named 'torch'" in line for line in err):
        return {"status": "skipped", "reason": "torch is not installed", "tests": []}
    return {
        "status": "fail",
        "reason": f"the GPU self-test crashed: {err[-1] if err else 'no output'}",
        "tests": [],
    }
