"""GPU health checks GD102-GD107 on facts built by the real gpu probe over the fake NVML."""

from __future__ import annotations

import copy

from conftest import make_facts
from gpudoctor.checks.gpu import gpu_clocks_slowed
from gpudoctor.checks.gpu import gpu_memory_errors
from gpudoctor.checks.gpu import gpu_temperature
from gpudoctor.checks.gpu import gpu_xid_errors
from gpudoctor.checks.gpu import pcie_link_degraded
from gpudoctor.checks.gpu import persistence_mode
from gpudoctor.facts.model import thaw
from gpudoctor.probes.nvidia import nvml_facts
from gpudoctor.probes.nvml import open_nvml
from gpudoctor.testing.fake_nvml import FakeNvml
from test_gpu_nvml import A100
from test_gpu_nvml import RTX_4090


def gpu_section(*devices, platform="linux"):
    """The gpu section exactly as the probe writes it, from fake NVML data."""
    fake = FakeNvml(
        {
            "driver_version": "550.120",
            "cuda_driver_version": 12040,
            "devices": [copy.deepcopy(d) for d in devices],
        }
    )
    session = open_nvml(fake)
    facts = nvml_facts(session, platform)
    session.shutdown()
    return thaw(facts)


def one(result):
    results = result if isinstance(result, list) else [result]
    assert len(results) == 1
    return results[0]


def severities(result):
    results = result if isinstance(result, list) else [result]
    return [(v.subject, v.severity.value) for v in results]


def test_healthy_busy_gpu_passes_everything():
    facts = make_facts(gpu=gpu_section(RTX_4090))
    for func in (gpu_clocks_slowed, gpu_temperature, pcie_link_degraded):
        assert severities(func(facts)) == [("GPU0", "pass")]


def test_thermal_slowdown_warns_but_idle_and_power_cap_do_not():
    hot = {**RTX_4090, "clocks_event_reasons": 0x40 | 0x4}
    facts = make_facts(gpu=gpu_section(hot))
    verdict = one(gpu_clocks_slowed(facts))
    assert verdict.severity.value == "warn"
    assert "thermal" in verdict.title


def test_lowered_power_cap_is_info():
    capped = {**RTX_4090, "clocks_event_reasons": 0x4, "power_limit_mw": 300000}
    verdict = one(gpu_clocks_slowed(make_facts(gpu=gpu_section(capped))))
    assert verdict.severity.value == "info"
    assert "300.0 W of 450.0 W" in verdict.title


def test_temperature_against_the_gpus_own_thresholds():
    assert (
        one(
            gpu_temperature(make_facts(gpu=gpu_section({**RTX_4090, "temperature": 90})))
        ).severity.value
        == "fail"
    )
    assert (
        one(
            gpu_temperature(make_facts(gpu=gpu_section({**RTX_4090, "temperature": 87})))
        ).severity.value
        == "warn"
    )


def test_temperature_without_thresholds_is_skipped_not_passed():
    cool = {**RTX_4090}
    del cool["temperature_thresholds"]
    assert one(gpu_temperature(make_facts(gpu=gpu_section(cool)))).severity.value == "skip"


def test_pcie_judged_only_when_busy():
    narrow = {**RTX_4090, "pcie": {**RTX_4090["pcie"], "curr_width": 4}}
    assert one(pcie_link_degraded(make_facts(gpu=gpu_section(narrow)))).severity.value == "warn"
    idle = {**narrow, "utilization": {"gpu": 0, "memory": 0}}
    assert one(pcie_link_degraded(make_facts(gpu=gpu_section(idle)))).severity.value == "skip"


def test_memory_errors():
    facts = make_facts(gpu=gpu_section(A100))
    verdict = one(gpu_memory_errors(facts))
    assert verdict.severity.value == "warn"  # lifetime uncorrectable, none since boot
    bad = copy.deepcopy(A100)
    bad["ecc_errors"]["volatile"]["uncorrected"] = 2
    assert one(gpu_memory_errors(make_facts(gpu=gpu_section(bad)))).severity.value == "fail"
    pending = {
        **A100,
        "remapped_rows": [0, 0, 1, 0],
        "ecc_errors": {
            "volatile": {"corrected": 0, "uncorrected": 0},
            "aggregate": {"corrected": 0, "uncorrected": 0},
        },
    }
    assert "reset" in one(gpu_memory_errors(make_facts(gpu=gpu_section(pending)))).title


def test_geforce_without_ecc_is_skipped():
    assert one(gpu_memory_errors(make_facts(gpu=gpu_section(RTX_4090)))).severity.value == "skip"


def test_xid_79_fails_and_explains():
    events = [
        {
            "code": 79,
            "pci": "0000:41:00",
            "pid": None,
            "seconds_since_boot": 8000.0,
            "message": "NVRM: Xid (PCI:0000:41:00): 79, GPU has fallen off the bus.",
        }
    ]
    facts = make_facts(
        kernel_log={
            "source": "dmesg",
            "uptime_seconds": 8600.0,
            "xid_events": events,
        }
    )
    verdict = gpu_xid_errors(facts)
    assert verdict.severity.value == "fail"
    assert "fallen off the bus" in verdict.title
    assert "10 min ago" in verdict.evidence[0].value


def test_xid_45_alone_is_only_info():
    events = [
        {
            "code": 45,
            "pci": "0000:01:00",
            "pid": 1,
            "seconds_since_boot": 1.0,
            "message": "NVRM: Xid 45",
        }
    ]
    facts = make_facts(
        kernel_log={
            "source": "dmesg",
            "uptime_seconds": 100.0,
            "xid_events": events,
        }
    )
    assert gpu_xid_errors(facts).severity.value == "info"


def test_persistence_mode_on_linux_multi_gpu_only():
    off = {**A100, "persistence_mode": 0}
    assert persistence_mode(make_facts(gpu=gpu_section(off, off))).severity.value == "info"
    assert persistence_mode(make_facts(gpu=gpu_section(off))).severity.value == "skip"
    wsl = make_facts(gpu=gpu_section(off, off), host__kind="wsl2")
    assert persistence_mode(wsl).severity.value == "skip"
    assert persistence_mode(make_facts(gpu=gpu_section(A100, A100))).severity.value == "pass"
