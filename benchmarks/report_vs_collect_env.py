"""Wall time and peak memory of `gpudoctor report` against `python -m torch.utils.collect_env`.

Run from the repository root:

    PYTHONPATH=src python benchmarks/report_vs_collect_env.py [--runs N]

Each command runs N times (default 5) as a child process, alternating, so all see the same
warm file cache. Peak memory is ``ru_maxrss`` from ``wait4``: the largest single process of
the child's tree. For `gpudoctor report` that is the short-lived child interpreter that
imports torch; `gpudoctor check` (no torch at all) is measured too, for scale. It prints
medians and the report/collect_env ratio. Linux and macOS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "gpudoctor report": [sys.executable, "-m", "gpudoctor", "report", "--format", "json"],
    "collect_env": [sys.executable, "-m", "torch.utils.collect_env"],
    "gpudoctor check": [sys.executable, "-m", "gpudoctor", "check", "--format", "json"],
}


def measure(argv: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS in MiB of one run (the largest process of its tree)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{argv} failed with status {status}")
    bytes_per_unit = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return seconds, usage.ru_maxrss * bytes_per_unit / (1024 * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, argv in COMMANDS.items():
            results[name].append(measure(argv))
    print(f"{'command':<18} {'median s':>9} {'min s':>7} {'peak RSS MiB':>13}  ({runs} runs)")
    medians = {}
    for name, samples in results.items():
        times = [s for s, _ in samples]
        rss = statistics.median(m for _, m in samples)
        medians[name] = (statistics.median(times), rss)
        print(f"{name:<18} {medians[name][0]:>9.2f} {min(times):>7.2f} {rss:>13.1f}")
    ours, theirs = medians["gpudoctor report"], medians["collect_env"]
    print(
        f"ratio gpudoctor/collect_env: time {ours[0] / theirs[0]:.2f}x, "
        f"peak RSS {ours[1] / theirs[1]:.2f}x"
    )


if __name__ == "__main__":
    main()
