"""``gpudoctor check`` with thousands of extra real processes, next to none.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_inventory_real.py [--counts 1000 5000 10000]

``bench_inventory.py`` times the process inventory on a synthetic ``/proc``; this one starts
real processes (``sleep``, forked by one shell in its own session) so the kernel's ``/proc``
is what gets read. For each count it measures, alternating "none" and "N extra" blocks so
load from other jobs lands on both:

* ``gpudoctor check`` (wall and CPU time of the whole command);
* the process scan alone, in this process (``proc_table.scan``), which is what grows.

It reports the extra time per process. Every process it starts is killed and reaped (the
shell's whole session), also on Ctrl-C.

Goal (issue 20): ``check`` with 10k extra processes <= 0.5 s more than with none.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import load_average  # noqa: E402
from paired import run_once  # noqa: E402
from paired import spread  # noqa: E402


def process_count() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


class Sleepers:
    """``count`` real sleeping processes, children of one shell in a session of their own."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.shell: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sleepers:
        if self.count:
            before = process_count()
            script = f"i=0; while [ $i -lt {self.count} ]; do sleep 3600 & i=$((i+1)); done; wait"
            self.shell = subprocess.Popen(["sh", "-c", script], start_new_session=True)
            deadline = time.monotonic() + 300
            while process_count() < before + self.count and time.monotonic() < deadline:
                time.sleep(0.2)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.shell is None:
            return
        try:
            os.killpg(self.shell.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.shell.wait()  # the sleeps are the shell's children: the kernel reaps them
        deadline = time.monotonic() + 60
        while process_count() > 400 and time.monotonic() < deadline:
            time.sleep(0.2)


def scan_seconds(repeats: int) -> list[float]:
    """CPU seconds of the /proc scan alone (the inventory's part that grows)."""
    from gpudoctor.probes.base import ProbeContext
    from gpudoctor.probes.proc_table import scan

    ctx = ProbeContext()
    times = []
    for _ in range(repeats):
        started = time.process_time()
        scan(ctx)
        times.append(time.process_time() - started)
    return times


def block(argv: list[str], repeats: int) -> dict[str, list[float]]:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu, _rss, _code = run_once(argv)
        walls.append(wall)
        cpus.append(cpu)
    return {"wall": walls, "cpu": cpus, "scan": scan_seconds(repeats)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--repeats", type=int, default=3, help="runs per block")
    parser.add_argument("--blocks", type=int, default=2, help="none/N block pairs per count")
    args = parser.parse_args()
    check = [sys.executable, "-m", "gpudoctor", "check"]
    run_once(check)  # byte-code caches; not counted
    print(f"load average {load_average()}; {os.cpu_count()} CPUs; median [min-max]")
    print(f"{'extra':>7}{'check wall s':>26}{'check cpu s':>26}{'scan cpu s':>26}")
    worst_gap = 0.0
    for count in args.counts:
        none: dict[str, list[float]] = {"wall": [], "cpu": [], "scan": []}
        many: dict[str, list[float]] = {"wall": [], "cpu": [], "scan": []}
        for _ in range(args.blocks):
            for key, values in block(check, args.repeats).items():
                none[key] += values
            with Sleepers(count):
                for key, values in block(check, args.repeats).items():
                    many[key] += values
        for label, data in (("0", none), (str(count), many)):
            print(
                f"{label:>7}{spread(data['wall']):>26}{spread(data['cpu']):>26}"
                f"{spread(data['scan']):>26}"
            )
        gap_wall = statistics.median(many["wall"]) - statistics.median(none["wall"])
        gap_cpu = statistics.median(many["cpu"]) - statistics.median(none["cpu"])
        gap_scan = statistics.median(many["scan"]) - statistics.median(none["scan"])
        print(
            f"  +{count}: check +{gap_wall:.3f} s wall, +{gap_cpu:.3f} s cpu; "
            f"per process {gap_cpu / count * 1e6:.1f} us cpu (scan {gap_scan / count * 1e6:.1f} us)"
        )
        if count >= 10000:
            worst_gap = max(worst_gap, gap_wall)
    if worst_gap:
        verdict = "met" if worst_gap <= 0.5 else "MISSED"
        print(f"goal: +10k processes costs <= 0.5 s more: {verdict} ({worst_gap:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
