"""A fake NVML whose GPU follows a real CPU-only training, for testing ``gpudoctor watch``.

On a machine without a GPU, a tiny torch model trained on the CPU stands in for the GPU
work: the "GPU utilisation" answered here is the share of one core the training process
spent in user mode since the previous query (its compute), so it falls when the process
waits for data, writes a checkpoint or hangs, exactly when a real GPU would idle. Memory,
temperature, power and clock reasons come from the static device data of
:class:`~gpudoctor.testing.fake_nvml.FakeNvml`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import psutil

from gpudoctor.testing.fake_nvml import FakeNvml

DEFAULT_DEVICE: dict[str, Any] = {
    "name": "NVIDIA GeForce RTX 4060 Laptop GPU",
    "uuid": "GPU-00000000-1111-2222-3333-444444444444",
    "memory": {"total": 8 * 1024**3, "free": 6 * 1024**3, "used": 2 * 1024**3},
    "utilization": {"gpu": 0, "memory": 0},
    "temperature": 60,
    "temperature_thresholds": {"slowdown": 87},
    "power_usage_mw": 60_000,
    "power_limit_mw": 115_000,
    "clocks_event_reasons": 0,
}


class MirrorNvml(FakeNvml):
    """GPU 0's utilisation mirrors process ``pid``'s user CPU (0-100 % of one core)."""

    def __init__(self, pid: int, device: Mapping[str, Any] | None = None) -> None:
        super().__init__({"driver_version": "550.120", "devices": [dict(device or DEFAULT_DEVICE)]})
        self.process = psutil.Process(pid)
        self._prev: tuple[float, float] | None = None

    def _mirror(self) -> int:
        try:
            user = float(self.process.cpu_times().user)
        except psutil.Error:
            return 0
        now = time.monotonic()
        prev, self._prev = self._prev, (now, user)
        if prev is None or now <= prev[0]:
            return 0
        return int(max(0.0, min(100.0, (user - prev[1]) / (now - prev[0]) * 100.0)))

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        self.devices[0]["utilization"] = {"gpu": self._mirror(), "memory": 0}
        return super().nvmlDeviceGetUtilizationRates(handle)
