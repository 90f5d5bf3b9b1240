"""Per-GPU samples through the NVML funnel: utilisation, memory, temperature, power, clocks.

Handles are opened once; each tick costs a handful of NVML calls per GPU, each bounded by
the funnel's timeout. Values NVML refuses (WSL, WDDM, old drivers) stay ``None``.
"""

from __future__ import annotations

from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.live.timeline import GpuSample
from gpudoctor.probes.nvml import Nvml
from gpudoctor.probes.nvml import open_nvml

#: Calls whose answer does not change during a run are asked once.
_STATIC_ONCE = ("nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetTemperatureThreshold")


def _num(value: Any) -> float | None:
    return None if isinstance(value, Unavailable) or value is None else float(value)


class GpuSampler:
    """Samples every visible GPU; ``note`` says why there are none (no driver, no GPU)."""

    def __init__(self, module: Any = None, *, timeout: float = 0.5, pcie: bool = True) -> None:
        self.note = ""
        self.nvml: Nvml | None = None
        self.handles: list[Any] = []
        self._static: list[dict[str, float | None]] = []
        self.pcie = pcie
        session = open_nvml(module, timeout=timeout)
        if isinstance(session, Unavailable):
            self.note = f"GPU signals not available: {session.reason}"
            return
        self.nvml = session
        count = session.call("nvmlDeviceGetCount")
        if isinstance(count, Unavailable):
            self.note = f"GPU signals not available: {count.reason}"
            return
        for index in range(int(count)):
            handle = session.call("nvmlDeviceGetHandleByIndex", index)
            if isinstance(handle, Unavailable):
                continue
            self.handles.append(handle)
            self._static.append(self._read_static(handle))
        if not self.handles:
            self.note = "no NVIDIA GPU visible to NVML"

    def _read_static(self, handle: Any) -> dict[str, float | None]:
        assert self.nvml is not None
        import pynvml

        cap = _num(self.nvml.call("nvmlDeviceGetEnforcedPowerLimit", handle))
        slowdown = _num(
            self.nvml.call(
                "nvmlDeviceGetTemperatureThreshold",
                handle,
                pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN,
            )
        )
        return {"cap_w": None if cap is None else cap / 1000.0, "slowdown": slowdown}

    def sample(self) -> tuple[GpuSample, ...]:
        if self.nvml is None or self.nvml.wedged:
            return ()
        import pynvml

        call = self.nvml.call
        out = []
        for index, handle in enumerate(self.handles):
            util = call("nvmlDeviceGetUtilizationRates", handle)
            mem = call("nvmlDeviceGetMemoryInfo", handle)
            power = _num(call("nvmlDeviceGetPowerUsage", handle))
            reasons = call(
                "nvmlDeviceGetCurrentClocksEventReasons",
                handle,
            )
            if isinstance(reasons, Unavailable):
                reasons = call("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
            rx = tx = None
            if self.pcie:
                rx = _num(
                    call("nvmlDeviceGetPcieThroughput", handle, pynvml.NVML_PCIE_UTIL_RX_BYTES)
                )
                tx = _num(
                    call("nvmlDeviceGetPcieThroughput", handle, pynvml.NVML_PCIE_UTIL_TX_BYTES)
                )
                if rx is None and tx is None:
                    self.pcie = False  # not supported here: stop paying for the call
            static = self._static[index]
            out.append(
                GpuSample(
                    index=index,
                    util=None if isinstance(util, Unavailable) else float(util.gpu),
                    mem_used=None if isinstance(mem, Unavailable) else int(mem.used),
                    mem_total=None if isinstance(mem, Unavailable) else int(mem.total),
                    temp_c=_num(
                        call("nvmlDeviceGetTemperature", handle, pynvml.NVML_TEMPERATURE_GPU)
                    ),
                    temp_slowdown_c=static["slowdown"],
                    power_w=None if power is None else round(power / 1000.0, 1),
                    power_cap_w=static["cap_w"],
                    clock_reasons=None if isinstance(reasons, Unavailable) else int(reasons),
                    pcie_rx_kbs=None if rx is None else int(rx),
                    pcie_tx_kbs=None if tx is None else int(tx),
                )
            )
        return tuple(out)

    def close(self) -> None:
        if self.nvml is not None:
            self.nvml.shutdown()
