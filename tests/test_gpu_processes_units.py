"""The classifier, the NVML and nvidia-smi readers, the kill plan and the checks, without a GPU."""

from __future__ import annotations

import json
import os
import sys
import time
from types import SimpleNamespace

import pytest

from conftest import make_facts
from gpudoctor.checks.staleness import judge
from gpudoctor.commands.fix_kill_stale import plan
from gpudoctor.commands.fix_kill_stale import run_kill_stale
from gpudoctor.facts.model import Unavailable
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.gpu_sources import nvml_view
from gpudoctor.probes.gpu_sources import parse_compute_apps
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_one

GiB = 1024**3


def _row(**changes):
    row = {
        "pid": 4242,
        "visible": True,
        "name": "python",
        "cmdline": "python train.py",
        "state": "sleeping",
        "ppid": 4000,
        "parent_name": "bash",
        "parent_gone": False,
        "cpu_idle_seconds": 3600.0,
        "age_seconds": 3600.0,
        "gpu_util_percent": 0,
        "gpu_samples": "ok",
        "gpu_last_active_seconds": None,
        "manager": None,
        "group_leader_gone": False,
        "pgid": 4242,
        "gpu_memory_bytes": 2 * GiB,
        "user": "alice",
        "uid": 1000,
        "start_time": 1795000000.0,
        "start_ticks": 424200,
        "sources": ["nvml compute"],
        "gpu_indices": [0],
        "is_caller": False,
        "is_caller_ancestor": False,
        "in_caller_group": False,
    }
    row.update(changes)
    return row


# -- classifier ------------------------------------------------------------------------

QUIET = {
    "window_s": 5.0,
    "exited": False,
    "state": "sleeping",
    "cpu_seconds": 0.0,
    "io_bytes": 0,
    "children_cpu_seconds": 0.0,
    "children_io_bytes": 0,
    "new_children": [],
    "gpu_active": False,
}


def _judge(row, observation=None, idle_minutes=30.0):
    return judge(row, idle_minutes=idle_minutes, worker_idle_seconds=5.0, observation=observation)


def test_finished_run_needs_measured_idle_time_never_age():
    verdict = _judge(_row())
    assert verdict.cls == "finished-run"
    assert verdict.stale
    assert verdict.idle_seconds == 3600.0
    # Old, but it ran on a CPU a second ago: not finished, whatever its age.
    recent = _judge(_row(cpu_idle_seconds=1.0, age_seconds=86400))
    assert not recent.stale
    assert "idle for 1.0 s only" in recent.reason
    assert not _judge(_row(cpu_idle_seconds=600)).stale
    assert _judge(_row(cpu_idle_seconds=600), idle_minutes=5).stale
    # GPU use in NVML's buffered samples: live.
    gpu = _judge(_row(gpu_last_active_seconds=2.0))
    assert gpu.cls == "live"
    assert "NVML sampled it using the GPU 2.0 s ago" in gpu.reason


def test_without_host_or_gpu_evidence_a_finished_run_is_never_called_one():
    blind = _judge(_row(cpu_idle_seconds=None, gpu_samples=None), QUIET, idle_minutes=0.01)
    assert not blind.stale
    assert "not enough evidence" in blind.reason
    short = _judge(_row(cpu_idle_seconds=None), QUIET)
    assert not short.stale  # observed 5 s idle is not 30 minutes


def test_any_activity_in_the_window_drops_a_candidate():
    for change in (
        {"cpu_seconds": 0.05},
        {"io_bytes": 65536},
        {"children_cpu_seconds": 0.5},
        {"children_io_bytes": 100_000},
        {"new_children": [77]},
        {"gpu_active": True},
    ):
        verdict = _judge(_row(), {**QUIET, **change})
        assert verdict.cls == "live", change
        assert verdict.reason.startswith("active during observation")


def test_event_loop_chatter_is_not_work():
    # An idle Jupyter kernel's ZeroMQ threads signal each other through eventfds.
    assert _judge(_row(), {**QUIET, "io_bytes": 160}).stale


def test_orphaned_worker_needs_a_worker_signature_and_idle_time():
    spawn = "python -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)"
    worker = _judge(_row(parent_gone=True, ppid=1, cmdline=spawn, cpu_idle_seconds=30))
    assert worker.cls == "orphaned-worker"
    assert worker.confidence == "high"
    assert worker.stale
    forked = _judge(_row(parent_gone=True, group_leader_gone=True, pgid=4000, cpu_idle_seconds=30))
    assert forked.cls == "orphaned-worker"
    assert forked.confidence == "medium"
    # A nohup'd run whose shell exited is not a worker: judged as a run (idle time needed).
    nohup = _judge(_row(parent_gone=True, cpu_idle_seconds=30))
    assert nohup.cls == "live"
    # A worker that ran a second ago is not idle.
    assert not _judge(_row(parent_gone=True, cmdline=spawn, cpu_idle_seconds=1.0)).stale


def test_services_and_supervised_processes_are_never_stale():
    manager = {
        "kind": "systemd-service",
        "name": "vllm.service",
        "evidence": "cgroup /system.slice/vllm.service",
        "remedy": "sudo systemctl stop vllm.service",
        "advice": "stop the service",
    }
    for row in (_row(manager=manager), _row(manager=manager, state="stopped", parent_gone=True)):
        verdict = _judge(row, QUIET, idle_minutes=0)
        assert verdict.cls == "managed"
        assert not verdict.stale
        assert not verdict.killable
        assert verdict.remedy == "sudo systemctl stop vllm.service"


def test_zombie_is_reported_but_not_killable_and_protected_names_never_stale():
    zombie = _judge(_row(state="zombie"))
    assert zombie.cls == "zombie"
    assert zombie.killable is False
    assert not _judge(_row(state="stopped", name="Xorg")).stale
    assert not _judge(_row(visible=False)).stale


def test_idle_kernel_uses_the_servers_last_activity():
    kernel = "python -m ipykernel_launcher -f /run/kernel-0b1c2d3e-aaaa-bbbb-cccc-1234567890ab.json"
    unknown = _judge(_row(cmdline=kernel, kernel={"kernel_id": "0b1c", "unknown": "no server"}))
    assert unknown.cls == "kernel-idle-unknown"
    assert not unknown.stale
    state = {"kernel_id": "0b1c", "execution_state": "idle", "last_activity": "x"}
    fresh = _judge(_row(cmdline=kernel, kernel={**state, "idle_seconds": 1.5}), QUIET)
    assert not fresh.stale  # finished a cell 1.5 s ago, whatever the process age
    idle = _judge(_row(cmdline=kernel, kernel={**state, "idle_seconds": 7200.0}), QUIET)
    assert idle.cls == "idle-kernel"
    assert idle.idle_seconds == 7200.0
    assert "notebook" in idle.advice
    busy = {**state, "execution_state": "busy", "idle_seconds": 7200.0}
    assert not _judge(_row(cmdline=kernel, kernel=busy), QUIET).stale


# -- NVML and nvidia-smi -----------------------------------------------------------------


class FakeNvml:
    """Bindings where the _v3 list is missing (old driver) and memory is WDDM-style None."""

    def __init__(self, processes, used=6 * GiB):
        self.processes = processes
        self.used = used

    def nvmlInit(self):
        return None

    def nvmlShutdown(self):
        return None

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return SimpleNamespace(index=index)

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA GeForce RTX 3060"

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=12 * GiB, used=self.used)

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle):
        error = type("NVMLError_FunctionNotFound", (Exception,), {})()
        error.value = 13
        raise error

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle):
        return self.processes

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        return []


def test_nvml_view_falls_back_to_v2_and_keeps_unknown_memory_unknown():
    procs = [
        SimpleNamespace(pid=10, usedGpuMemory=3 * GiB),
        SimpleNamespace(pid=11, usedGpuMemory=None),
    ]
    view = nvml_view(ProbeContext(platform="linux", nvml_module=FakeNvml(procs)))
    assert view.nvml == "ok"
    assert view.process_list == "ok"
    assert view.listed[10].memory_bytes == 3 * GiB
    assert view.listed[11].memory_known is False
    assert view.listed[11].memory_bytes is None
    assert view.devices[0]["used_bytes"] == 6 * GiB


def test_parse_nvidia_smi_compute_apps():
    rows = parse_compute_apps(
        "1234, C:\\Program Files\\App, Inc\\app.exe, [N/A]\n5678, python.exe, 2048\nNo data\n"
    )
    assert rows == [
        {"pid": 1234, "name": "C:\\Program Files\\App, Inc\\app.exe", "memory_bytes": None},
        {"pid": 5678, "name": "python.exe", "memory_bytes": 2048 * 1024**2},
    ]


# -- kill plan ---------------------------------------------------------------------------


def _inventory(*rows):
    return {"applicable": True, "settings": {"idle_minutes": 30}, "processes": list(rows)}


def test_plan_protects_caller_chain_other_users_zombies_and_the_unobserved():
    inventory = _inventory(
        _row(pid=1),
        _row(pid=2, is_caller_ancestor=True),
        _row(pid=3, in_caller_group=True),
        _row(pid=4, uid=1001, user="bob"),
        _row(pid=5, state="zombie"),
        _row(pid=6, cpu_idle_seconds=None, gpu_samples=None),
        _row(pid=7),
        _row(pid=8),
    )
    seen = {pid: QUIET for pid in (1, 2, 3, 4, 5, 6, 7)}
    mine = {"idle_minutes": 30, "current_uid": 1000, "current_user": "alice"}
    result = plan(inventory, all_users=True, privileged=False, observations=seen, **mine)
    assert [t.pid for t in result.targets] == [7]
    why = {s.pid: s.why for s in result.skipped}
    assert "init process" in why[1]
    assert "ancestor" in why[2]
    assert "process group" in why[3]
    assert "belongs to bob" in why[4]
    assert "cannot be signalled" in why[5]
    assert "needs 30.0 min" in why[6]  # only the 5 s window measured its idle time
    assert "not observed" in why[8]
    as_root = plan(inventory, all_users=True, privileged=True, observations=seen, **mine)
    assert [t.pid for t in as_root.targets] == [4, 7]
    doc = result.to_json()
    assert [item["pid"] for item in doc["would_stop"]] == [7]
    assert doc["would_stop"][0]["class"] == "finished-run"
    assert doc["would_stop"][0]["evidence"]
    assert {item["pid"] for item in doc["left_alone"]} == {1, 2, 3, 4, 5, 6, 8}


def test_plan_on_macos_says_there_is_nothing_to_do():
    lines = []
    code = run_kill_stale(
        all_users=False,
        grace=1,
        idle_minutes=30,
        yes=True,
        dry_run=False,
        inventory={"applicable": False, "reason": "macOS has no NVIDIA CUDA driver"},
        echo=lines.append,
    )
    assert code == 0
    assert "gpudoctor: macOS has no NVIDIA CUDA driver" in lines
    assert any(line.startswith("Nothing stale to stop") for line in lines)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX user ids")
def test_without_a_terminal_and_without_yes_it_refuses(monkeypatch):
    from gpudoctor.errors import BadInputError

    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115
    with pytest.raises(BadInputError, match="--yes"):
        run_kill_stale(
            all_users=False,
            grace=1,
            idle_minutes=30,
            yes=False,
            dry_run=False,
            inventory=_inventory(_row(uid=os.getuid(), pid=99, state="stopped")),
            echo=lambda line: None,
        )


# -- checks ------------------------------------------------------------------------------


def _run(check_id, facts):
    spec = load_registry(plugins=False).get(check_id)
    return run_one(spec, facts)


def _section(*rows, devices=None, kind="linux"):
    return {
        "applicable": True,
        "platform_kind": kind,
        "settings": {"idle_minutes": 30},
        "sources": {"nvml": "ok", "nvml_process_list": "ok", "proc_scan": "ok"},
        "unreadable": 0,
        "devices": devices
        if devices is not None
        else [{"index": 0, "total_bytes": 24 * GiB, "used_bytes": 8 * GiB}],
        "processes": list(rows),
    }


def test_gd401_totals_other_holders_and_ignores_the_caller():
    facts = make_facts(gpu_processes=_section(_row(pid=1), _row(pid=2, is_caller=True)))
    (finding,) = _run("GD401", facts)
    assert finding.severity.value == "info"
    assert finding.title == "1 other process(es) hold the GPU: 2.0 GiB"


def test_gd402_reports_each_stale_holder_with_its_reasons():
    facts = make_facts(gpu_processes=_section(_row(pid=7), _row(pid=8, cpu_idle_seconds=0.5)))
    findings = _run("GD402", facts)
    assert [f.subject for f in findings] == ["pid 7"]
    assert findings[0].fix == "kill-stale"
    assert any(e.label == "class" and e.value == "finished-run" for e in findings[0].evidence)
    assert any(e.label == "measured idle" for e in findings[0].evidence)


def test_gd403_names_hidden_pids_and_memory_no_process_accounts_for():
    hidden = {
        "pid": 999,
        "visible": False,
        "sources": ["nvml compute"],
        "gpu_indices": [0],
        "gpu_memory_bytes": 1 * GiB,
        "name": None,
    }
    facts = make_facts(gpu_processes=_section(_row(pid=7), hidden))
    (finding,) = _run("GD403", facts)
    assert finding.severity.value == "info"
    assert "1 process(es) the driver lists are not visible here" in finding.title
    assert "5.0 GiB of GPU memory is charged to no listed process" in finding.title


def test_gd403_does_not_guess_when_per_process_memory_is_unknown():
    facts = make_facts(gpu_processes=_section(_row(gpu_memory_bytes=None), kind="windows"))
    (finding,) = _run("GD403", facts)
    assert finding.severity.value == "skip"


def test_gd404_says_what_replaced_nvml_on_wsl2():
    facts = make_facts(gpu_processes=_section(kind="wsl2"))
    (finding,) = _run("GD404", facts)
    assert finding.severity.value == "info"
    assert "/dev/dxg" in finding.title


def test_unavailable_section_skips_the_checks():
    facts = make_facts(gpu_processes=Unavailable("probe timed out").to_json())
    assert _run("GD402", facts)[0].severity.value == "skip"


def test_cli_dry_run_changes_nothing_and_exits_zero(cli):
    result = cli("fix", "--kill-stale", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing was stopped." in result.stdout or "Nothing stale" in result.stdout


def test_gd402_lists_an_unproven_worker_candidate_as_info_without_a_fix():
    spawn = "python -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)"
    row = _row(pid=9, parent_gone=True, cmdline=spawn, cpu_idle_seconds=None)
    (finding,) = _run("GD402", make_facts(gpu_processes=_section(row)))
    assert finding.severity.value == "info"
    assert finding.title.startswith("Possibly stale, not proven")
    assert finding.fix is None
    commands = [c for r in finding.remedies for c in r.commands]
    assert commands == ["gpudoctor fix --kill-stale --dry-run"]


def test_gd401_names_the_manager_and_its_remedy_for_a_service():
    manager = {
        "kind": "systemd-service",
        "name": "vllm.service",
        "evidence": "cgroup /system.slice/vllm.service",
        "remedy": "sudo systemctl stop vllm.service",
        "advice": "stop the service",
    }
    facts = make_facts(gpu_processes=_section(_row(pid=5, manager=manager)))
    (finding,) = _run("GD401", facts)
    commands = [c for r in finding.remedies for c in r.commands]
    assert "sudo systemctl stop vllm.service" in commands
    assert any("runs as systemd service vllm.service" in e.value for e in finding.evidence)
    assert _run("GD402", facts)[0].severity.value == "pass"


def test_a_slow_process_table_ends_the_fix_within_its_time_bound(monkeypatch):
    from gpudoctor.commands import fix_kill_stale
    from gpudoctor.errors import GpuDoctorError
    from gpudoctor.probes import gpu_processes

    monkeypatch.setattr(gpu_processes, "collect_inventory", lambda ctx: time.sleep(5) or {})
    monkeypatch.setattr(fix_kill_stale, "LOOK_LIMIT_S", 0.3)
    started = time.monotonic()
    with pytest.raises(GpuDoctorError, match="did not finish within 0.3 s; nothing was stopped"):
        run_kill_stale(
            all_users=False, grace=1, idle_minutes=30, yes=True, dry_run=False, echo=print
        )
    assert time.monotonic() - started < 4.0  # cut off by the bound, not after the 5 s look


def test_cli_json_plan_says_what_it_would_stop_and_leave_alone(cli):
    result = cli("fix", "--kill-stale", "--dry-run", "-f", "json", "--observe", "0.2")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= {"would_stop", "left_alone", "observe_seconds", "time_bound_seconds"}
    assert doc["observe_seconds"] == 0.2
    assert doc["time_bound_seconds"] >= 0.2


def test_nvml_buffered_samples_say_who_used_the_gpu_without_waiting():
    from gpudoctor.probes.gpu_sources import gpu_activity_since
    from gpudoctor.testing.fake_nvml import FakeNvml

    device = {
        "name": "NVIDIA A100-SXM4-80GB",
        "memory": {"total": 80 * GiB, "free": 60 * GiB, "used": 20 * GiB},
        "processes": [
            {"pid": 10, "used_gpu_memory": 12 * GiB},
            {"pid": 11, "used_gpu_memory": 8 * GiB},
        ],
        "process_utilization": [
            {"pid": 10, "seconds_ago": 0.8, "sm": 63, "mem": 20},
            {"pid": 11, "seconds_ago": 3.0, "sm": 0, "mem": 0},
        ],
    }
    ctx = ProbeContext(platform="linux", nvml_module=FakeNvml({"devices": [device]}))
    view = nvml_view(ctx)
    assert view.utilisation == "ok"
    assert view.listed[10].util_percent == 63
    assert view.listed[10].last_active_us is not None
    assert view.listed[11].util_percent == 0
    assert view.listed[11].last_active_us is None  # sampled, but never busy
    since = int((time.time() - 2.0) * 1_000_000)
    assert set(gpu_activity_since(ctx, since)) == {10}
    assert gpu_activity_since(ctx, int(time.time() * 1_000_000) + 10**6) == {}
    blind = dict(device)
    blind.pop("process_utilization")
    view = nvml_view(ProbeContext(platform="linux", nvml_module=FakeNvml({"devices": [blind]})))
    assert isinstance(view.utilisation, Unavailable)
    assert view.listed[10].util_percent is None
