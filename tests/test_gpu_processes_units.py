"""The classifier, the NVML and nvidia-smi readers, the kill plan and the checks, without a GPU."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

from conftest import make_facts
from gpudoctor.checks.staleness import classify
from gpudoctor.commands.fix_kill_stale import plan, run_kill_stale
from gpudoctor.facts.model import Unavailable
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.gpu_sources import nvml_view, parse_compute_apps
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
        "recent_cpu_seconds": 0.0,
        "sample_seconds": 0.5,
        "age_seconds": 3600.0,
        "gpu_util_percent": 0,
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


def test_finished_run_needs_idle_cpu_idle_gpu_and_age():
    verdict = classify(_row(), idle_minutes=30)
    assert verdict.kind == "finished-run"
    assert verdict.confidence == "medium"
    assert classify(_row(recent_cpu_seconds=0.3), idle_minutes=30) is None
    assert classify(_row(gpu_util_percent=40), idle_minutes=30) is None
    assert classify(_row(age_seconds=600), idle_minutes=30) is None
    assert classify(_row(age_seconds=600), idle_minutes=5).kind == "finished-run"


def test_unknown_gpu_utilisation_makes_a_finished_run_a_low_confidence_guess():
    verdict = classify(_row(gpu_util_percent=None), idle_minutes=30)
    assert verdict.confidence == "low"
    assert "GPU utilisation is not reported here" in verdict.reasons


def test_orphaned_worker_confidence_depends_on_worker_markers():
    plain = classify(_row(parent_gone=True, ppid=1, age_seconds=5), idle_minutes=30)
    assert plain.kind == "orphaned-worker"
    assert plain.confidence == "medium"
    marked = classify(
        _row(
            parent_gone=True,
            cmdline="python -c from multiprocessing.spawn import spawn_main; spawn_main()",
        ),
        idle_minutes=30,
    )
    assert marked.confidence == "high"
    busy = classify(_row(parent_gone=True, recent_cpu_seconds=0.4), idle_minutes=30)
    assert busy is None  # a nohup'd run that is working is not stale


def test_zombie_is_reported_but_not_killable_and_protected_names_never_stale():
    zombie = classify(_row(state="zombie"), idle_minutes=30)
    assert zombie.kind == "zombie"
    assert zombie.killable is False
    assert classify(_row(state="stopped", name="Xorg"), idle_minutes=30) is None
    assert classify(_row(visible=False), idle_minutes=30) is None


def test_idle_kernel():
    verdict = classify(
        _row(cmdline="python -m ipykernel_launcher -f kernel.json", gpu_util_percent=None),
        idle_minutes=30,
    )
    assert verdict.kind == "idle-kernel"
    assert "notebook" in verdict.advice


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


def test_plan_protects_caller_chain_other_users_zombies_and_guesses():
    inventory = _inventory(
        _row(pid=1),
        _row(pid=2, is_caller_ancestor=True),
        _row(pid=3, in_caller_group=True),
        _row(pid=4, uid=1001, user="bob"),
        _row(pid=5, state="zombie"),
        _row(pid=6, gpu_util_percent=None),
        _row(pid=7),
    )
    mine = {"idle_minutes": 30, "current_uid": 1000, "current_user": "alice"}
    result = plan(inventory, all_users=True, privileged=False, **mine)
    assert [t.pid for t in result.targets] == [7]
    why = {s.pid: s.why for s in result.skipped}
    assert "ancestor" in why[2]
    assert "process group" in why[3]
    assert "belongs to bob" in why[4]
    assert "zombie" in why[5]
    assert "low-confidence" in why[6]
    assert 1 not in why  # pid 1 is never even considered stale
    as_root = plan(inventory, all_users=True, privileged=True, **mine)
    assert [t.pid for t in as_root.targets] == [4, 7]


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
            inventory=_inventory(_row(uid=os.getuid(), pid=99)),
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
    facts = make_facts(gpu_processes=_section(_row(pid=7), _row(pid=8, recent_cpu_seconds=1.0)))
    findings = _run("GD402", facts)
    assert [f.subject for f in findings] == ["pid 7"]
    assert findings[0].fix == "kill-stale"
    assert any(e.label == "confidence" and e.value == "medium" for e in findings[0].evidence)


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
