"""``gpudoctor watch`` on real CPU training runs (torch, DataLoader workers), fake GPU only.

Each run is a tiny model trained on the CPU (tests/watch/training.py) with one pathology;
the fake NVML's utilisation mirrors the training process's compute, so the GPU signal
matches what the run really did. The watcher attaches by PID once the run is logging steps,
as a user would attach to a running training.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gpudoctor.commands.watch import analyse  # noqa: E402
from gpudoctor.model import Severity  # noqa: E402
from gpudoctor.probes.live.watcher import Watch  # noqa: E402
from gpudoctor.probes.live.watcher import WatchOptions  # noqa: E402
from gpudoctor.testing.live_nvml import MirrorNvml  # noqa: E402

TRAINING = Path(__file__).parent / "watch" / "training.py"


def start(mode: str, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, str(TRAINING), mode, str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and "step 3" in log.read_text():
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"training {mode} exited early with {proc.returncode}")
        time.sleep(0.05)
    stop_tree(proc)
    raise AssertionError(f"training {mode} did not start")


def watch(proc: subprocess.Popen[bytes], log: Path, duration: float, **thresholds: float):  # type: ignore[no-untyped-def]
    options = WatchOptions(
        interval=0.1 if "fast" in thresholds else 0.2,
        duration=duration,
        log=str(log),
        thresholds={"warmup_s": 0.5, **{k: v for k, v in thresholds.items() if k != "fast"}},
        nvml_module=MirrorNvml(proc.pid),
    )
    timeline = Watch(proc.pid, options).run()
    return timeline, analyse(timeline, command="test")


def finding(report, check_id: str):  # type: ignore[no-untyped-def]
    return next(f for f in report.findings if f.check_id == check_id)


@pytest.fixture
def runs(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[subprocess.Popen[bytes]] = []

    def run(mode: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{mode}.log"
        proc = start(mode, log)
        started.append(proc)
        return proc, log

    yield run
    for proc in started:
        stop_tree(proc)


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill the training and its DataLoader workers: a worker blocked forever never notices
    that its parent died."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    psutil.wait_procs(children, timeout=5)


def test_sleeping_dataset_is_input_bound(runs) -> None:  # type: ignore[no-untyped-def]
    proc, log = runs("input")
    _, report = watch(proc, log, 3.0)
    result = finding(report, "GD851")
    assert result.severity is Severity.WARN, result
    assert "Input-bound" in result.title
    assert "main process waits" in result.title


def test_healthy_run_is_not_input_bound(runs) -> None:  # type: ignore[no-untyped-def]
    proc, log = runs("healthy")
    _, report = watch(proc, log, 2.0)
    assert finding(report, "GD851").severity is Severity.PASS
    assert finding(report, "GD859").severity is Severity.PASS


def test_checkpoint_writes_are_periodic_stalls(runs) -> None:  # type: ignore[no-untyped-def]
    proc, log = runs("checkpoint")
    timeline, report = watch(proc, log, 120.0, fast=1)  # the run ends after 5 checkpoints
    assert timeline.end is not None
    assert timeline.end.reason == "exited"
    result = finding(report, "GD852")
    assert result.severity is Severity.WARN, (result, [s.gpus[0].util for s in timeline.samples])
    assert "checkpoints" in result.title
    written = next(e for e in result.evidence if e.label == "written at each stall")
    assert "MiB" in written.value


def test_blocked_worker_is_a_hang_with_its_stack(runs) -> None:  # type: ignore[no-untyped-def]
    proc, log = runs("hang")
    started = time.monotonic()
    timeline, report = watch(proc, log, 30.0, hang_after=2.0)
    assert timeline.end is not None
    assert timeline.end.reason == "hang"
    assert time.monotonic() - started < 15  # reported within the threshold, not at --duration
    result = finding(report, "GD859")
    assert result.severity is Severity.FAIL
    assert "read_sample_blocking" in result.title, result
    assert "DataLoader worker" in result.title
    assert proc.poll() is None  # attached by PID: the run is left as it was


def test_growing_rss_is_memory_creep(runs) -> None:  # type: ignore[no-untyped-def]
    proc, log = runs("creep")
    _, report = watch(proc, log, 4.0, creep_mb=32)
    result = finding(report, "GD854")
    assert result.severity is Severity.WARN, result
    assert "MiB/min" in result.title
