"""Real processes holding a stand-in GPU device file: inventory, classification, kill-stale.

Each test starts its own processes (an orphaned worker, a sleeping holder, a stopped one),
points the inventory at a temporary file instead of ``/dev/nvidia*``, and kills whatever is
still running at the end. Runs on Linux only (the inventory reads ``/proc``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from conftest import REPO
from gpudoctor.checks.staleness import classify
from gpudoctor.commands.fix_kill_stale import run_kill_stale
from gpudoctor.fixes import kill_stale
from gpudoctor.fixes.kill_stale import PsutilOps, apply, plan
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.gpu_processes import collect_inventory

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the /proc inventory is Linux-only"
)

HELPER = str(Path(__file__).with_name("gpu_holder_helper.py"))


class Holders:
    """Starts stand-in GPU users and cleans every one of them up afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.device = root / "nvidia0"
        self.device.write_bytes(b"stand-in GPU device\n")
        self.children: list[subprocess.Popen[bytes]] = []
        self.others: list[psutil.Process] = []
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "src")}

    def options(self) -> dict[str, object]:
        return {
            "gpu_device_paths": [str(self.device)],
            "gpu_map_markers": [],
            "cpu_sample_seconds": 0.3,
        }

    def _wait_ready(self, ready: Path) -> int:
        deadline = time.monotonic() + 15
        while not ready.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"{ready.name} never became ready")
            time.sleep(0.02)
        pid = int(ready.read_text())
        self.others.append(psutil.Process(pid))
        return pid

    def start(self, mode: str, name: str, *extra: str, **popen: object) -> int:
        ready = self.root / f"{name}.ready"
        argv = [sys.executable, HELPER, mode, str(self.device), str(ready), *extra]
        child = subprocess.Popen(argv, env=self.env, start_new_session=True, **popen)  # type: ignore[call-overload]
        self.children.append(child)
        return self._wait_ready(ready)

    def orphan(self, name: str = "orphan") -> int:
        pid = self.start("orphan", name)
        self.children[-1].wait(10)  # the parent has exited: its worker is now an orphan
        return pid

    def stopped(self) -> int:
        pid = self.start("hold", "stopped")
        os.kill(pid, signal.SIGSTOP)
        _wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
        return pid

    def plain_sleeper(self) -> int:
        """A process that holds no device at all."""
        child = subprocess.Popen(["sleep", "120"], start_new_session=True)
        self.children.append(child)
        return child.pid

    def cleanup(self) -> None:
        for proc in self.others:
            try:
                proc.kill()  # psutil checks the pid still names the same process
            except psutil.Error:
                pass
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(10)


@pytest.fixture
def holders():
    # World-readable, so a process of another user can open the stand-in device too.
    root = Path(tempfile.mkdtemp(prefix="gpudoctor-holders-"))
    root.chmod(0o777)
    made = Holders(root)
    try:
        yield made
    finally:
        made.cleanup()
        for path in root.iterdir():
            path.unlink()
        root.rmdir()


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _inventory(holders: Holders) -> dict:
    return collect_inventory(ProbeContext(options=holders.options()), use_nvml=False)


def _rows(inventory: dict) -> dict[int, dict]:
    return {row["pid"]: row for row in inventory["processes"]}


def _fix(holders: Holders, lines: list[str], **kwargs: object) -> int:
    args = {"all_users": False, "grace": 1.0, "idle_minutes": 30.0, "yes": True}
    args.update(kwargs)
    return run_kill_stale(
        dry_run=bool(args.pop("dry_run", False)),
        options=holders.options(),
        echo=lines.append,
        **args,  # type: ignore[arg-type]
    )


def test_inventory_finds_and_classifies_real_holders(holders):
    orphan = holders.orphan()
    sleeper = holders.start("hold", "sleeper")
    stopped = holders.stopped()
    bystander = holders.plain_sleeper()

    inventory = _inventory(holders)
    rows = _rows(inventory)

    assert {orphan, sleeper, stopped} <= set(rows)
    assert bystander not in rows
    for pid in (orphan, sleeper, stopped):
        assert rows[pid]["sources"] == ["open device file"]
        assert rows[pid]["devices"] == [str(holders.device)]
        assert rows[pid]["gpu_memory_bytes"] is None
        assert rows[pid]["gpu_memory_note"].startswith("not reported")
        assert rows[pid]["user"]
        assert rows[pid]["start_time"] > 0
    assert rows[orphan]["parent_gone"] is True
    assert rows[sleeper]["parent_gone"] is False
    assert rows[sleeper]["ppid"] == os.getpid()
    assert rows[stopped]["state"] == "stopped"
    assert rows[sleeper]["recent_cpu_seconds"] == 0.0
    assert inventory["caller"]["pid"] == os.getpid()
    assert not any(rows[pid]["is_caller_ancestor"] for pid in rows)

    verdicts = {pid: classify(rows[pid], idle_minutes=30) for pid in rows}
    assert verdicts[orphan].kind == "orphaned-worker"
    assert any("parent is gone" in r for r in verdicts[orphan].reasons)
    assert verdicts[stopped].kind == "stopped"
    assert verdicts[stopped].confidence == "high"
    assert verdicts[sleeper] is None


def test_kill_stale_stops_exactly_the_stale_ones(holders):
    orphan = holders.orphan()
    sleeper = holders.start("hold", "sleeper")
    stopped = holders.stopped()
    bystander = holders.plain_sleeper()

    dry: list[str] = []
    assert _fix(holders, dry, dry_run=True) == 0
    assert "Dry run: nothing was stopped." in dry
    assert all(_alive(pid) for pid in (orphan, sleeper, stopped, bystander))

    lines: list[str] = []
    assert _fix(holders, lines) == 0
    output = "\n".join(lines)
    assert "Will stop 2 process(es):" in output
    assert f"pid {orphan}: died" in output
    assert f"pid {stopped}: died" in output
    _wait_for(lambda: not _alive(orphan))
    assert holders.children[2].wait(5) is not None  # the stopped one really ended
    assert _alive(sleeper)
    assert _alive(bystander)
    assert f"pid {sleeper}" not in output
    assert "Stale GPU holders left: 0." in output


def test_declining_the_question_stops_nothing(holders):
    orphan = holders.orphan()
    lines: list[str] = []
    code = _fix(holders, lines, yes=False, confirm=lambda question: False)
    assert code == 0
    assert "Nothing was stopped." in lines
    assert _alive(orphan)


def test_target_gone_or_pid_reused_before_the_signal(holders):
    orphan = holders.orphan()
    stopped = holders.stopped()
    sleeper = holders.start("hold", "sleeper")
    inventory = _inventory(holders)
    uid, user, root = kill_stale.current_identity()
    the_plan = plan(
        inventory,
        idle_minutes=30,
        all_users=False,
        privileged=root,
        current_uid=uid,
        current_user=user,
    )
    by_pid = {t.pid: t for t in the_plan.targets}
    assert set(by_pid) == {orphan, stopped}

    # Between listing and killing: the orphan exits on its own ...
    os.kill(orphan, signal.SIGKILL)
    _wait_for(lambda: not _alive(orphan))
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
    assert _alive(sleeper)

    # The portable (psutil) path guards the same way.
    outcome = apply(replace(the_plan, targets=(reused,)), grace=0.5, ops=PsutilOps())[0]
    assert outcome.result == "identity-changed"
    assert _alive(sleeper)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_other_users_processes_are_left_alone(holders):
    ready = holders.root / "nobody.ready"
    script = (
        f'exec 3<"{holders.device}"; echo $$ > "{ready}.tmp"; '
        f'mv "{ready}.tmp" "{ready}"; exec sleep 120'
    )
    child = subprocess.Popen(["sh", "-c", script], user=65534, group=65534, start_new_session=True)
    holders.children.append(child)
    pid = holders._wait_ready(ready)
    os.kill(pid, signal.SIGSTOP)  # stopped: stale with high confidence, whoever owns it

    lines: list[str] = []
    assert _fix(holders, lines) == 0
    output = "\n".join(lines)
    assert "belongs to nobody" in output
    assert "Nothing stale to stop" in output
    assert _alive(pid)

    inventory = _inventory(holders)
    row = _rows(inventory)[pid]
    assert row["uid"] == 65534
    assert row["user"] == "nobody"
    common = {"idle_minutes": 30, "current_uid": os.getuid(), "current_user": "root"}
    # --all-users without the rights: still refused.
    unprivileged = plan(inventory, all_users=True, privileged=False, **common)
    assert [s.pid for s in unprivileged.skipped] == [pid]
    assert not unprivileged.targets
    # Root without --all-users: refused; root with --all-users: allowed.
    assert not plan(inventory, all_users=False, privileged=True, **common).targets
    allowed = plan(inventory, all_users=True, privileged=True, **common)
    assert [t.pid for t in allowed.targets] == [pid]
    assert apply(allowed, grace=0.5)[0].result == "died"


def test_callers_parent_is_never_stopped(holders):
    result_file = holders.root / "fix-output.json"
    parent = holders.start("orphan-caller-parent", "caller-parent", str(result_file))
    holders.children[-1].wait(10)
    result = json.loads(result_file.read_text())
    output = "\n".join(result["lines"])
    assert f"pid {parent}" in output
    assert "ancestor of gpudoctor" in output
    assert "Nothing stale to stop" in output
    assert result["rc"] == 0
    assert _alive(parent)
