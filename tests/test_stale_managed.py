"""Services, supervised children, containers and scheduler jobs are never stale.

The cgroup cases are read from a real cgroup this test makes (as root) and from kernel-style
``/proc/<pid>/cgroup`` lines; the supervisor is a real process that calls itself ``tini``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from conftest import REPO
from gpudoctor.fixes.kill_stale import plan
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.gpu_processes import collect_inventory
from gpudoctor.probes.gpu_processes import observe
from gpudoctor.probes.managed import manager_of
from stale_holders import alive
from stale_holders import holders_fixture

holders = pytest.fixture(holders_fixture)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


CORPUS = REPO / "tests" / "corpus" / "staleness"


def _cases() -> list[tuple[str, str, str, list[str]]]:
    cases = []
    for line in (CORPUS / "cgroups.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, parent, remedy, lines = line.split("\t")
        cases.append((kind, parent, remedy, [part.strip() for part in lines.split(" | ")]))
    return cases


@pytest.mark.parametrize(("kind", "parent", "remedy", "lines"), _cases())
def test_managers_are_recognised_from_cgroup_lines_and_parents(kind, parent, remedy, lines):
    cgroups = [line.split(":", 2)[2] for line in lines]
    found = manager_of(cgroups, parent)
    if kind == "none":
        assert found is None  # the user's own session, terminal or shell
        return
    assert found is not None
    assert found["kind"] == kind
    assert found["remedy"] == remedy
    assert found["evidence"]


def test_a_process_in_gpudoctors_own_container_is_judged_on_its_merits():
    mine = "/docker/8c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d"
    assert manager_of([mine], "python", own_cgroups=[mine]) is None
    job = "/slurm/uid_1000/job_48213/step_0/task_0"
    assert manager_of([job], "python", own_cgroups=["/slurm/uid_1000/job_48213/step_1"]) is None


@linux_only
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_service_and_supervised_children_are_never_proposed(holders):
    # A stopped orphan holding the GPU, inside a systemd service's cgroup: everything else
    # about it says "stale", the cgroup says "not yours to stop".
    service = holders.service("gd-test-llm.service", holders.orphan())
    if service is None:
        pytest.skip("cannot make a cgroup here")
    os.kill(service, signal.SIGSTOP)
    supervisor, kids = holders.supervised(2)
    os.kill(kids[0], signal.SIGSTOP)
    time.sleep(0.3)
    ctx = ProbeContext(options=holders.options(worker_idle_seconds=0.1))
    inventory = collect_inventory(ctx, use_nvml=False)
    rows = {row["pid"]: row for row in inventory["processes"]}
    assert rows[service]["manager"]["kind"] == "systemd-service"
    assert rows[service]["manager"]["name"] == "gd-test-llm.service"
    assert all(rows[kid]["manager"]["kind"] == "supervised" for kid in kids)
    seen = observe(ctx, sorted(rows), 0.3, use_nvml=False)
    for observations in (seen, None):
        the_plan = plan(
            inventory,
            idle_minutes=0.0,
            all_users=True,
            privileged=True,
            current_uid=0,
            current_user="root",
            observations=observations,
        )
        assert the_plan.targets == ()
        left = {s.pid: s for s in the_plan.skipped}
        assert left[service].remedy == "sudo systemctl stop gd-test-llm.service"
        assert "never stopped" in left[service].why
        assert all("tini" in left[kid].why for kid in kids)
    assert alive(service)
    assert all(alive(kid) for kid in kids)
    assert alive(supervisor)
