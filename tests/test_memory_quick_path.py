"""The memory probe on the quick path reads counters once and never sleeps."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.memory import METHOD_NO_SWAP
from gpudoctor.probes.memory import METHOD_SAMPLE
from gpudoctor.probes.memory import METHOD_SINCE_BOOT
from gpudoctor.probes.memory import SWAP_SAMPLE_SECONDS
from gpudoctor.probes.memory import parse_pressure
from gpudoctor.probes.memory import probe_memory

PSI = (
    "some avg10=1.50 avg60=0.75 avg300=0.20 total=123456\n"
    "full avg10=0.50 avg60=0.25 avg300=0.05 total=6543\n"
)


def _recorded_tree(root: Path) -> None:
    (root / "proc" / "pressure").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text(
        "MemTotal:       16384000 kB\nMemFree:         1024000 kB\n"
        "MemAvailable:    8192000 kB\nSwapTotal:       4096000 kB\nSwapFree:        2048000 kB\n"
    )
    (root / "proc" / "vmstat").write_text("pswpin 8640\npswpout 17280\n")
    (root / "proc" / "uptime").write_text("86400.00 170000.00\n")
    (root / "proc" / "pressure" / "memory").write_text(PSI)


def test_parse_pressure_keeps_all_averages_and_totals() -> None:
    parsed = parse_pressure(PSI)
    assert parsed["some_avg300"] == 0.20
    assert parsed["some_total_us"] == 123456
    assert parsed["full_avg10"] == 0.50


def test_parse_pressure_survives_garbage() -> None:
    assert parse_pressure("\n\nsome avg10=x total=\x00\n") == {}


def test_recorded_tree_reports_counters_since_boot(tmp_path: Path) -> None:
    _recorded_tree(tmp_path)
    facts = probe_memory(ProbeContext(root=tmp_path, platform="linux"))
    swap = facts["swap_activity"]
    assert swap["method"] == METHOD_SINCE_BOOT
    assert swap["pages_in_per_s"] is None  # not sampled: no rate "now" is claimed
    assert swap["pages_in_per_s_since_boot"] == pytest.approx(0.1)
    assert swap["pages_out_per_s_since_boot"] == pytest.approx(0.2)
    assert "-v" in swap["reason"]
    assert facts["pressure"]["some_avg10"] == 1.5


def test_no_swap_device_means_no_traffic_without_a_sample(tmp_path: Path) -> None:
    _recorded_tree(tmp_path)
    meminfo = tmp_path / "proc" / "meminfo"
    meminfo.write_text(
        meminfo.read_text()
        .replace("SwapTotal:       4096000", "SwapTotal:             0")
        .replace("SwapFree:        2048000", "SwapFree:              0")
    )
    swap = probe_memory(ProbeContext(root=tmp_path, platform="linux"))["swap_activity"]
    assert swap["method"] == METHOD_NO_SWAP
    assert swap["pages_in_per_s"] == swap["pages_out_per_s"] == 0.0


def _live_has_swap() -> bool:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("SwapTotal:"):
            return int(line.split()[1]) > 0
    return False


def test_live_quick_path_does_not_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/proc/vmstat").exists():
        pytest.skip("no /proc/vmstat here")

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"the quick path slept {seconds} s")

    monkeypatch.setattr(time, "sleep", no_sleep)
    swap = probe_memory(ProbeContext(platform="linux"))["swap_activity"]
    if _live_has_swap():
        assert swap["method"] == METHOD_SINCE_BOOT
        assert swap["pages_in_total"] >= 0
    else:
        assert swap["method"] == METHOD_NO_SWAP


def test_verbose_or_deep_samples_and_says_so() -> None:
    if not Path("/proc/vmstat").exists() or not _live_has_swap():
        pytest.skip("no /proc/vmstat or no swap device here: nothing to sample")
    for ctx in (
        ProbeContext(platform="linux", options={"swap_sample": True}),
        ProbeContext(platform="linux", deep=True),
    ):
        swap = probe_memory(ctx)["swap_activity"]
        assert swap["method"] == METHOD_SAMPLE
        assert swap["seconds"] >= SWAP_SAMPLE_SECONDS * 0.9
        assert swap["pages_in_per_s"] is not None
