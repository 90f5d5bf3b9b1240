"""Run inside a private PID namespace: ``fix --kill-stale --yes`` over a mix, RUNS times.

Started by ``test_stale_namespace.py`` as ``unshare -fp --mount-proc sh -c 'python THIS OUT
RUNS'`` (``sh`` is the namespace's PID 1, so orphans are adopted by a non-Python init). The
mix that must survive every run: a busy training run, a periodic job adopted by init, an
input-bound job fed by its live parent, a systemd service (a real cgroup, where one can be
made), two idle children of a ``tini``-like supervisor, a zombie NVML still lists, an idle
holder whose parent is alive (below the idle threshold), and an adopted idle worker NVML
samples using the GPU. Each run adds the stale ones: a forked worker whose parent exited, a
multiprocessing (spawn) worker whose parent exited, and a stopped holder. Writes a JSON
summary to OUT.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpudoctor.testing.fake_nvml import FakeNvml  # noqa: E402
from stale_holders import Holders  # noqa: E402
from stale_holders import alive  # noqa: E402
from stale_holders import holders_fixture  # noqa: E402

GiB = 1024**3


def fake_gpu(zombie: int, gpu_busy: int) -> FakeNvml:
    return FakeNvml(
        {
            "driver_version": "550.120",
            "devices": [
                {
                    "name": "NVIDIA GeForce RTX 4090",
                    "memory": {"total": 24 * GiB, "free": 20 * GiB, "used": 4 * GiB},
                    "processes": [
                        {"pid": zombie, "used_gpu_memory": 1 * GiB},
                        {"pid": gpu_busy, "used_gpu_memory": 2 * GiB},
                    ],
                    "process_utilization": [
                        {"pid": gpu_busy, "seconds_ago": 0.3, "sm": 41, "mem": 12},
                    ],
                }
            ],
        }
    )


def survivors(holders: Holders) -> dict[str, int]:
    mix = {
        "busy": holders.start("busy"),
        "periodic-orphan": holders.periodic_orphan(0.1, 0.5),
        "input-bound": holders.start("input"),
        "idle-parent-alive": holders.start("hold"),
        "zombie": holders.start("zombie"),
        "gpu-active-orphan": holders.orphan(),
    }
    service = holders.service("gd-namespace-llm.service")
    if service is not None:
        mix["service"] = service
    _, kids = holders.supervised(2)
    mix["tini-child-1"], mix["tini-child-2"] = kids
    os.kill(kids[1], signal.SIGSTOP)  # even stopped, a supervised child is not ours to stop
    return mix


def one_run(holders: Holders, nvml: FakeNvml, mix: dict[str, int]) -> dict[str, object]:
    stale = {
        "orphan-worker": holders.orphan(),
        "mp-worker": holders.mp_orphan(),
        "stopped": holders.stopped(),
    }
    time.sleep(0.8)
    lines: list[str] = []
    code = holders.kill_stale(
        lines,
        {"worker_idle_seconds": 1.0},
        all_users=True,
        grace=0.5,
        fmt="json",
        nvml_module=nvml,
    )
    doc = json.loads("\n".join(lines))
    died = sorted(o["pid"] for o in doc.get("outcomes", []) if o["result"] == "died")
    for child in holders.children:
        if child.poll() is not None:
            continue
    return {
        "code": code,
        "stale": stale,
        "died": died,
        "exact": died == sorted(stale.values())
        and all(alive(pid) for name, pid in mix.items() if name != "zombie")
        and not any(alive(pid) for pid in stale.values()),
        "left_alone": {item["pid"]: item["reason"] for item in doc["left_alone"]},
        "elapsed_s": doc.get("elapsed_seconds"),
    }


def main() -> None:
    out, runs = sys.argv[1], int(sys.argv[2])
    fixture = holders_fixture()
    holders = next(fixture)
    try:
        mix = survivors(holders)
        nvml = fake_gpu(mix["zombie"], mix["gpu-active-orphan"])
        results = [one_run(holders, nvml, mix) for _ in range(runs)]
        summary = {
            "pid": os.getpid(),
            "mix": mix,
            "runs": results,
            "exact": sum(1 for r in results if r["exact"]),
        }
    finally:
        try:
            next(fixture)
        except StopIteration:
            pass
    Path(out).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
