"""Benchmark: GPU-process inventory time on synthetic /proc tables of 2,500, 5,000, 10,000.

Run from the repository root::

    PYTHONPATH=src python benchmarks/bench_inventory.py

It builds a fake ``/proc`` in a temporary folder (``stat``, ``status``, ``cmdline``, a
``maps`` file and three open descriptors per process as symlinks; one process in 50 holds
``/dev/nvidia0`` open and one in 100 maps libcuda), then times
``collect_inventory`` on it without NVML and without the CPU sample. Goal: linear growth,
under 1 s per 10,000 processes. Prints one line per size and exits 1 if the goal is missed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gpudoctor.probes import ProbeContext
from gpudoctor.probes.gpu_processes import collect_inventory

SIZES = (2_500, 5_000, 10_000)
REPEATS = 3
GOAL_S_PER_10K = 1.0

MAPS = (
    "55d4c0a00000-55d4c0a21000 r--p 00000000 08:01 131 /usr/bin/python3.11\n"
    "7f1c2a000000-7f1c2a200000 r-xp 00000000 08:01 262 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
) * 20


def build_tree(root: Path, count: int) -> None:
    proc = root / "proc"
    proc.mkdir(parents=True)
    (proc / "stat").write_text("cpu  1 2 3 4\nbtime 1795000000\n")
    for pid in range(1, count + 1):
        folder = proc / str(pid)
        fd = folder / "fd"
        fd.mkdir(parents=True)
        ppid = 0 if pid == 1 else max(1, pid // 3)
        (folder / "stat").write_text(
            f"{pid} (python) S {ppid} {pid} {pid} 0 -1 4194304 100 0 0 0 "
            f"{pid % 500} {pid % 70} 0 0 20 0 1 0 {1000 + pid} 1000000 200 "
            "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
        )
        (folder / "status").write_text(f"Name:\tpython\nUid:\t{1000 + pid % 3}\t0\t0\t0\n")
        (folder / "cmdline").write_bytes(b"python\0train.py\0--epochs\0" + str(pid).encode())
        maps = MAPS
        if pid % 100 == 0:
            maps += "7f1c30000000-7f1c30100000 r-xp 00000000 08:01 9 /usr/lib/libcuda.so.550\n"
        (folder / "maps").write_text(maps)
        os.symlink("/dev/null", fd / "0")
        os.symlink("socket:[12345]", fd / "1")
        os.symlink("/dev/nvidia0" if pid % 50 == 0 else "/tmp/log.txt", fd / "2")


def time_inventory(root: Path) -> tuple[float, int, int]:
    ctx = ProbeContext(
        root=root,
        platform="linux",
        options={"cpu_sample_seconds": 0, "caller_pid": 7},
        env={"PATH": ""},
    )
    best = float("inf")
    found = scanned = 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        inventory = collect_inventory(ctx, use_nvml=False)
        best = min(best, time.perf_counter() - start)
        found, scanned = len(inventory["processes"]), inventory["scanned"]
    return best, scanned, found


def main() -> int:
    results = []
    for count in SIZES:
        root = Path(tempfile.mkdtemp(prefix="gpudoctor-bench-proc-"))
        try:
            build_tree(root, count)
            seconds, scanned, found = time_inventory(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        per_10k = seconds / count * 10_000
        results.append((count, seconds, per_10k))
        print(
            f"{count:>6} processes: {seconds * 1000:7.1f} ms "
            f"({per_10k * 1000:6.1f} ms per 10k; scanned {scanned}, GPU holders {found})"
        )
    smallest, largest = results[0], results[-1]
    growth = largest[1] / smallest[1]
    size_ratio = largest[0] / smallest[0]
    print(
        f"time grew {growth:.2f}x for {size_ratio:.0f}x the processes (linear = {size_ratio:.0f}x)"
    )
    ok = all(per_10k < GOAL_S_PER_10K for _, _, per_10k in results)
    print("goal met: under 1 s per 10,000 processes" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
