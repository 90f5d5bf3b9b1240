"""Measured data path (``check --deep``): dataset storage, DataLoader settings, worker hangs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.facts.model import Facts
from gpudoctor.model import Verdict

#: Shuffled small-file reads below this rate starve even a modest GPU (~1 image per file).
SLOW_FILES_PER_S = 500
#: Shard reads below this are spinning-disk or throttled network speed.
SLOW_SEQUENTIAL_MB_S = 150
#: p95 gap / mean gap above this: batches arrive in bursts with stalls in between.
STUTTER_LIMIT = 3.0
#: A first batch this late makes every epoch start (and every evaluation) visibly pause.
SLOW_START_S = 5.0

SHARD_REMEDY = remedy(
    "Pack many small files into a few large shards read front to back (WebDataset tar "
    "shards, LMDB, HDF5), or pre-resize the images so there are fewer bytes to read."
)
LOCAL_COPY_REMEDY = remedy(
    "Copy the dataset onto a local SSD/NVMe before training (check the free space first).",
    "rsync -a --info=progress2 SRC/ ~/data/",
    platforms=("linux", "wsl"),
)


def _disk_evidence(disk: dict[str, Any]) -> list[Any]:
    fs = disk.get("filesystem", {})
    ev = [
        evidence("dataset folder", disk.get("path")),
        evidence(
            "filesystem",
            f"{fs.get('fstype')} on {fs.get('source', '?')} ({fs.get('kind')})",
            "/proc/self/mountinfo",
        ),
    ]
    seq, small = disk.get("sequential"), disk.get("small_files")
    if seq:
        ev.append(evidence("sequential reads", f"{seq['mb_per_s']} MB/s", f"{seq['cache']} read"))
    if small:
        ev.append(
            evidence(
                "small files, random order",
                f"{small['files_per_s']} files/s, {small['mb_per_s']} MB/s "
                f"(mean {small['mean_file_bytes'] // 1024} KiB)",
                f"{small['cache']} read",
            )
        )
    return ev


@check(
    "GD701",
    "dataset-read-speed",
    summary="The dataset folder reads fast enough to feed training (measured, cold cache)",
    requires=("bench_disk",),
    tags=("data", "storage", "deep"),
    deep=True,
)
def dataset_read_speed(facts: Facts) -> Verdict | list[Verdict]:
    """Time cold reads of the --data folder: shards front to back, small files shuffled."""
    disk = facts["bench_disk"]
    if disk.get("error"):
        return warn(
            f"Could not measure --data: {disk['error']}",
            remedies=[remedy("Point --data at the folder your training script reads.")],
        )
    ev = _disk_evidence(disk)
    seq, small = disk.get("sequential"), disk.get("small_files")
    cached = [p["cache"] for p in (seq, small) if p and not p["cache"].startswith("cold")]
    problems = []
    if small and small["files_per_s"] < SLOW_FILES_PER_S:
        problems.append(
            f"{small['files_per_s']:.0f} files/s caps a one-file-per-sample dataset at "
            f"about {small['files_per_s']:.0f} samples/s"
        )
    if seq and seq["mb_per_s"] < SLOW_SEQUENTIAL_MB_S:
        problems.append(f"large files read at only {seq['mb_per_s']:.0f} MB/s")
    if problems:
        kind = disk.get("filesystem", {}).get("kind")
        remedies = [SHARD_REMEDY]
        if kind not in ("local-ssd", "memory"):
            remedies.insert(0, LOCAL_COPY_REMEDY)
        remedies.append(
            remedy(
                "Or cache decoded samples in RAM after the first epoch if they fit "
                "(mind the RAM each worker copies)."
            )
        )
        return warn(
            "Slow storage for training: " + "; ".join(problems), evidence=ev, remedies=remedies
        )
    if cached:
        return info(
            "Dataset reads are fast, but the page cache could not be bypassed: "
            "the first epoch may be slower than measured",
            evidence=ev,
        )
    return passed("Dataset reads fast enough from cold storage", evidence=ev)


@check(
    "GD702",
    "dataset-filesystem",
    summary="The dataset is not on a network share, a Windows drive under WSL, or an overlay",
    requires=("bench_disk.filesystem.kind",),
    tags=("data", "storage", "wsl", "deep"),
    deep=True,
)
def dataset_filesystem(facts: Facts) -> Verdict | list[Verdict]:
    """Storage kind of --data from mountinfo; WSL drive mounts and network shares are slow."""
    disk = facts["bench_disk"]
    fs = disk["filesystem"]
    kind = fs["kind"]
    if disk.get("error"):
        return skip(f"The storage of --data was not classified: {disk['error']}")
    if kind == "unknown" or not kind:
        return skip(f"The storage kind of {disk.get('path')} could not be determined")
    ev = [
        evidence(
            "filesystem", f"{fs.get('fstype')} at {fs.get('mount_point')}", "/proc/self/mountinfo"
        ),
        evidence("source", fs.get("source")),
    ]
    if kind == "wsl-drive":
        return warn(
            "The dataset is on a Windows drive seen through WSL2's 9p/drvfs bridge: "
            "every file open crosses the VM boundary",
            evidence=ev,
            remedies=[
                remedy(
                    "Copy the dataset into the Linux filesystem and train from there.",
                    "mkdir -p ~/data && cp -r /mnt/c/path/to/dataset ~/data/",
                    platforms=("wsl",),
                ),
                remedy(
                    "Or attach a separate ext4 virtual disk for datasets.",
                    "wsl --mount --vhd D:\\datasets.vhdx",
                    platforms=("windows",),
                ),
                SHARD_REMEDY,
            ],
        )
    if kind in ("network", "fuse"):
        return warn(
            f"The dataset is on a {'network' if kind == 'network' else 'FUSE'} filesystem "
            f"({fs.get('fstype')}): small files pay a round trip each",
            evidence=ev,
            remedies=[LOCAL_COPY_REMEDY, SHARD_REMEDY],
        )
    if kind == "overlay":
        return info(
            "The dataset sits in a container's overlay layer",
            evidence=ev,
            remedies=[
                remedy(
                    "Mount the dataset as a volume instead of copying it into the image.",
                    "docker run -v /data/train:/data/train:ro ...",
                    platforms=("docker",),
                )
            ],
        )
    if kind == "local-hdd":
        return info(
            "The dataset is on a spinning disk: shuffled small-file reads are seek-bound",
            evidence=ev,
            remedies=[LOCAL_COPY_REMEDY, SHARD_REMEDY],
        )
    return passed(f"The dataset is on {kind} storage", evidence=ev)


def describe_setting(setting: Mapping[str, Any]) -> str:
    """The DataLoader keyword arguments of a measured setting, as a user would type them."""
    parts = [f"num_workers={setting['num_workers']}"]
    if setting["num_workers"]:
        parts.append(f"persistent_workers={bool(setting.get('persistent_workers'))}")
        parts.append(f"prefetch_factor={setting.get('prefetch_factor')}")
    parts.append(f"pin_memory={bool(setting.get('pin_memory'))}")
    return ", ".join(parts)


def _loader_source(loader: dict[str, Any]) -> str:
    source = loader.get("source", {})
    if source.get("kind") == "images":
        return f"{source.get('images')} images in {source.get('dir')}"
    return "synthetic JPEGs (500x375 decoded, cropped to 224x224)"


def _settings(loader: Mapping[str, Any]) -> list[Any]:
    """One row per setting (repeats folded into their median, with their range); older
    results without ``settings`` list their steady rows as they are."""
    settings = loader.get("settings")
    if settings:
        return list(settings)
    return [c for c in loader.get("configs", []) if c.get("phase") not in ("restart", "repeat")]


def _loader_evidence(loader: dict[str, Any]) -> list[Any]:
    rows = _settings(loader)
    ev = [evidence("measured on", _loader_source(loader), f"torch {loader.get('torch')}")]
    peak = max((r.get("samples_per_s") or 0 for r in rows), default=0)
    for row in rows:
        if row.get("status") == "ok":
            # A bar per setting: the throughput-vs-workers chart in text and Markdown reports.
            bar = "#" * max(1, round(20 * (row["samples_per_s"] or 0) / peak)) if peak else ""
            spread = ""
            if (row.get("runs") or 1) > 1:
                spread = (
                    f" (median of {row['runs']} runs, {row.get('samples_per_s_min')}-"
                    f"{row.get('samples_per_s_max')})"
                )
            value = (
                f"{bar:<20} {row['samples_per_s']} samples/s{spread}, first batch "
                f"{row.get('first_batch_s')} s, stutter {row.get('stutter')}"
            )
        else:
            value = f"{row.get('status')}: {row.get('error', '')}"
        ev.append(evidence(f"num_workers={row['num_workers']}", value, "DataLoader sweep"))
    return ev


@check(
    "GD703",
    "loader-workers",
    summary="DataLoader worker settings come from a measured sweep, not a guess",
    requires=("bench_loader.configs",),
    tags=("dataloader", "deep"),
    deep=True,
)
def loader_workers(facts: Facts) -> Verdict | list[Verdict]:
    """Sweep num_workers on the real DataLoader; recommend the fewest within 5% of the best."""
    loader = facts["bench_loader"]
    rec = loader.get("recommended")
    if not rec:
        errors = [c.get("error") for c in loader["configs"] if c.get("status") == "error"]
        if errors:
            return warn(
                f"The DataLoader failed on {_loader_source(loader)}: {errors[0]}",
                evidence=_loader_evidence(loader),
                remedies=[remedy("Run one sample by hand (dataset[0]) to see the full error.")],
            )
        return skip("No DataLoader setting could be measured")
    ev = _loader_evidence(loader)
    text = describe_setting(rec)
    fix = remedy(
        f"Use DataLoader(..., {text}) - the fewest workers within 5% of the best measured "
        "throughput; more workers only cost RAM and start-up time.",
        f"DataLoader(dataset, batch_size=..., {text})",
    )
    stability = loader.get("stability")
    if isinstance(stability, Mapping) and stability.get("picks"):
        picks = ", ".join(str(p[0]) for p in stability["picks"])
        ev.append(
            evidence(
                "workers picked per repeat round",
                f"{picks} ({'stable' if stability.get('stable') else 'not stable'})",
                "interleaved repeats of the close settings",
            )
        )
        if not stability.get("stable"):
            return info(
                f"No stable DataLoader pick: the winner changed between repeat rounds "
                f"({picks} workers); {text} won most often, but the measurements spread too "
                "widely on this machine to rank the settings",
                evidence=ev,
                remedies=[
                    fix,
                    remedy(
                        "Measure again when the machine is idle, or for longer.",
                        "gpudoctor bench loader --seconds 5",
                    ),
                ],
            )
    if loader.get("loader_bound_at_default"):
        return info(
            f"Loading in the main process is the bottleneck: {rec['num_workers']} workers load "
            f"{loader.get('speedup_vs_main_process')}x faster than num_workers=0",
            evidence=ev,
            remedies=[fix],
        )
    return passed(f"Measured DataLoader setting: {text}", evidence=ev, remedies=[fix])


@check(
    "GD704",
    "loader-stutter",
    summary="Batches arrive evenly, without stalls that leave the GPU idle",
    requires=("bench_loader.recommended.stutter",),
    tags=("dataloader", "deep"),
    deep=True,
)
def loader_stutter(facts: Facts) -> Verdict | list[Verdict]:
    """p95 gap between batches over the mean gap, at the recommended setting."""
    loader = facts["bench_loader"]
    rec = loader["recommended"]
    if rec.get("stutter") is None:
        return skip("Too few batches were measured to judge the gaps between them")
    ev = [
        evidence("setting", describe_setting(rec), "DataLoader sweep"),
        evidence(
            "gap between batches p50/p95/p99",
            f"{rec.get('gap_p50_ms')}/{rec.get('gap_p95_ms')}/{rec.get('gap_p99_ms')} ms",
        ),
        evidence("stutter score (p95 gap / mean gap)", rec["stutter"]),
    ]
    if rec["stutter"] > STUTTER_LIMIT:
        return warn(
            f"Batches arrive in bursts (stutter score {rec['stutter']}): the GPU idles "
            "between them",
            evidence=ev,
            remedies=[
                remedy("Raise prefetch_factor (e.g. 4) so workers stay ahead of the stalls."),
                remedy("Add workers if RAM allows; look for samples far slower than the rest."),
            ],
        )
    return passed(f"Batches arrive evenly (stutter score {rec['stutter']})", evidence=ev)


HANG_REMEDIES = (
    remedy(
        "Guard the training entry point: spawned workers re-import the main module.",
        'if __name__ == "__main__":\n    main()',
    ),
    remedy("Keep the main module cheap to import: no data loading or CUDA work at import time."),
    remedy("Look for blocking calls in worker_init_fn and in the dataset's __setstate__."),
    remedy(
        "Make a stuck worker raise instead of hanging: DataLoader(..., timeout=120); "
        "confirm the cause with num_workers=0."
    ),
)


@check(
    "GD705",
    "worker-startup",
    summary="DataLoader workers start, and start quickly",
    requires=("bench_loader.configs",),
    tags=("dataloader", "windows", "macos", "deep"),
    deep=True,
)
def worker_startup(facts: Facts) -> Verdict | list[Verdict]:
    """A worker start-up that never delivers a batch, or one slow enough to stall epochs."""
    loader = facts["bench_loader"]
    hang = loader.get("hang")
    ev = [evidence("start method", loader.get("start_method"), "multiprocessing")]
    if hang:
        ev.append(evidence("waited", f"{hang.get('waited_s')} s", "DataLoader sweep"))
        return fail(
            f"DataLoader worker start-up hangs: {hang['message']}",
            evidence=ev,
            remedies=list(HANG_REMEDIES),
        )
    rows = [
        c
        for c in loader["configs"]
        if c.get("status") == "ok" and c["num_workers"] and c.get("phase") != "restart"
    ]
    if not rows:
        return skip("No setting with workers was measured")
    slowest = max(rows, key=lambda c: c.get("first_batch_s") or 0)
    ev.append(
        evidence(
            f"first batch with {slowest['num_workers']} workers", f"{slowest['first_batch_s']} s"
        )
    )
    if (slowest.get("first_batch_s") or 0) > SLOW_START_S:
        return warn(
            f"Workers take {slowest['first_batch_s']:.1f} s to deliver a first batch: every "
            "epoch and evaluation pauses this long without persistent workers",
            evidence=ev,
            remedies=[
                remedy(
                    "Keep workers alive across epochs.", "DataLoader(..., persistent_workers=True)"
                ),
                remedy("Make the main module and the dataset cheap to import and to pickle."),
            ],
        )
    return passed(f"Workers deliver a first batch in {slowest['first_batch_s']:.2f} s", evidence=ev)
