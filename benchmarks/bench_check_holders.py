"""Benchmark: ``gpudoctor check`` with GPU-holding processes present takes no longer than without.

A training box nearly always has a process holding the GPU, so the quick path must not wait
on holders (it used to sample their CPU use for 0.5 s). Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_check_holders.py            # 15 pairs
    PYTHONPATH=src python benchmarks/bench_check_holders.py --pairs 25 --check

Holders are real processes (``tests/gpu_holder_helper.py``) that hold a stand-in device file
open, the way the tests fake ``/dev/nvidia*``: one busy, one idle, one computing 0.3 s every
1.8 s, one stopped. Each pair runs the same work twice, in alternating order: once pointed at a
device file nobody holds, once at the one the holders hold. Measured, in process: the
``gpu_processes`` probe alone, and the whole quick path (every non-deep probe through
``gather`` plus every check). Prints medians of each side and of the paired differences;
``--check`` exits 1 if the median of the whole path with holders exceeds the median without
by more than 20 % and 100 ms. Linux only (the holders are found through ``/proc``).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gpudoctor.probes import ProbeContext
from gpudoctor.probes import all_probes
from gpudoctor.probes.gather import gather
from gpudoctor.probes.gpu_processes import collect_inventory
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

HELPER = Path(__file__).resolve().parents[1] / "tests" / "gpu_holder_helper.py"


def start_holders(device: Path, folder: Path) -> list[subprocess.Popen[bytes]]:
    modes = [("busy",), ("hold",), ("periodic", "0.3", "1.8"), ("hold",)]
    procs = []
    for index, (mode, *extra) in enumerate(modes):
        ready = folder / f"holder-{index}.ready"
        argv = [sys.executable, str(HELPER), mode, str(device), str(ready), *extra]
        procs.append(subprocess.Popen(argv, start_new_session=True))
        deadline = time.monotonic() + 20
        while not ready.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"holder {mode} did not start")
            time.sleep(0.02)
    os.kill(int((folder / "holder-3.ready").read_text()), signal.SIGSTOP)
    return procs


def options(device: Path) -> dict[str, object]:
    return {"gpu_device_paths": [str(device)], "gpu_map_markers": []}


def whole_path(device: Path) -> Callable[[], int]:
    probes = all_probes(deep=False)
    registry = list(load_registry(plugins=False))

    def run() -> int:
        facts = gather(ProbeContext(options=options(device)), probes)
        return len(run_checks(facts, registry))

    return run


def probe_only(device: Path) -> Callable[[], int]:
    def run() -> int:
        return len(collect_inventory(ProbeContext(options=options(device)))["processes"])

    return run


def paired(
    without: Callable[[], int], with_: Callable[[], int], pairs: int
) -> tuple[list[float], list[float], int]:
    times_without: list[float] = []
    times_with: list[float] = []
    held = 0
    for index in range(pairs):
        order = [(without, times_without), (with_, times_with)]
        if index % 2:
            order.reverse()
        for func, bucket in order:
            start = time.perf_counter()
            count = func()
            bucket.append(time.perf_counter() - start)
            if func is with_:
                held = count
    return times_without, times_with, held


def report(label: str, without: list[float], with_: list[float]) -> tuple[float, float]:
    a, b = statistics.median(without), statistics.median(with_)
    diff = statistics.median(w - o for o, w in zip(without, with_))
    print(
        f"{label:<28} without {a * 1000:8.1f} ms   with {b * 1000:8.1f} ms   "
        f"ratio {b / a:5.2f}   median paired difference {diff * 1000:+7.1f} ms"
    )
    return a, b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("Linux only: the stand-in holders are found through /proc")
        return 0
    folder = Path(tempfile.mkdtemp(prefix="gpudoctor-bench-holders-"))
    held, free = folder / "nvidia0", folder / "nvidia1"
    held.write_bytes(b"stand-in GPU device\n")
    free.write_bytes(b"stand-in GPU device nobody holds\n")
    procs = start_holders(held, folder)
    try:
        print(f"{args.pairs} pairs, alternating order; {len(procs)} holder processes")
        a, b, count = paired(probe_only(free), probe_only(held), args.pairs)
        print(f"holders found by the probe: {count}")
        report("gpu_processes probe", a, b)
        a, b, _ = paired(whole_path(free), whole_path(held), args.pairs)
        median_without, median_with = report("whole quick path (check)", a, b)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    if args.check and median_with > max(median_without * 1.2, median_without + 0.1):
        print("FAIL: check is slower with GPU holders present")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
