"""Host memory while a run is watched: available RAM, swap traffic, /dev/shm, PSI, WSL cap.

On WSL2 the Linux VM's total memory *is* the cap set in ``.wslconfig`` (or WSL's default of
half the Windows RAM), so "available against total" is the VM against its cap.
"""

from __future__ import annotations

import os
import time

import psutil

from gpudoctor.probes.live.timeline import HostSample

PSI_MEMORY = "/proc/pressure/memory"


def read_psi(text: str) -> tuple[float | None, float | None]:
    """``some`` and ``full`` avg10 from a /proc/pressure file's text (pure)."""
    some = full = None
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        for field_ in parts[1:]:
            if field_.startswith("avg10="):
                try:
                    value = float(field_[6:])
                except ValueError:
                    continue
                if parts[0] == "some":
                    some = value
                elif parts[0] == "full":
                    full = value
    return some, full


def is_wsl() -> bool:
    try:
        with open("/proc/sys/kernel/osrelease", encoding="utf-8") as handle:
            return "microsoft" in handle.read().lower()
    except OSError:
        return False


class HostSampler:
    """Reads host memory each call; swap rates come from cumulative counters."""

    def __init__(self) -> None:
        self._swap_prev: tuple[float, int, int] | None = None
        self._psi_ok = os.path.exists(PSI_MEMORY)
        self._shm_ok = os.path.isdir("/dev/shm")

    def sample(self, now: float | None = None) -> HostSample:
        now = time.monotonic() if now is None else now
        total = available = None
        try:
            vm = psutil.virtual_memory()
            total, available = int(vm.total), int(vm.available)
        except (OSError, RuntimeError):
            pass
        swap_in = swap_out = None
        try:
            sw = psutil.swap_memory()
            if self._swap_prev is not None and now > self._swap_prev[0]:
                span = now - self._swap_prev[0]
                swap_in = max(0.0, (sw.sin - self._swap_prev[1]) / span)
                swap_out = max(0.0, (sw.sout - self._swap_prev[2]) / span)
            self._swap_prev = (now, int(sw.sin), int(sw.sout))
        except (OSError, RuntimeError):
            pass
        shm_used = shm_total = None
        if self._shm_ok:
            try:
                du = psutil.disk_usage("/dev/shm")
                shm_used, shm_total = int(du.used), int(du.total)
            except OSError:
                pass
        some = full = None
        if self._psi_ok:
            try:
                with open(PSI_MEMORY, encoding="ascii") as handle:
                    some, full = read_psi(handle.read())
            except OSError:
                self._psi_ok = False
        return HostSample(
            mem_total=total,
            mem_available=available,
            swap_in_bps=None if swap_in is None else round(swap_in),
            swap_out_bps=None if swap_out is None else round(swap_out),
            shm_used=shm_used,
            shm_total=shm_total,
            psi_some_avg10=some,
            psi_full_avg10=full,
        )
