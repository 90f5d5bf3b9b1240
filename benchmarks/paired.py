"""Paired, interleaved timing of commands: medians and spread on a busy machine.

Each round runs every command once, in a fresh shuffled order, so a burst of load from other
jobs hits all of them alike. Wall time, CPU time (user + system of the child tree, from
``wait4``) and peak RSS are recorded per run; ratios are taken per round (paired) and then
summarised by their median and their range over the rounds.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field


@dataclass
class Runs:
    """Every run of one command."""

    label: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)

    def median(self, what: str = "walls") -> float:
        values: list[float] = getattr(self, what)
        return statistics.median(values)


def installed_env() -> dict[str, str]:
    """This environment as an installed tool sees it: byte-code caches written and used."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(
    argv: Sequence[str], env: dict[str, str] | None = None
) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds, peak RSS (KiB) and exit code of one run of ``argv``."""
    started = time.perf_counter()
    child = subprocess.Popen(
        list(argv),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env if env is not None else installed_env(),
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss), child.returncode


def interleaved(
    commands: dict[str, Sequence[str]],
    rounds: int,
    *,
    env: dict[str, str] | None = None,
    warmup: bool = True,
    before_round: Callable[[int], None] | None = None,
    seed: int = 0,
) -> dict[str, Runs]:
    """Run each command ``rounds`` times, interleaved in a shuffled order per round."""
    rng = random.Random(seed)
    results = {label: Runs(label) for label in commands}
    if warmup:  # page cache and .pyc files; not counted
        for argv in commands.values():
            run_once(argv, env)
    for index in range(rounds):
        if before_round:
            before_round(index)
        order = list(commands)
        rng.shuffle(order)
        for label in order:
            wall, cpu, rss, code = run_once(commands[label], env)
            runs = results[label]
            runs.walls.append(wall)
            runs.cpus.append(cpu)
            runs.rss_kib.append(rss)
            runs.codes.append(code)
    return results


def spread(values: Sequence[float]) -> str:
    """``median [min-max]`` of a list of numbers."""
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def paired_ratio(top: Runs, bottom: Runs, what: str = "walls") -> list[float]:
    """Per-round ratios top/bottom (the runs of one round were close together in time)."""
    tops: list[float] = getattr(top, what)
    bottoms: list[float] = getattr(bottom, what)
    return [t / b for t, b in zip(tops, bottoms) if b > 0]


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_line(rounds: int) -> str:
    return (
        f"{rounds} interleaved rounds; {os.cpu_count()} CPUs; load average {load_average()}; "
        "figures are median [min-max]"
    )
