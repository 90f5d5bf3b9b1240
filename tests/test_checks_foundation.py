"""The first checks, one fact changed at a time (Django's override_settings style)."""

from __future__ import annotations

import pytest

from conftest import make_facts
from gpudoctor.api import GiB
from gpudoctor.api import MiB
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.model import Severity
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_one

REGISTRY = load_registry(plugins=False)


def verdict(check_id, **overrides):
    findings = run_one(REGISTRY.get(check_id), make_facts(**overrides))
    assert len(findings) == 1
    return findings[0]


@pytest.mark.parametrize(
    ("total", "available", "expected"),
    [
        (64 * GiB, 40 * GiB, Severity.PASS),
        (16 * GiB, int(1.5 * GiB), Severity.WARN),
        (64 * GiB, int(1.5 * GiB), Severity.FAIL),
        (16 * GiB, 500 * MiB, Severity.FAIL),
    ],
)
def test_host_memory_pressure_thresholds(total, available, expected):
    finding = verdict("GD301", memory__total_bytes=total, memory__available_bytes=available)
    assert finding.severity is expected
    assert any(e.label == "available" for e in finding.evidence)


def test_host_memory_pressure_uses_container_limit():
    finding = verdict(
        "GD301",
        memory__cgroup={"limit_bytes": 4 * GiB, "current_bytes": int(3.8 * GiB), "version": 2},
    )
    assert finding.severity is Severity.FAIL
    assert finding.evidence[0].source == "cgroup memory.max"


def test_memory_stalls_warn_even_with_free_ram():
    finding = verdict("GD301", memory__pressure={"full_avg10": 25.0, "some_avg10": 40.0})
    assert finding.severity is Severity.WARN


@pytest.mark.parametrize(
    ("rate_in", "rate_out", "expected"),
    [(0.0, 0.0, Severity.PASS), (200.0, 100.0, Severity.WARN), (3000.0, 0.0, Severity.FAIL)],
)
def test_swap_activity(rate_in, rate_out, expected):
    activity = {"seconds": 0.5, "pages_in_per_s": rate_in, "pages_out_per_s": rate_out}
    assert verdict("GD302", memory__swap_activity=activity).severity is expected


def test_swap_used_without_traffic_is_only_info():
    finding = verdict("GD302", memory__swap_total_bytes=4 * GiB, memory__swap_free_bytes=1 * GiB)
    assert finding.severity is Severity.INFO


def test_swap_rate_unknown_on_windows_is_not_judged_as_traffic():
    activity = {"seconds": 0.5, "pages_in_per_s": None, "pages_out_per_s": None}
    finding = verdict("GD302", memory__swap_activity=activity)
    assert finding.severity is Severity.SKIP
    assert "could not be measured" in finding.title


@pytest.mark.parametrize(
    ("size", "expected"),
    [(64 * MiB, Severity.FAIL), (512 * MiB, Severity.WARN), (8 * GiB, Severity.PASS)],
)
def test_dev_shm_size(size, expected):
    assert verdict("GD303", shm__total_bytes=size).severity is expected


def test_dev_shm_not_applicable_on_windows():
    finding = verdict("GD303", shm=NotApplicable("no /dev/shm on win32"))
    assert finding.severity is Severity.SKIP
    assert "win32" in finding.title


@pytest.mark.parametrize(
    ("soft", "expected"),
    [(256, Severity.WARN), (1024, Severity.INFO), (65536, Severity.PASS), (None, Severity.PASS)],
)
def test_open_files_limit(soft, expected):
    nofile = {"soft": soft, "hard": 524288, "source": "getrlimit"}
    assert verdict("GD304", limits__nofile=nofile).severity is expected


def test_no_gpu_is_info_not_error():
    reason = Unavailable("nvmlInit: NVML library not found (no NVIDIA driver installed?)")
    gpu = {
        "kernel_module": None,
        "device_nodes": [],
        "nvidia_smi": None,
        "nvml": reason,
        "driver_version": reason,
        "cuda_driver_version": reason,
        "devices": reason,
    }
    finding = verdict("GD101", gpu=gpu)
    assert finding.severity is Severity.INFO
    assert "No NVIDIA GPU" in finding.title


def test_driver_present_but_nvml_broken_fails():
    reason = Unavailable("nvmlInit: driver and NVML library versions do not match")
    gpu = {
        "kernel_module": "NVRM version: 550.120",
        "device_nodes": ["/dev/nvidia0"],
        "nvidia_smi": "/usr/bin/nvidia-smi",
        "nvml": reason,
        "driver_version": reason,
        "cuda_driver_version": reason,
        "devices": reason,
    }
    finding = verdict("GD101", gpu=gpu)
    assert finding.severity is Severity.FAIL
    assert "do not match" in finding.title
