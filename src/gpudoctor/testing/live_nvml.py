"""A fake NVML whose GPU follows a real CPU-only training, for testing ``gpudoctor watch``.

On a machine without a GPU, a tiny torch model trained on the CPU stands in for the GPU
work: the "GPU utilisation" answered here is the share of time the training's main thread
wanted to compute since the previous query: running or waiting for a core
(``/proc/PID/schedstat``), scaled by the user-mode share of its CPU time. So it falls when
the process waits for data, writes a checkpoint (kernel time, disk waits) or hangs, exactly
when a real GPU would idle, and it does not fall because other programs share the cores.
Without schedstat it is the user-mode CPU share alone. Memory,
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
        self._prev: tuple[float, float, float, float] | None = None

    def _read(self) -> tuple[float, float, float, float] | None:
        """(run+queue seconds of the main thread or None-ish -1, user s, system s, now)."""
        try:
            times = self.process.cpu_times()
        except psutil.Error:
            return None
        wanted = -1.0
        try:
            with open(f"/proc/{self.process.pid}/schedstat", encoding="ascii") as handle:
                run_ns, queue_ns = handle.read().split()[:2]
            wanted = (int(run_ns) + int(queue_ns)) / 1e9
        except (OSError, ValueError):
            pass
        return wanted, float(times.user), float(times.system), time.monotonic()

    def _mirror(self) -> int:
        current = self._read()
        if current is None:
            return 0
        prev, self._prev = self._prev, current
        if prev is None or current[3] <= prev[3]:
            return 0
        wall = current[3] - prev[3]
        user, system = current[1] - prev[1], current[2] - prev[2]
        if current[0] >= 0 and prev[0] >= 0:
            user_share = user / (user + system) if user + system > 0 else 0.0
            busy = (current[0] - prev[0]) / wall * user_share
        else:
            busy = user / wall
        return int(max(0.0, min(100.0, busy * 100.0)))

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        self.devices[0]["utilization"] = {"gpu": self._mirror(), "memory": 0}
        return super().nvmlDeviceGetUtilizationRates(handle)
