"""Disk benchmark: ``gpudoctor bench disk`` against fio on the same files.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_disk.py [--dir /var/tmp] [--keep]

It writes a dataset of a few large files and a few thousand small ones into a scratch folder
on the disk under test, then measures, side by side in this process tree:

* cold sequential reads of the large files: gpudoctor (O_DIRECT) vs fio ``rw=read bs=1M
  direct=1``;
* cold whole-file reads of the small files in random order: gpudoctor vs fio
  ``opendir=... bs=<file size> direct=1 file_service_type=random``;
* the same with the page cache warm (gpudoctor labels it warm-cache; fio ``direct=0``).

Goal: cold figures within +-20% of fio's, in at most a tenth of the time fio takes with its
default run length (one pass over the files). Without fio installed (Debian: ``apt-get install
fio``) only gpudoctor's figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpudoctor.probes.bench.disk import bench_disk

LARGE_FILES = 6
LARGE_BYTES = 1 << 30
SMALL_FILES = 12000
SMALL_BYTES = 112 << 10  # a 4 KiB multiple, so fio's direct reads cover whole files
#: gpudoctor's time per folder: a dataset much bigger than what it reads, as in real use.
SECONDS = 0.4


def make_dataset(root: Path) -> None:
    (root / "shards").mkdir(parents=True)
    (root / "images").mkdir()
    block = os.urandom(1 << 20)
    for i in range(LARGE_FILES):
        with open(root / "shards" / f"shard{i}.bin", "wb") as handle:
            for _ in range(LARGE_BYTES >> 20):
                handle.write(block)
    for i in range(SMALL_FILES):
        (root / "images" / f"{i:05d}.jpg").write_bytes(os.urandom(SMALL_BYTES))
    os.sync()
    time.sleep(10)  # let the (virtual) disk finish flushing before anything is timed


def fio(args: list[str]) -> dict[str, float] | None:
    if not shutil.which("fio"):
        return None
    started = time.monotonic()
    out = subprocess.run(
        ["fio", "--output-format=json", "--ioengine=psync", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.monotonic() - started
    # fio prints notes such as "opendir added N files" before the JSON document.
    job = json.loads(out.stdout[out.stdout.index("{") :])["jobs"][0]
    read = job["read"]
    return {
        "mb_per_s": read["bw_bytes"] / 1e6,
        "files_per_s": read["iops"],
        "runtime_s": job["job_runtime"] / 1000,
        "wall_s": wall,
    }


def gpudoctor(folder: Path, *, cold: bool) -> tuple[dict, float]:
    started = time.monotonic()
    result = bench_disk(str(folder), seconds=SECONDS, bypass_cache=cold, seed=0)
    return result, time.monotonic() - started


def compare(label: str, ours: float, theirs: float | None, unit: str) -> str:
    if theirs is None:
        return f"  {label}: gpudoctor {ours:,.1f} {unit} (fio not installed)"
    delta = (ours - theirs) / theirs * 100
    verdict = "ok" if abs(delta) <= 20 else "OUTSIDE +-20%"
    return (
        f"  {label}: gpudoctor {ours:,.1f} {unit}, fio {theirs:,.1f} {unit} "
        f"({delta:+.1f}%, {verdict})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/var/tmp", help="scratch space on the disk to test")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dataset")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gpudoctor-diskbench-", dir=args.dir))
    try:
        make_dataset(root)
        shards = sorted(str(p) for p in (root / "shards").iterdir())
        total = LARGE_FILES * LARGE_BYTES
        print(
            f"dataset: {LARGE_FILES} x {LARGE_BYTES >> 20} MiB + {SMALL_FILES} x "
            f"{SMALL_BYTES >> 10} KiB in {root}"
        )
        fio_seq = fio(
            [
                "--name=seq",
                "--rw=read",
                "--bs=1M",
                "--direct=1",
                f"--filename={':'.join(shards)}",
                f"--size={total}",
            ]
        )
        fio_small = fio(
            [
                "--name=small",
                "--rw=read",
                f"--bs={SMALL_BYTES}",
                "--direct=1",
                f"--opendir={root / 'images'}",
                "--file_service_type=random",
            ]
        )
        ours_seq, t_seq = gpudoctor(root / "shards", cold=True)
        ours_small, t_small = gpudoctor(root / "images", cold=True)
        seq, small = ours_seq["sequential"], ours_small["small_files"]
        print("cold cache:")
        print(f"  gpudoctor labels: sequential [{seq['cache']}], small [{small['cache']}]")
        print(compare("sequential", seq["mb_per_s"], fio_seq and fio_seq["mb_per_s"], "MB/s"))
        print(
            compare(
                "small files",
                small["files_per_s"],
                fio_small and fio_small["files_per_s"],
                "files/s",
            )
        )
        print(
            compare("small files", small["mb_per_s"], fio_small and fio_small["mb_per_s"], "MB/s")
        )
        if fio_seq and fio_small:
            fio_time = fio_seq["wall_s"] + fio_small["wall_s"]
            ours_time = t_seq + t_small
            print(
                f"  time: gpudoctor {ours_time:.2f} s, fio {fio_time:.2f} s "
                f"(ratio {ours_time / fio_time:.3f}; goal <= 0.1)"
            )
        # Warm: read the small files once so they sit in the page cache, then both measure
        # buffered reads (fio without invalidating the cache).
        for path in (root / "images").iterdir():
            path.read_bytes()
        fio_warm = fio(
            [
                "--name=warm",
                "--rw=read",
                f"--bs={SMALL_BYTES}",
                "--direct=0",
                "--invalidate=0",
                f"--opendir={root / 'images'}",
                "--file_service_type=random",
            ]
        )
        warm, _ = gpudoctor(root / "images", cold=False)
        print("warm cache (files read before):")
        print(f"  gpudoctor label: [{warm['small_files']['cache']}]")
        print(
            compare(
                "small files",
                warm["small_files"]["files_per_s"],
                fio_warm and fio_warm["files_per_s"],
                "files/s",
            )
        )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
