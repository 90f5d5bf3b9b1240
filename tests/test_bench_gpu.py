"""gpudoctor bench gpu: the link arithmetic, and a clear skip where CUDA is absent."""

from __future__ import annotations

import json

import pytest

from gpudoctor.probes.bench.gpu import bandwidth_verdict
from gpudoctor.probes.bench.gpu import pcie_expected_gbps
from gpudoctor.probes.bench.gpu import throttle_names


def test_pcie_expected_bandwidth():
    assert pcie_expected_gbps(4, 16) == pytest.approx(31.5, abs=0.1)
    assert pcie_expected_gbps(3, 8) == pytest.approx(7.88, abs=0.01)
    assert pcie_expected_gbps(None, 16) is None
    assert pcie_expected_gbps(9, 16) is None


def test_bandwidth_verdict_flags_half_the_link():
    assert bandwidth_verdict(25.0, 31.5) == "ok"
    assert bandwidth_verdict(6.0, 31.5) == "slow"
    assert bandwidth_verdict(None, 31.5) == "unknown"


def test_throttle_names_ignore_idle_and_app_clocks():
    assert throttle_names(0x1 | 0x2) == []
    assert throttle_names(0x4 | 0x40) == ["SwPowerCap", "HwThermalSlowdown"]


def test_cli_without_cuda_skips_with_reason(cli):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = cli("bench", "gpu", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "skipped"
    assert "CUDA" in result["reason"]
