"""Speed and memory of ``gpudoctor log`` on a generated mmengine-style log.

Run from the repository root:
    PYTHONPATH=src python benchmarks/bench_log.py [--size-mb 1024] [--dir /tmp] [--keep]

Writes a log of the given size into --dir (never into the repository): a config dump with
CheckpointHook(interval=5000) and val_interval=10000, then Iter(train) lines every 50
iterations with 3 % jitter, a 30 s checkpoint stall after every 5000th iteration and an
evaluation after every 10000th. Then it runs the reader in a child process and prints
wall time, peak RSS (the child's ru_maxrss minus that of an idle child that imported the
same modules) and whether the stall period and the checkpoint were found.
Goal (issue 16): 1 GiB in <= 10 s with <= 100 MiB peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

HEADER = """\
{stamp} - mmengine - INFO -\x20
------------------------------------------------------------
System environment:
    sys.platform: linux
    Python: 3.10.13
    CUDA available: True
------------------------------------------------------------
{stamp} - mmengine - INFO - Config:
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=5000, by_epoch=False, max_keep_ckpts=3),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    timer=dict(type='IterTimerHook'))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters}, val_interval=10000)
"""
LINE = (
    "{stamp} - mmengine - INFO - Iter(train) [{it:>7}/{max_iters}]  base_lr: 1.0000e-04 "
    "lr: 1.0000e-04  eta: 1 day, 2:03:04  time: {t:.4f}  data_time: {d:.4f}  memory: 10234  "
    "grad_norm: {g:.4f}  loss: {loss:.4f}  decode.loss_ce: {l1:.4f}  decode.acc_seg: 88.1234  "
    "aux.loss_ce: {l2:.4f}  aux.acc_seg: 80.1234\n"
)


def generate(path: str, size: int) -> int:
    """Write about ``size`` bytes; returns the number of iterations logged."""
    rng = random.Random(5)
    approx_lines = size // 300 + 1
    max_iters = approx_lines * 50
    stamp = "2024/03/05 10:11:12"
    written = 0
    it = 0
    with open(path, "w", encoding="utf-8") as out:
        written += out.write(HEADER.format(stamp=stamp, max_iters=max_iters))
        buffer = []
        while written < size:
            it += 50
            t = 0.45 * (1 + rng.uniform(-0.03, 0.03))
            if it % 5000 == 50 and it > 50:
                t += 30.0 / 50
            loss = 1.0 / (1 + it / 100000)
            buffer.append(
                LINE.format(
                    stamp=stamp,
                    it=it,
                    max_iters=max_iters,
                    t=t,
                    d=0.01,
                    g=5.0,
                    loss=loss,
                    l1=loss * 0.7,
                    l2=loss * 0.3,
                )
            )
            if it % 5000 == 0:
                buffer.append(f"{stamp} - mmengine - INFO - Saving checkpoint at {it} iterations\n")
            if it % 10000 == 0:
                buffer.append(
                    f"{stamp} - mmengine - INFO - Iter(val) [500/500]    mIoU: 45.0100  "
                    "mAcc: 55.2000  data_time: 0.0053  time: 0.0617\n"
                )
            if len(buffer) >= 2000:
                chunk = "".join(buffer)
                written += out.write(chunk)
                buffer.clear()
        if buffer:
            written += out.write("".join(buffer))
    return it


CHILD = """
import json, resource, sys, time
from gpudoctor.readers.logs import read_logs

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[1] != "-":
    started = time.perf_counter()
    facts = read_logs([sys.argv[1]], budget=600)
    seconds = time.perf_counter() - started
    run = facts["files"][0]["run"]
    cad = run["timing"]["cadences"] if run["timing"] else []
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "cadences": cad, "points": run["points"],
                      "cpu": cpu.ru_utime + cpu.ru_stime}))
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "base": base}))
"""


def child(path: str) -> dict[str, object]:
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, path], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, object] = {}
    for line in done.stdout.splitlines():
        result.update(json.loads(line))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    path = os.path.join(args.dir, "gpudoctor-bench-mmengine.log")
    size = int(args.size_mb * (1 << 20))
    if not (os.path.exists(path) and os.path.getsize(path) >= size and args.keep):
        started = time.perf_counter()
        iters = generate(path, size)
        print(
            f"generated {os.path.getsize(path) / 2**20:.0f} MiB, {iters:,} iterations "
            f"in {time.perf_counter() - started:.1f} s -> {path}"
        )
    idle = child("-")
    run = child(path)
    peak = (int(run["maxrss_kib"]) - int(idle["maxrss_kib"])) / 1024  # type: ignore[call-overload]
    seconds = float(run["seconds"])  # type: ignore[arg-type]
    rate = os.path.getsize(path) / 2**20 / seconds
    print(
        f"analysed in {seconds:.2f} s wall ({rate:.0f} MiB/s), {run['cpu']:.2f} s CPU, "
        f"{run['points']:,} points; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"peak RSS {int(run['maxrss_kib']) / 1024:.1f} MiB, "  # type: ignore[call-overload]
        f"{peak:.1f} MiB above an idle interpreter with the same imports"
    )
    for cadence in run["cadences"]:  # type: ignore[attr-defined]
        print(
            f"stall cause: {cadence['cause']} every {cadence['interval']} iterations, "
            f"{cadence['hits']}/{cadence['events']} events, {cadence['cost_s_each']:.1f} s each"
        )
    if not args.keep:
        os.unlink(path)
    _ = resource


if __name__ == "__main__":
    main()
