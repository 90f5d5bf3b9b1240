"""Pure signal analysis for ``gpudoctor watch``: idle stretches, stall episodes, trends, stacks.

Shared by the live watcher (to decide when to take stacks) and the checks in
:mod:`gpudoctor.checks.run_live` (to report), so both judge the run the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Defaults for every threshold; each has a ``watch`` flag and is recorded in the timeline.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "low_util": 40.0,  # % mean GPU utilisation below which the GPU is starved
    "stall_drop": 0.5,  # a stall: busy signal below this share of the run's median
    "min_stalls": 3.0,  # episodes needed before calling stalls periodic
    "write_burst_mb": 50.0,  # MiB written around a stall to blame a checkpoint
    "creep_mb": 256.0,  # MiB of steady RSS growth that counts as memory creep
    "warmup_s": 30.0,  # seconds ignored at the start for trends (imports, first batches)
    "vram_full": 0.95,  # share of GPU memory in use
    "host_ram_low": 0.05,  # share of host RAM still available
    "wsl_cap_low": 0.10,  # share of the WSL VM's memory still available
    "shm_full": 0.90,  # share of /dev/shm in use
    "swap_mb_s": 1.0,  # MiB/s of swap traffic that counts as swapping
    "throttle_share": 0.2,  # share of busy samples with thermal/power clock reasons
    "hang_after": 0.0,  # seconds without progress; 0 derives it from the run's rhythm
    "hang_min": 60.0,  # lower bound of a derived hang threshold
    "idle_cpu": 3.0,  # % of one core (whole tree) below which the tree is idle
    "idle_io_kb": 64.0,  # KiB per tick of reads+writes below which there is no I/O
    "overhead_warn": 5.0,  # % of one core of gpudoctor's own CPU worth a warning
}

#: NVML clock event reason bits (nvml.h ``nvmlClocksEventReason*``).
REASON_SW_POWER_CAP = 0x4
REASON_HW_SLOWDOWN = 0x8
REASON_SW_THERMAL = 0x20
REASON_HW_THERMAL = 0x40
REASON_HW_POWER_BRAKE = 0x80
THERMAL_BITS = REASON_SW_THERMAL | REASON_HW_THERMAL | REASON_HW_SLOWDOWN
POWER_BITS = REASON_SW_POWER_CAP | REASON_HW_POWER_BRAKE


def thresholds(watch: Mapping[str, Any]) -> dict[str, float]:
    merged = dict(DEFAULT_THRESHOLDS)
    for key, value in (watch.get("thresholds") or {}).items():
        if isinstance(value, (int, float)):
            merged[str(key)] = float(value)
    return merged


def known(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


# -- progress and hangs ------------------------------------------------------------------


def progressing(series: Mapping[str, Sequence[Any]], i: int, th: Mapping[str, float]) -> bool:
    """Did anything move at tick ``i``: CPU, GPU, a log line, or I/O?"""

    def at(key: str) -> Any:
        values = series.get(key) or ()
        return values[i] if i < len(values) else None

    cpu, util, lines = at("tree_cpu"), at("gpu_util"), at("log_lines")
    io = (at("write_delta") or 0) + (at("read_delta") or 0)
    return bool(
        (cpu is not None and cpu >= th["idle_cpu"])
        or (util is not None and util >= 5)
        or (lines is not None and lines > 0)
        or io >= th["idle_io_kb"] * 1024
    )


def trailing_idle(series: Mapping[str, Sequence[Any]], th: Mapping[str, float]) -> float:
    """Seconds since the tree last made progress (0 when the last tick moved)."""
    t = series.get("t") or ()
    for i in range(len(t) - 1, -1, -1):
        if progressing(series, i, th):
            return float(t[-1] - t[i])
    return float(t[-1] - t[0]) if t else 0.0


def longest_idle(
    series: Mapping[str, Sequence[Any]], th: Mapping[str, float]
) -> tuple[float, float]:
    """(start, seconds) of the longest stretch without progress."""
    t = series.get("t") or ()
    best, best_start, last_busy = 0.0, 0.0, None
    for i in range(len(t)):
        if progressing(series, i, th):
            last_busy = t[i]
            continue
        start = last_busy if last_busy is not None else t[0]
        if t[i] - start > best:
            best, best_start = float(t[i] - start), float(start)
    return best_start, best


def step_period(series: Mapping[str, Sequence[Any]]) -> float | None:
    """Median seconds per training step, from the log (None without a step count)."""
    t, steps = series.get("t") or (), series.get("steps") or ()
    counted = [(t[i], s) for i, s in enumerate(steps) if isinstance(s, int) and i < len(t)]
    total = sum(s for _, s in counted)
    if total < 3 or len(counted) < 2:
        return None
    span = counted[-1][0] - counted[0][0]
    return span / total if span > 0 else None


def hang_threshold(watch: Mapping[str, Any]) -> tuple[float, str]:
    """Seconds of no progress that make a hang, and how that number was chosen."""
    th = thresholds(watch)
    if th["hang_after"] > 0:
        return th["hang_after"], "--hang-after"
    series = watch.get("series") or {}
    period = step_period(series)
    stalls = stall_episodes(series, th)
    longest_stall = max((e.duration for e in stalls), default=0.0)
    derived = max(th["hang_min"], 20 * (period or 0.0), 3 * longest_stall)
    how = f"max({th['hang_min']:g} s, 20 steps, 3x the longest stall)"
    return derived, how


# -- stalls --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    start: float
    end: float
    first: int
    last: int

    @property
    def duration(self) -> float:
        return self.end - self.start


def busy_signal(series: Mapping[str, Sequence[Any]]) -> tuple[list[float | None], str]:
    """GPU utilisation where NVML gives it, else training steps per tick from the log."""
    util = list(series.get("gpu_util") or ())
    if known(util):
        return [float(u) if isinstance(u, (int, float)) else None for u in util], "GPU utilisation"
    steps = list(series.get("steps") or ())
    if known(steps):
        return [float(s) if isinstance(s, (int, float)) else None for s in steps], "steps per tick"
    return [], ""


def stall_episodes(series: Mapping[str, Sequence[Any]], th: Mapping[str, float]) -> list[Episode]:
    """Runs of ticks where the busy signal fell below ``stall_drop`` of its median."""
    import statistics  # watched runs only: not on check's path

    busy, _ = busy_signal(series)
    t = list(series.get("t") or ())
    values = known(busy)
    if len(values) < 5:
        return []
    median = statistics.median(values)
    if median <= 0:
        return []
    limit = median * th["stall_drop"]
    episodes: list[Episode] = []
    start = None
    for i, value in enumerate(busy):
        low = value is not None and value < limit
        if low and start is None:
            start = i
        if not low and start is not None:
            episodes.append(_episode(t, start, i - 1))
            start = None
    if start is not None:
        episodes.append(_episode(t, start, len(busy) - 1))
    # A stall at the very start is warm-up, not a stall.
    return [e for e in episodes if e.first > 0]


def _episode(t: Sequence[float], first: int, last: int) -> Episode:
    step = (t[1] - t[0]) if len(t) > 1 else 1.0
    return Episode(start=float(t[first]) - step, end=float(t[last]), first=first, last=last)


@dataclass(frozen=True)
class Periodicity:
    period: float
    spread: float  # median absolute deviation of the gaps / period
    episodes: list[Episode]


def periodicity(episodes: Sequence[Episode], th: Mapping[str, float]) -> Periodicity | None:
    """The period of regularly recurring stalls, or None when they are not regular."""
    import statistics  # watched runs only: not on check's path

    if len(episodes) < th["min_stalls"]:
        return None
    gaps = [b.start - a.start for a, b in zip(episodes, episodes[1:])]
    period = statistics.median(gaps)
    if period <= 0:
        return None
    spread = statistics.median([abs(g - period) for g in gaps]) / period
    if spread > 0.35:
        return None
    return Periodicity(period=period, spread=spread, episodes=list(episodes))


def written_around(series: Mapping[str, Sequence[Any]], episode: Episode) -> int:
    """Bytes the tree wrote from one tick before a stall to one tick after it."""
    writes = series.get("write_delta") or ()
    lo, hi = max(0, episode.first - 1), min(len(writes) - 1, episode.last + 1)
    return int(sum(w for w in writes[lo : hi + 1] if isinstance(w, (int, float))))


# -- trends --------------------------------------------------------------------------------


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(slope, r squared) of a least-squares line; (0, 0) when undefined."""
    n = len(xs)
    if n < 3:
        return 0.0, 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    if sxx == 0 or syy == 0:
        return 0.0, 0.0
    return sxy / sxx, (sxy * sxy) / (sxx * syy)


# -- stacks --------------------------------------------------------------------------------

_LIBRARY_HINTS = (
    "threading.py",
    "queue.py",
    "selectors.py",
    "connection.py",
    "synchronize.py",
    "popen_",
    "process.py",
    "spawn.py",
    "runpy.py",
    "worker.py",
    "dataloader.py",
    "fetch.py",
    "pin_memory.py",
    "distributed_c10d.py",
    "reduction.py",
    "queues.py",
    "util.py",
    "<frozen",
)


def _user_frame(frames: Sequence[str]) -> str | None:
    for frame in frames:
        if not any(hint in frame for hint in _LIBRARY_HINTS):
            return frame
    return None


_COLLECTIVES = ("all_reduce", "barrier", "all_gather", "broadcast", "reduce_scatter")


def _is_collective(frame: str) -> bool:
    return "distributed_c10d.py" in frame or frame.split(" ")[0] in _COLLECTIVES


@dataclass(frozen=True)
class Stuck:
    """Where one process is stuck, in words, with the frame that shows it."""

    pid: int
    role: str
    kind: str  # dataloader-worker, spawn-startup, collective, pin-memory, lock, loader-wait, ...
    where: str
    text: str


def where_stuck(pid: int, role: str, threads: Sequence[Mapping[str, Any]]) -> Stuck | None:
    """Name where a process is blocked from its threads' frames (innermost first)."""
    stacks = [list(th.get("frames") or ()) for th in threads]
    everything = " | ".join(f for frames in stacks for f in frames)
    for frames in stacks:
        frame = next((f for f in frames if _is_collective(f)), None)
        if frame is not None:
            return Stuck(
                pid,
                role,
                "collective",
                frame,
                f"process {pid} waits in a collective ({frame}): another rank is "
                "missing, slower, or called a different collective",
            )
    for frames in stacks:
        joined = " | ".join(frames)
        if "_worker_loop" in joined:
            user = _user_frame(frames)
            if user:
                return Stuck(
                    pid,
                    role,
                    "dataloader-worker",
                    user,
                    f"DataLoader worker {pid} is blocked in {user}",
                )
    if ("spawn_main" in everything or "_fixup_main_from_path" in everything) and (
        "_worker_loop" not in everything
    ):
        user = _user_frame(next((f for f in stacks if f), []))
        return Stuck(
            pid,
            role,
            "spawn-startup",
            user or "spawn_main",
            f"process {pid} is still starting up under spawn (re-importing the main "
            f"script{': ' + user if user else ''})",
        )
    for frames in stacks:
        if any("_pin_memory_loop" in f for f in frames) and any(
            h in frames[0] for h in ("acquire", "wait", "pin_memory")
        ):
            return Stuck(
                pid,
                role,
                "pin-memory",
                frames[0],
                f"the pin_memory thread of {pid} is blocked in {frames[0]}",
            )
    for frames in stacks:
        joined = " | ".join(frames)
        if any(k in joined for k in ("_try_get_data", "_get_data", "_next_data")):
            return Stuck(
                pid,
                role,
                "loader-wait",
                frames[0],
                f"the training process {pid} waits for the next batch from its DataLoader workers",
            )
    for frames in stacks:
        if frames and frames[0].split(" ")[0] in ("acquire", "_wait_for_tstate_lock", "wait"):
            user = _user_frame(frames) or frames[0]
            return Stuck(
                pid, role, "lock", user, f"process {pid} waits on a lock or condition ({user})"
            )
    for frames in stacks:
        user = _user_frame(frames)
        if user:
            return Stuck(pid, role, "user-code", user, f"process {pid} is in {user}")
    return None
