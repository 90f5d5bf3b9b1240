"""How fast and how small is gpudoctor's quick path, next to the tool people know?

Runs, side by side in one process tree, each command several times and reports the median
wall time and the median peak RSS (from ``wait4``), as ratios to PyTorch's
``python -m torch.utils.collect_env`` and to a bare ``python -c pass``:

    python benchmarks/bench_startup.py            # 5 runs each
    python benchmarks/bench_startup.py --runs 9 --check

``--check`` exits 1 unless the targets hold: ``gpudoctor check`` at most a quarter of
collect_env's wall time and at most half its peak memory, and ``gpudoctor --version`` within
150 ms of a bare interpreter start. Needs torch installed for the collect_env column.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Measurement:
    label: str
    argv: list[str]
    walls: list[float]
    rss_kib: list[int]
    exit_codes: list[int]

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def rss_mib(self) -> float:
        return statistics.median(self.rss_kib) / 1024


def run_once(argv: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB and exit code of one run of ``argv``."""
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, int(usage.ru_maxrss), child.returncode


def measure(label: str, argv: list[str], runs: int) -> Measurement:
    result = Measurement(label, argv, [], [], [])
    run_once(argv)  # warm the page cache and .pyc files; not counted
    for _ in range(runs):
        wall, rss, code = run_once(argv)
        result.walls.append(wall)
        result.rss_kib.append(rss)
        result.exit_codes.append(code)
    return result


def have_torch() -> bool:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u; raise SystemExit(u.find_spec('torch') is None)",
        ],
        check=False,
    )
    return probe.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    py = sys.executable
    commands = [
        ("python -c pass", [py, "-c", "pass"]),
        ("gpudoctor --version", [py, "-m", "gpudoctor", "--version"]),
        ("gpudoctor --help", [py, "-m", "gpudoctor", "--help"]),
        ("gpudoctor check", [py, "-m", "gpudoctor", "check"]),
        ("gpudoctor report", [py, "-m", "gpudoctor", "report"]),
    ]
    if have_torch():
        commands.append(("collect_env", [py, "-m", "torch.utils.collect_env"]))
    results = {label: measure(label, argv, args.runs) for label, argv in commands}

    bare = results["python -c pass"]
    reference = results.get("collect_env")
    print(
        f"{args.runs} runs each, medians; machine: {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}"
    )
    header = f"{'command':<22}{'wall ms':>10}{'peak MiB':>10}{'x bare wall':>13}"
    header += f"{'/ collect_env wall':>20}{'/ collect_env RSS':>19}" if reference else ""
    print(header)
    for label, m in results.items():
        line = f"{label:<22}{m.wall * 1000:>10.0f}{m.rss_mib:>10.1f}{m.wall / bare.wall:>13.1f}"
        if reference:
            line += f"{m.wall / reference.wall:>20.2f}{m.rss_mib / reference.rss_mib:>19.2f}"
        codes = sorted(set(m.exit_codes))
        if codes != [0]:
            line += f"   exit {codes}"
        print(line)

    failures = []
    version_gap = (results["gpudoctor --version"].wall - bare.wall) * 1000
    print(f"\n--version costs {version_gap:.0f} ms over a bare interpreter (target <= 150 ms)")
    if version_gap > 150:
        failures.append("gpudoctor --version is more than 150 ms slower than python -c pass")
    if reference:
        check = results["gpudoctor check"]
        wall_ratio = check.wall / reference.wall
        rss_ratio = check.rss_mib / reference.rss_mib
        print(
            f"check / collect_env: wall {wall_ratio:.2f} (target <= 0.25), "
            f"peak memory {rss_ratio:.2f} (target <= 0.50)"
        )
        if wall_ratio > 0.25:
            failures.append("gpudoctor check takes more than a quarter of collect_env's time")
        if rss_ratio > 0.5:
            failures.append("gpudoctor check needs more than half of collect_env's memory")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if (args.check and failures) else 0


if __name__ == "__main__":
    sys.exit(main())
