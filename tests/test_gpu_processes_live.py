"""Real processes holding a stand-in GPU device file: inventory, judgement, kill-stale.

Each test starts its own processes (orphaned workers, idle and busy holders, a periodic
"training" job, a stopped one, a service, supervised children), points the inventory at a
temporary file instead of ``/dev/nvidia*``, and kills whatever is still running at the end.
Runs on Linux only (the inventory reads ``/proc``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from gpudoctor.checks.staleness import judge
from gpudoctor.commands.fix_kill_stale import make_recheck
from gpudoctor.fixes import kill_stale
from gpudoctor.fixes.kill_stale import PsutilOps
from gpudoctor.fixes.kill_stale import apply
from gpudoctor.fixes.kill_stale import plan
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.gpu_processes import collect_inventory
from gpudoctor.probes.gpu_processes import observe
from stale_holders import Holders
from stale_holders import alive
from stale_holders import holders_fixture
from stale_holders import wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the /proc inventory is Linux-only"
)

holders = pytest.fixture(holders_fixture)
ME = {"current_uid": os.getuid() if hasattr(os, "getuid") else None, "current_user": None}


def _inventory(holders: Holders, **options: object) -> dict:
    return collect_inventory(ProbeContext(options=holders.options(**options)), use_nvml=False)


def _rows(inventory: dict) -> dict[int, dict]:
    return {row["pid"]: row for row in inventory["processes"]}


def _plan(inventory: dict, observations: dict | None = None, idle_minutes: float = 30.0):
    return plan(
        inventory,
        idle_minutes=idle_minutes,
        all_users=False,
        privileged=False,
        observations=observations,
        **ME,
    )


def test_inventory_reads_the_no_wait_signals_of_real_holders(holders):
    orphan = holders.orphan()
    sleeper = holders.start("hold")
    stopped = holders.stopped()
    busy = holders.start("busy")
    bystander = subprocess.Popen(["sleep", "120"], start_new_session=True)
    holders.children.append(bystander)
    time.sleep(1.5)

    inventory = _inventory(holders)
    rows = _rows(inventory)

    assert {orphan, sleeper, stopped, busy} <= set(rows)
    assert bystander.pid not in rows
    for pid in (orphan, sleeper, stopped, busy):
        assert rows[pid]["sources"] == ["open device file"]
        assert rows[pid]["devices"] == [str(holders.device)]
        assert rows[pid]["gpu_memory_bytes"] is None
        assert rows[pid]["manager"] is None
        assert rows[pid]["start_time"] > 0
    assert rows[orphan]["parent_gone"] is True
    assert rows[orphan]["group_leader_gone"] is True  # its launcher led its process group
    assert rows[sleeper]["parent_gone"] is False
    assert rows[sleeper]["ppid"] == os.getpid()
    assert rows[stopped]["state"] == "stopped"
    if inventory["sources"]["sched"] == "ok":
        # A spinning process last ran a scheduler slice ago; on a loaded machine a slice can
        # be a few hundred milliseconds, so compare with a sleeper idle for over a second.
        assert rows[sleeper]["cpu_idle_seconds"] >= 1.2
        assert rows[busy]["cpu_idle_seconds"] < 1.0

    verdicts = {pid: judge(rows[pid], idle_minutes=30, worker_idle_seconds=0.2) for pid in rows}
    assert verdicts[orphan].cls == "orphaned-worker"
    assert verdicts[orphan].stale
    assert any("parent is gone" in r for r in verdicts[orphan].evidence)
    assert verdicts[stopped].cls == "stopped"
    assert verdicts[stopped].confidence == "high"
    assert not verdicts[sleeper].stale  # idle for seconds, not the 30 minutes asked for
    assert not verdicts[busy].stale


def test_kill_stale_stops_exactly_the_stale_ones(holders):
    orphan = holders.orphan()
    worker = holders.mp_orphan()
    sleeper = holders.start("hold")
    stopped = holders.stopped()
    busy = holders.start("busy")
    time.sleep(0.6)

    dry: list[str] = []
    assert holders.kill_stale(dry, dry_run=True) == 0
    assert "Dry run: nothing was stopped." in dry
    assert all(alive(pid) for pid in (orphan, worker, sleeper, stopped, busy))

    lines: list[str] = []
    assert holders.kill_stale(lines) == 0
    output = "\n".join(lines)
    assert "Will stop 3 process(es):" in output
    for pid in (orphan, worker, stopped):
        assert f"pid {pid}: died" in output
        wait_for(lambda p=pid: not alive(p))
    assert alive(sleeper)
    assert alive(busy)
    assert "active during observation" in output  # the busy one, with what it did


def test_idle_multiprocessing_worker_whose_parent_exited_is_proposed(holders):
    worker = holders.mp_orphan()
    time.sleep(0.5)
    inventory = _inventory(holders, worker_idle_seconds=0.5)
    row = _rows(inventory)[worker]
    assert "multiprocessing" in row["cmdline"] or "spawn_main" in row["cmdline"]
    seen = observe(ProbeContext(options=holders.options()), [worker], 0.5, use_nvml=False)
    the_plan = _plan(inventory, seen)
    (target,) = the_plan.targets
    assert target.pid == worker
    assert target.kind == "orphaned-worker"
    assert target.confidence == "high"
    assert any("multiprocessing workers'" in line for line in target.reasons)
    assert target.idle_seconds is not None
    assert target.idle_seconds >= 0.5


def test_periodic_training_job_is_never_proposed_in_50_looks(holders):
    """0.3 s of work every 1.8 s, adopted by init: idle most of the time, but never stale."""
    job = holders.periodic_orphan(0.3, 1.8)
    ctx = ProbeContext(options=holders.options())
    rng = random.Random(13)
    proposed = []
    saw_idle_window = 0
    for _ in range(50):
        inventory = collect_inventory(ctx, use_nvml=False)
        seen = observe(ctx, [job], 0.1, use_nvml=False)
        saw_idle_window += seen[job]["cpu_seconds"] == 0
        for observations in (seen, None):
            the_plan = _plan(inventory, observations)
            proposed += [t.pid for t in the_plan.targets]
        # and where the scheduler's last-ran time is not available
        blind = {
            **inventory,
            "processes": [{**r, "cpu_idle_seconds": None} for r in inventory["processes"]],
        }
        proposed += [t.pid for t in _plan(blind, seen).targets]
        time.sleep(rng.uniform(0.0, 0.15))
    assert saw_idle_window > 10  # the short windows often saw no CPU at all ...
    assert proposed == []  # ... and still nothing was proposed
    assert alive(job)


def test_activity_right_before_the_signal_drops_the_target(holders):
    orphan = holders.orphan()
    time.sleep(0.4)
    ctx = ProbeContext(options=holders.options(worker_idle_seconds=0.3))
    inventory = collect_inventory(ctx, use_nvml=False)
    seen = observe(ctx, [orphan], 0.3, use_nvml=False)
    the_plan = _plan(inventory, seen)
    assert [t.pid for t in the_plan.targets] == [orphan]

    os.kill(orphan, signal.SIGUSR1)  # after the window, it starts working again
    time.sleep(0.5)
    (outcome,) = apply(the_plan, grace=0.5, recheck=make_recheck(ctx, use_nvml=False))
    assert outcome.result == "dropped"
    assert "active after the observation (used 0." in outcome.detail
    assert outcome.signals == []
    assert alive(orphan)


def test_declining_the_question_stops_nothing(holders):
    orphan = holders.orphan()
    lines: list[str] = []
    code = holders.kill_stale(lines, yes=False, confirm=lambda question: False)
    assert code == 0
    assert "Nothing was stopped." in lines
    assert alive(orphan)


def test_target_gone_or_pid_reused_before_the_signal(holders):
    orphan = holders.orphan()
    stopped = holders.stopped()
    sleeper = holders.start("hold")
    time.sleep(0.3)
    ctx = ProbeContext(options=holders.options(worker_idle_seconds=0.2))
    inventory = collect_inventory(ctx, use_nvml=False)
    seen = observe(ctx, [orphan, stopped, sleeper], 0.2, use_nvml=False)
    uid, user, root = kill_stale.current_identity()
    the_plan = plan(
        inventory,
        idle_minutes=30,
        all_users=False,
        privileged=root,
        current_uid=uid,
        current_user=user,
        observations=seen,
    )
    by_pid = {t.pid: t for t in the_plan.targets}
    assert set(by_pid) == {orphan, stopped}

    # Between listing and killing: the orphan exits on its own ...
    os.kill(orphan, signal.SIGKILL)
    wait_for(lambda: not alive(orphan))
    # ... and the stopped process's pid "is reused": the pid now names a process that
    # started at another time (here the innocent sleeper, recorded with a stale identity).
    sleeper_row = _rows(inventory)[sleeper]
    reused = replace(
        by_pid[stopped],
        pid=sleeper,
        start_ticks=sleeper_row["start_ticks"] - 7,
        start_time=sleeper_row["start_time"] - 0.07,
    )
    the_plan = replace(the_plan, targets=(by_pid[orphan], reused))

    outcomes = {o.target.pid: o for o in apply(the_plan, grace=0.5)}
    assert outcomes[orphan].result == "gone"
    assert outcomes[sleeper].result == "identity-changed"
    assert outcomes[sleeper].signals == []
    assert alive(sleeper)

    # The portable (psutil) path guards the same way.
    outcome = apply(replace(the_plan, targets=(reused,)), grace=0.5, ops=PsutilOps())[0]
    assert outcome.result == "identity-changed"
    assert alive(sleeper)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_other_users_processes_are_left_alone(holders):
    ready = holders.root / "nobody.ready"
    script = (
        f'exec 3<"{holders.device}"; echo $$ > "{ready}.tmp"; '
        f'mv "{ready}.tmp" "{ready}"; exec sleep 120'
    )
    child = subprocess.Popen(["sh", "-c", script], user=65534, group=65534, start_new_session=True)
    holders.children.append(child)
    pid = holders.wait_ready(ready)
    os.kill(pid, signal.SIGSTOP)  # stopped: stale with high confidence, whoever owns it

    lines: list[str] = []
    assert holders.kill_stale(lines) == 0
    output = "\n".join(lines)
    assert "belongs to nobody" in output
    assert "Nothing stale to stop" in output
    assert alive(pid)

    inventory = _inventory(holders)
    row = _rows(inventory)[pid]
    assert row["uid"] == 65534
    assert row["user"] == "nobody"
    common = {"idle_minutes": 30, "current_uid": os.getuid(), "current_user": "root"}
    # --all-users without the rights: still refused.
    unprivileged = plan(inventory, all_users=True, privileged=False, **common)
    assert pid in [s.pid for s in unprivileged.skipped]
    assert not unprivileged.targets
    # Root without --all-users: refused; root with --all-users: allowed.
    assert not plan(inventory, all_users=False, privileged=True, **common).targets
    allowed = plan(inventory, all_users=True, privileged=True, **common)
    assert [t.pid for t in allowed.targets] == [pid]
    assert apply(allowed, grace=0.5)[0].result == "died"


def test_callers_parent_is_never_stopped(holders):
    result_file = holders.root / "fix-output.json"
    parent = holders.start("orphan-caller-parent", str(result_file), wait_launcher=True)
    result = json.loads(result_file.read_text())
    output = "\n".join(result["lines"])
    assert f"pid {parent}" in output
    assert "ancestor of gpudoctor" in output
    assert "Nothing stale to stop" in output
    assert result["rc"] == 0
    assert alive(parent)
