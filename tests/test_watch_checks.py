"""The watch checks (GD851-GD861) on hand-built timelines: each fires, and stays quiet.

Timelines are built from the same dataclasses the live sampler writes, then go through the
same facts builder, so these exercise exactly what ``--replay`` analyses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from gpudoctor.commands.watch import analyse
from gpudoctor.model import Finding
from gpudoctor.model import Severity
from gpudoctor.probes.live.timeline import GpuSample
from gpudoctor.probes.live.timeline import Header
from gpudoctor.probes.live.timeline import HostSample
from gpudoctor.probes.live.timeline import ProcSample
from gpudoctor.probes.live.timeline import ProcStacks
from gpudoctor.probes.live.timeline import Sample
from gpudoctor.probes.live.timeline import StackCapture
from gpudoctor.probes.live.timeline import ThreadStack
from gpudoctor.probes.live.timeline import Timeline

GiB = 1024**3
MiB = 1024**2


def _at(values: Sequence[Any] | Any, i: int) -> Any:
    return values[i] if isinstance(values, (list, tuple)) else values


def make_timeline(
    n: int = 40,
    *,
    interval: float = 1.0,
    util: Sequence[float | None] | float | None = 90.0,
    main_cpu: Sequence[float] | float = 100.0,
    worker_cpu: Sequence[float] | float = 30.0,
    workers: int = 2,
    rss: Sequence[int] | int = 2 * GiB,
    writes: Sequence[int] | None = None,
    steps: Sequence[int] | int | None = 10,
    available: Sequence[int] | int = 20 * GiB,
    swap: Sequence[float] | float = 0.0,
    reasons: Sequence[int] | int = 0,
    vram: Sequence[int] | int = 4 * GiB,
    watcher_cpu: float = 0.4,
    stacks: Sequence[StackCapture] = (),
    wsl: bool = False,
    thresholds: dict[str, float] | None = None,
) -> Timeline:
    samples = []
    written = 0
    for i in range(n):
        written += _at(writes, i) if writes is not None else 0
        procs = [
            ProcSample(
                1000,
                "main",
                "python",
                "running",
                _at(main_cpu, i),
                _at(main_cpu, i),
                _at(rss, i),
                0,
                written,
            )
        ]
        procs += [
            ProcSample(
                2000 + w,
                "worker",
                "python",
                "sleeping",
                _at(worker_cpu, i),
                _at(worker_cpu, i),
                500 * MiB,
                0,
                0,
            )
            for w in range(workers)
        ]
        u = _at(util, i)
        gpus = (
            ()
            if util is None
            else (GpuSample(0, u, _at(vram, i), 8 * GiB, 65.0, 87.0, 80.0, 115.0, _at(reasons, i)),)
        )
        samples.append(
            Sample(
                t=i * interval,
                procs=tuple(procs),
                gpus=gpus,
                host=HostSample(32 * GiB, _at(available, i), _at(swap, i), _at(swap, i)),
                log_lines=None if steps is None else _at(steps, i),
                steps=None if steps is None else _at(steps, i),
                watcher_cpu=watcher_cpu,
            )
        )
    header = Header(
        interval=interval, target="pid", wsl=wsl, thresholds={"warmup_s": 2.0, **(thresholds or {})}
    )
    return Timeline(header=header, samples=samples, stacks=list(stacks))


def result(timeline: Timeline, check_id: str) -> Finding:
    report = analyse(timeline, command="test")
    return next(f for f in report.findings if f.check_id == check_id)


# -- GD851 input-bound -----------------------------------------------------------------


def test_input_bound_fires_when_gpu_idles_and_main_waits() -> None:
    found = result(make_timeline(util=15.0, main_cpu=20.0), "GD851")
    assert found.severity is Severity.WARN
    assert "main process waits" in found.title


def test_input_bound_names_saturated_workers() -> None:
    found = result(make_timeline(util=25.0, main_cpu=70.0, worker_cpu=99.0), "GD851")
    assert found.severity is Severity.WARN
    assert "workers are saturated" in found.title


def test_input_bound_quiet_when_gpu_busy() -> None:
    assert result(make_timeline(util=95.0), "GD851").severity is Severity.PASS


def test_input_bound_without_gpu_is_only_a_hint() -> None:
    assert result(make_timeline(util=None, main_cpu=15.0), "GD851").severity is Severity.INFO


# -- GD852 periodic stalls ---------------------------------------------------------------


def _stalls(period: int, n: int = 60) -> list[float]:
    return [5.0 if i % period == period - 1 else 95.0 for i in range(n)]


def test_periodic_stalls_blamed_on_checkpoint_writes() -> None:
    util = _stalls(10)
    writes = [300 * MiB if u < 50 else 10_000 for u in util]
    found = result(make_timeline(60, util=util, writes=writes), "GD852")
    assert found.severity is Severity.WARN
    assert "every 10.0 s" in found.title
    assert "checkpoints" in found.title


def test_periodic_stalls_without_a_cause_are_info() -> None:
    found = result(make_timeline(60, util=_stalls(8)), "GD852")
    assert found.severity is Severity.INFO
    assert "every 8.0 s" in found.title


def test_irregular_dips_are_not_periodic() -> None:
    util = [95.0] * 60
    for i in (3, 5, 21, 50):
        util[i] = 5.0
    assert result(make_timeline(60, util=util), "GD852").severity is Severity.PASS


# -- GD853 swapping, GD854 creep, GD855 WSL, GD858 host RAM ------------------------------


def test_swapping_fires_on_sustained_swap_traffic() -> None:
    found = result(make_timeline(swap=20.0 * MiB), "GD853")
    assert found.severity is Severity.WARN


def test_no_swapping_is_quiet() -> None:
    assert result(make_timeline(), "GD853").severity is Severity.PASS


def test_steady_rss_growth_is_memory_creep() -> None:
    rss = [2 * GiB + i * 20 * MiB for i in range(40)]
    found = result(make_timeline(rss=rss), "GD854")
    assert found.severity is Severity.WARN
    assert "1200 MiB/min" in found.title


def test_flat_rss_after_warmup_is_not_creep() -> None:
    rss = [GiB * (1 if i < 2 else 3) for i in range(40)]  # jumps while starting, then flat
    assert result(make_timeline(rss=rss), "GD854").severity is Severity.PASS


def test_wsl_vm_close_to_cap() -> None:
    found = result(make_timeline(available=GiB, wsl=True), "GD855")
    assert found.severity is Severity.WARN
    assert result(make_timeline(available=GiB, wsl=False), "GD855").severity is Severity.PASS


def test_host_ram_near_full_fails() -> None:
    assert result(make_timeline(available=GiB), "GD858").severity is Severity.FAIL
    assert result(make_timeline(), "GD858").severity is Severity.PASS


# -- GD856 throttling, GD857 VRAM --------------------------------------------------------


def test_thermal_throttling_while_busy() -> None:
    found = result(make_timeline(reasons=0x20 | 0x40), "GD856")
    assert found.severity is Severity.WARN
    assert result(make_timeline(reasons=0), "GD856").severity is Severity.PASS


def test_vram_near_full() -> None:
    assert result(make_timeline(vram=int(7.9 * GiB)), "GD857").severity is Severity.WARN
    assert result(make_timeline(vram=4 * GiB), "GD857").severity is Severity.PASS


# -- GD859 hang, GD861 overhead --------------------------------------------------------


def _hung(n: int = 40, at: int = 20) -> dict[str, Any]:
    return {
        "util": [90.0 if i < at else 0.0 for i in range(n)],
        "main_cpu": [100.0 if i < at else 0.0 for i in range(n)],
        "worker_cpu": [30.0 if i < at else 0.0 for i in range(n)],
        "steps": [10 if i < at else 0 for i in range(n)],
    }


def test_hang_names_the_blocked_worker_frame() -> None:
    frames = (
        "wait (threading.py:629)",
        "read_sample_blocking (train.py:30)",
        "__getitem__ (train.py:41)",
        "fetch (fetch.py:52)",
        "_worker_loop (worker.py:349)",
    )
    capture = StackCapture(
        t=39.0,
        reason="no progress",
        procs=(
            ProcStacks(
                1000, "main", (ThreadStack("MainThread", ("_try_get_data (dataloader.py:1133)",)),)
            ),
            ProcStacks(2000, "worker", (ThreadStack("MainThread", frames),)),
        ),
    )
    found = result(
        make_timeline(**_hung(), stacks=[capture], thresholds={"hang_after": 10}), "GD859"
    )
    assert found.severity is Severity.FAIL
    assert "DataLoader worker 2000 is blocked in read_sample_blocking (train.py:30)" in found.title
    assert any("DataLoader(timeout=60)" in r.text for r in found.remedies)


def test_hang_without_py_spy_says_how_to_get_stacks() -> None:
    capture = StackCapture(
        t=39.0,
        reason="x",
        error="py-spy is not installed",
        remedy="Install py-spy to see where the run is stuck: pip install py-spy",
    )
    found = result(
        make_timeline(**_hung(), stacks=[capture], thresholds={"hang_after": 10}), "GD859"
    )
    assert found.severity is Severity.FAIL
    assert any("pip install py-spy" in r.text for r in found.remedies)


@pytest.mark.parametrize(
    ("frames", "kind"),
    [
        (("all_reduce (distributed_c10d.py:2501)", "train (ddp.py:40)"), "collective"),
        (("_fixup_main_from_path (spawn.py:287)", "spawn_main (spawn.py:122)"), "spawn"),
        (("acquire (<frozen importlib._bootstrap>:1)", "emit (handler.py:10)"), "lock"),
    ],
)
def test_hang_classifies_where_it_is_stuck(frames: tuple[str, ...], kind: str) -> None:
    capture = StackCapture(
        t=39.0, reason="x", procs=(ProcStacks(1000, "main", (ThreadStack("MainThread", frames),)),)
    )
    found = result(
        make_timeline(**_hung(), stacks=[capture], thresholds={"hang_after": 10}), "GD859"
    )
    assert kind in found.title


def test_short_pause_is_not_a_hang() -> None:
    assert result(make_timeline(**_hung(40, 38)), "GD859").severity is Severity.PASS


def test_watcher_overhead_reported_and_warned() -> None:
    assert result(make_timeline(watcher_cpu=0.3), "GD861").severity is Severity.INFO
    assert result(make_timeline(watcher_cpu=9.0), "GD861").severity is Severity.WARN


def test_shm_near_full() -> None:
    def with_shm(used: int) -> Timeline:
        base = make_timeline(5)
        samples = [
            Sample(
                s.t,
                s.procs,
                s.gpus,
                HostSample(32 * GiB, 20 * GiB, 0.0, 0.0, used, 64 * MiB),
                s.log_lines,
                s.steps,
                s.watcher_cpu,
            )
            for s in base.samples
        ]
        return Timeline(base.header, samples)

    assert result(with_shm(62 * MiB), "GD860").severity is Severity.WARN
    assert result(with_shm(4 * MiB), "GD860").severity is Severity.PASS


def test_checkpoint_rhythm_survives_dips_from_a_busy_machine() -> None:
    util = _stalls(10)
    writes = [300 * MiB if u < 50 else 0 for u in util]
    for i in (3, 4, 15, 22, 33, 47):  # another program took the cores for a moment
        util[i] = 10.0
    found = result(make_timeline(60, util=util, writes=writes), "GD852")
    assert found.severity is Severity.WARN
    assert "every 10.0 s" in found.title
    assert "other dips" in found.evidence[0].value
