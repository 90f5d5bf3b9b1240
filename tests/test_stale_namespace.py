"""In a private PID namespace, ``fix --kill-stale --yes`` stops exactly the stale ones, 20/20.

See ``stale_namespace_scenario.py`` for the mix. Needs root and ``unshare`` (as CI has).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

SCENARIO = str(REPO / "tests" / "stale_namespace_scenario.py")
RUNS = 20


def _can_unshare() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return False
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-fp", "--mount-proc", "true"], capture_output=True, check=False, timeout=10
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare -fp --mount-proc")
def test_exactly_the_stale_ones_are_stopped_in_every_run(tmp_path):
    out = tmp_path / "summary.json"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [
            "unshare",
            "-fp",
            "--mount-proc",
            "sh",
            "-c",
            '"$0" "$@"; exit $?',
            sys.executable,
            SCENARIO,
            str(out),
            str(RUNS),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["pid"] != os.getpid()  # it ran in its own namespace ...
    assert summary["pid"] < 100  # ... where it is one of the first processes
    mix = summary["mix"]
    assert len(mix) + 3 >= 12  # survivors plus the three stale ones of each run
    failed = [run for run in summary["runs"] if not run["exact"]]
    assert not failed, json.dumps(failed[:2], indent=1)
    assert summary["exact"] == RUNS
    last = summary["runs"][-1]
    why = {int(pid): reason for pid, reason in last["left_alone"].items()}
    assert "cannot be signalled" in why[mix["zombie"]]
    assert "NVML sampled it using the GPU" in why[mix["gpu-active-orphan"]]
    assert "tini" in why[mix["tini-child-1"]]
    if "service" in mix:
        assert "gd-namespace-llm.service" in why[mix["service"]]
