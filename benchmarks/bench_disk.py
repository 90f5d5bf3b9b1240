"""Disk benchmark: ``gpudoctor bench disk`` against like-for-like fio runs on the same files.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_disk.py [--dir /var/tmp] [--rounds 3] [--keep]

It writes one 1 GiB file and 2,000 files of 112 KiB into a scratch folder on the disk under
test, then measures in paired rounds (gpudoctor and fio back to back, the order alternating):

* cold sequential read of the 1 GiB file. gpudoctor opens it with ``O_DIRECT`` and reads
  1 MiB blocks front to back with synchronous ``readv``; the matching fio job is
  ``--rw=read --bs=1M --direct=1 --ioengine=psync --numjobs=1 --iodepth=1``;
* cold whole-file reads of the 2,000 small files in random order. gpudoctor opens each file
  (``O_DIRECT``), reads it in one call and closes it; the matching fio job is
  ``--opendir --rw=read --bs=112k --direct=1 --ioengine=psync --openfiles=1
  --file_service_type=random --invalidate=0``. ``--openfiles=1`` matters: by default fio
  opens every file before it starts the clock, so its figure leaves out the ``open()`` a
  training loader pays per sample; that default run is printed too, for reference.
  ``--invalidate=0``: with ``O_DIRECT`` gpudoctor does not drop cached pages per file, and
  fio's per-open invalidation (a ``posix_fadvise`` per file) is not part of a read. fio
  still does a few ``stat`` calls and a ``posix_fadvise`` hint per file that gpudoctor
  does not (seen with ``strace -c``), about 40 us per file on this machine.

gpudoctor reads for ``--seconds`` per folder (a sample of the data); fio reads all of it.

Goals (issue 20): gpudoctor's MB/s and files/s within +-10% of the like-for-like fio run,
in at most 0.1x fio's time. Without fio installed (Debian: ``apt-get install fio``) only
gpudoctor's figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gpudoctor.probes.bench.disk import bench_disk

LARGE_BYTES = 1 << 30
SMALL_FILES = 2000
SMALL_BYTES = 112 << 10  # a 4 KiB multiple, so direct reads cover whole files
SECONDS = 0.15
COMMON = ["--output-format=json", "--ioengine=psync", "--numjobs=1", "--iodepth=1", "--direct=1"]


def make_dataset(root: Path) -> None:
    (root / "shards").mkdir(parents=True)
    (root / "images").mkdir()
    block = os.urandom(1 << 20)
    with open(root / "shards" / "shard0.bin", "wb") as handle:
        for _ in range(LARGE_BYTES >> 20):
            handle.write(block)
    for i in range(SMALL_FILES):
        (root / "images" / f"{i:05d}.jpg").write_bytes(os.urandom(SMALL_BYTES))
    os.sync()
    time.sleep(5)  # let the (virtual) disk finish flushing before anything is timed


def fio(args: list[str]) -> dict[str, float]:
    started = time.monotonic()
    out = subprocess.run(["fio", *COMMON, *args], capture_output=True, text=True, check=True)
    wall = time.monotonic() - started
    # fio prints notes such as "opendir added N files" before the JSON document.
    job = json.loads(out.stdout[out.stdout.index("{") :])["jobs"][0]
    read = job["read"]
    return {"mb_per_s": read["bw_bytes"] / 1e6, "files_per_s": read["iops"], "wall_s": wall}


def ours(folder: Path, seconds: float, seed: int) -> dict[str, float]:
    started = time.monotonic()
    result = bench_disk(str(folder), seconds=seconds, seed=seed)
    wall = time.monotonic() - started
    phase = result["sequential"] or result["small_files"]
    return {
        "mb_per_s": phase["mb_per_s"],
        "files_per_s": phase["files_per_s"],
        "wall_s": wall,
        "cache": phase["cache"],
    }


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} [{min(values):,.1f}-{max(values):,.1f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/var/tmp", help="scratch space on the disk to test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=SECONDS, help="gpudoctor's budget")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dataset")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gpudoctor-diskbench-", dir=args.dir))
    have_fio = shutil.which("fio") is not None
    try:
        make_dataset(root)
        shard, images = root / "shards", root / "images"
        jobs: dict[str, tuple[Path, str, list[str]]] = {
            "sequential": (
                shard,
                "mb_per_s",
                [
                    "--name=seq",
                    "--rw=read",
                    "--bs=1M",
                    "--invalidate=0",
                    f"--filename={shard / 'shard0.bin'}",
                ],
            ),
            "small files": (
                images,
                "files_per_s",
                [
                    "--name=small",
                    "--rw=read",
                    f"--bs={SMALL_BYTES}",
                    f"--opendir={images}",
                    "--openfiles=1",
                    "--file_service_type=random",
                    "--invalidate=0",
                ],
            ),
        }
        print(
            f"dataset: 1 x {LARGE_BYTES >> 20} MiB + {SMALL_FILES} x {SMALL_BYTES >> 10} KiB "
            f"in {root}; {args.rounds} paired rounds; gpudoctor budget {args.seconds} s per "
            f"folder; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        for label, (folder, unit, fio_args) in jobs.items():
            mine: list[dict[str, Any]] = []
            theirs: list[dict[str, float]] = []
            for index in range(args.rounds):
                if index % 2 == 0 or not have_fio:
                    mine.append(ours(folder, args.seconds, index))
                    if have_fio:
                        theirs.append(fio(fio_args))
                else:
                    theirs.append(fio(fio_args))
                    mine.append(ours(folder, args.seconds, index))
            print(f"{label} (cold) [{mine[0]['cache']}]:")
            print(f"  gpudoctor {unit}: {summary([m[unit] for m in mine])}")
            if not theirs:
                continue
            print(f"  fio       {unit}: {summary([t[unit] for t in theirs])}")
            deltas = [(m[unit] - t[unit]) / t[unit] * 100 for m, t in zip(mine, theirs)]
            ratios = [m["wall_s"] / t["wall_s"] for m, t in zip(mine, theirs)]
            delta = statistics.median(deltas)
            ratio = statistics.median(ratios)
            print(
                f"  paired difference: {summary(deltas)} % "
                f"({'ok' if abs(delta) <= 10 else 'OUTSIDE +-10%'})"
            )
            print(
                f"  time: gpudoctor {summary([m['wall_s'] for m in mine])} s, fio "
                f"{summary([t['wall_s'] for t in theirs])} s, ratio "
                f"{min(ratios):.3f}-{max(ratios):.3f}, median {ratio:.3f} "
                f"({'ok' if ratio <= 0.1 else 'above 0.1'})"
            )
        if have_fio:
            default = fio(
                ["--name=held", "--rw=read", f"--bs={SMALL_BYTES}", f"--opendir={images}"]
            )
            print(
                "  for reference, fio holding every file open (its default): "
                f"{default['files_per_s']:,.1f} files/s"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
