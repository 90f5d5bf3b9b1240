"""Deep probes (``check --deep``): measure the dataset's disk and the DataLoader, briefly.

They reuse the ``gpudoctor bench`` instruments with small budgets. The disk probe needs
``--data PATH``; the loader probe runs on the images under ``--data`` when there are some,
else on synthetic JPEGs, which still shows how this machine's workers start and scale.
"""

from __future__ import annotations

import os
from typing import Any

from gpudoctor.errors import BadInputError
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

DISK_SECONDS = 2.0
DISK_BYTES = 256 << 20
LOADER_SECONDS = 0.5
LOADER_STARTUP_TIMEOUT = 10.0


def _has_data(ctx: ProbeContext) -> bool:
    return bool(ctx.options.get("data"))


@probe("bench_disk", timeout=15.0, enabled=_has_data, deep=True)
def probe_bench_disk(ctx: ProbeContext) -> dict[str, Any]:
    """Cold read speed and filesystem kind of the --data folder."""
    from gpudoctor.probes.bench.disk import MEANINGS
    from gpudoctor.probes.bench.disk import bench_disk
    from gpudoctor.probes.bench.disk import classify_filesystem

    path = str(ctx.options["data"])
    if not ctx.exists(path):
        # Never classify a path that is not there: its "filesystem" would be that of '/'.
        return {
            "path": path,
            "error": f"{path}: no such file or directory",
            "filesystem": {"kind": "unknown", "fstype": None, "meaning": MEANINGS["unknown"]},
        }
    try:
        mountinfo = ctx.read_text("/proc/self/mountinfo")
        fs = classify_filesystem(
            os.path.realpath(path), mountinfo, sys_path=ctx.path, is_wsl=ctx.identity.is_wsl
        )
    except OSError:
        fs = {"kind": "unknown", "fstype": None, "meaning": MEANINGS["unknown"]}
    try:
        return bench_disk(path, seconds=DISK_SECONDS, byte_budget=DISK_BYTES, filesystem=fs)
    except BadInputError as exc:
        return {"path": path, "error": str(exc), "filesystem": fs}


@probe("bench_loader", timeout=60.0, deep=True)
def probe_bench_loader(ctx: ProbeContext) -> dict[str, Any]:
    """DataLoader throughput, start-up and stutter across worker counts (short sweep)."""
    from gpudoctor.probes.bench.loader import LoaderBenchRequest
    from gpudoctor.probes.bench.loader import find_images
    from gpudoctor.probes.bench.loader import run_loader_bench

    source: dict[str, Any] = {"kind": "synthetic"}
    data = ctx.options.get("data")
    if data:
        try:
            find_images(str(data), limit=1)
            source = {"kind": "images", "dir": str(data)}
        except BadInputError:
            pass
    request = LoaderBenchRequest(
        source=source,
        seconds=LOADER_SECONDS,
        startup_timeout=LOADER_STARTUP_TIMEOUT,
        watchdog_margin_s=5.0,
        # Three rounds only: enough to say whether the pick is stable, within the budget.
        confirm_rounds=(3, 3),
    )
    try:
        return run_loader_bench(request)
    except BadInputError as exc:
        return {"error": str(exc), "source": source}
