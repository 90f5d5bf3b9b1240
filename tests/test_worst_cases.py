"""Worst cases stay bounded: a hung NVML library, a probe stuck forever, a huge /proc.

Not timed tests: they assert that the check finishes with an error finding for the stuck
probe alone. Speed goals live in benchmarks/.
"""

from __future__ import annotations

import json
import textwrap

from conftest import REPO
from conftest import run_cli

#: Probes that call NVML and so may hang with it.
NVML_PROBES = {"gpu", "gpu_processes"}

HUNG_PYNVML = textwrap.dedent(
    """
    # Stands in for NVIDIA's bindings on a machine whose driver no longer answers:
    # the first NVML call blocks forever, like a GPU that fell off the bus.
    import threading

    class NVMLError(Exception):
        pass

    def nvmlInit():
        threading.Event().wait()

    nvmlInit_v2 = nvmlInit
    """
)


def test_hung_nvml_library_costs_only_its_own_facts(tmp_path):
    (tmp_path / "pynvml.py").write_text(HUNG_PYNVML)
    env = {"PYTHONPATH": f"{REPO / 'src'}:{tmp_path}"}
    result = run_cli("check", "--no-plugins", "-f", "json", "--budget", "8", env=env, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    gpu = doc["facts"]["gpu"]
    assert "did not return" in gpu["nvml"]["$unavailable"]
    by_id = {f["id"]: f for f in doc["findings"]}
    # The other checks all ran on real facts.
    for check_id in ("GD301", "GD302", "GD303", "GD304"):
        assert by_id[check_id]["severity"] in ("pass", "info", "warn", "fail")


def test_probe_stuck_past_the_budget_is_named(tmp_path):
    (tmp_path / "pynvml.py").write_text(HUNG_PYNVML)
    env = {"PYTHONPATH": f"{REPO / 'src'}:{tmp_path}"}
    # A budget shorter than the NVML call timeout: the gpu probe is abandoned and named.
    result = run_cli("check", "--no-plugins", "-f", "json", "--budget", "0.8", env=env, timeout=60)
    doc = json.loads(result.stdout)
    errors = {f["subject"]: f for f in doc["findings"] if f["id"] == "GD902"}
    # Only the probes that talk to NVML are stuck; each is named, nothing else failed.
    assert "gpu" in errors
    assert set(errors) <= NVML_PROBES
    assert "budget" in errors["gpu"]["title"]
    assert doc["probes"]["gpu"]["status"] == "timeout"
    assert doc["probes"]["memory"]["status"] == "ok"
    assert doc["summary"]["exit_code"] == result.returncode == 1
