"""What does ``gpudoctor watch`` cost the training it watches?

Paired runs of the same CPU training (tests/watch/training.py: a tiny torch model, 4
DataLoader workers, a fixed number of steps), alternately without and with
``gpudoctor watch --interval 1`` attached by PID, and reports:

- the watcher's own CPU at steady state (its self-measured CPU per tick, NVML calls
  included; a fake GPU stands in where no NVIDIA driver is present), as % of one core;
- training throughput (steps/s measured by the training itself, start-up excluded) with
  and without the watcher, per pair and as the median of the paired differences.

    python benchmarks/bench_watch.py                 # 3 pairs of 2000 steps
    python benchmarks/bench_watch.py --pairs 5 --check

``--check`` exits 1 unless the watcher stays at or under 1% of one core and the median
throughput difference is within the run-to-run noise (the spread between the runs without
the watcher) or under 2%. Needs torch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gpudoctor.commands.watch import WatchRequest  # noqa: E402
from gpudoctor.commands.watch import run_watch  # noqa: E402

TRAINING = REPO / "tests" / "watch" / "training.py"


def train(steps: int, workers: int, folder: Path, watch: bool, interval: float) -> dict:
    log = folder / f"train-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        [sys.executable, str(TRAINING), "healthy", str(log), str(steps), str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    watcher_cpu: list[float] = []
    if watch:
        record = folder / "run.jsonl"
        request = WatchRequest(
            pid=proc.pid,
            interval=interval,
            ui=False,
            record=str(record),
            output=str(folder / "report.txt"),
            log=str(log),
            nvml_module=_gpu_module(),
            command="bench",
        )
        sink = open(folder / "live.txt", "w")  # noqa: SIM115 - closed below
        thread = threading.Thread(target=run_watch, args=(request, sink, sink))
        thread.start()
        proc.wait()
        thread.join()
        sink.close()
        for line in record.read_text().splitlines()[2:]:  # skip header and first tick
            data = json.loads(line)
            if data.get("kind") == "sample" and data.get("procs") and "watcher_cpu" in data:
                watcher_cpu.append(float(data["watcher_cpu"]))
    else:
        proc.wait()
    text = log.read_text()
    rate = float(text.rsplit("throughput ", 1)[1].split()[0])
    return {"rate": rate, "watcher_cpu": watcher_cpu}


def _gpu_module():  # type: ignore[no-untyped-def]
    from gpudoctor.probes.nvml import open_nvml

    real = open_nvml()
    if not hasattr(real, "reason"):
        real.shutdown()
        return None  # a real GPU: measure with it
    from gpudoctor.testing.fake_nvml import FakeNvml
    from gpudoctor.testing.live_nvml import DEFAULT_DEVICE

    return FakeNvml({"driver_version": "550.120", "devices": [DEFAULT_DEVICE]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    without, with_, cpu = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for pair in range(args.pairs):
            order = (False, True) if pair % 2 == 0 else (True, False)
            results = {w: train(args.steps, args.workers, folder, w, args.interval) for w in order}
            without.append(results[False]["rate"])
            with_.append(results[True]["rate"])
            cpu.extend(results[True]["watcher_cpu"])
            print(
                f"pair {pair + 1}: without {results[False]['rate']:.1f} steps/s, "
                f"with {results[True]['rate']:.1f} steps/s, watcher CPU mean "
                f"{statistics.mean(results[True]['watcher_cpu']):.2f}% "
                f"({len(results[True]['watcher_cpu'])} ticks)",
                flush=True,
            )
    diffs = [(w - wo) / wo * 100 for w, wo in zip(with_, without)]
    noise = (max(without) - min(without)) / statistics.median(without) * 100
    mean_cpu = statistics.mean(cpu)
    print(
        f"watcher CPU at {args.interval:g} s interval, {args.workers} workers: mean "
        f"{mean_cpu:.2f}%, p95 {sorted(cpu)[int(0.95 * (len(cpu) - 1))]:.2f}%, "
        f"max {max(cpu):.2f}% of one core ({len(cpu)} ticks)"
    )
    print(
        f"throughput without: median {statistics.median(without):.1f} steps/s; with: "
        f"median {statistics.median(with_):.1f} steps/s; paired difference median "
        f"{statistics.median(diffs):+.1f}% (pairs: {', '.join(f'{d:+.1f}%' for d in diffs)}); "
        f"noise between runs without the watcher: {noise:.1f}%"
    )
    if args.check:
        ok = mean_cpu <= 1.0 and abs(statistics.median(diffs)) <= max(noise, 2.0)
        print("check:", "ok" if ok else "FAILED")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
