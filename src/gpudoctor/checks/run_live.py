"""Diagnoses of a watched run (``gpudoctor watch``), GD851-GD869.

Pure functions of the ``watch`` facts section (series aligned on ``t``, see
:mod:`gpudoctor.probes.live.facts`), so a recorded timeline replays to the same findings.
Every finding names its time window and numbers; thresholds come from the section's
``thresholds`` (the ``watch`` flags) with the defaults in :mod:`.live_signals`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from gpudoctor.api import Facts
from gpudoctor.api import MiB
from gpudoctor.api import Remedy
from gpudoctor.api import Verdict
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import fmt_bytes
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import warn
from gpudoctor.checks.live_signals import POWER_BITS
from gpudoctor.checks.live_signals import THERMAL_BITS
from gpudoctor.checks.live_signals import busy_signal
from gpudoctor.checks.live_signals import hang_threshold
from gpudoctor.checks.live_signals import known
from gpudoctor.checks.live_signals import linear_fit
from gpudoctor.checks.live_signals import longest_idle
from gpudoctor.checks.live_signals import periodicity
from gpudoctor.checks.live_signals import progressing
from gpudoctor.checks.live_signals import stall_episodes
from gpudoctor.checks.live_signals import step_period
from gpudoctor.checks.live_signals import thresholds
from gpudoctor.checks.live_signals import where_stuck
from gpudoctor.checks.live_signals import written_around

REQUIRES = ("watch",)  # every check reads the series and the thresholds
TAGS = ("watch",)
SOURCE = "gpudoctor watch"


def _watch(facts: Facts) -> tuple[Mapping[str, Any], Mapping[str, Sequence[Any]], dict[str, float]]:
    watch = facts["watch"]
    return watch, watch["series"], thresholds(watch)


def _window(t: Sequence[float], lo: int = 0, hi: int | None = None) -> str:
    if not t:
        return "no samples"
    hi = len(t) - 1 if hi is None else hi
    return f"t={t[lo]:.1f}-{t[hi]:.1f} s ({len(t[lo : hi + 1])} samples)"


def _after_warmup(t: Sequence[float], th: Mapping[str, float]) -> int:
    """Index of the first sample past the warm-up (imports, first batches)."""
    if not t:
        return 0
    for i, value in enumerate(t):
        if value - t[0] >= th["warmup_s"]:
            return i
    return len(t)


def _too_short(series: Mapping[str, Sequence[Any]], needed: int = 5) -> Verdict | None:
    n = len(series.get("t") or ())
    if n < needed:
        return info(f"Too few samples to judge ({n}; needs {needed}): watch the run for longer")
    return None


@check(
    "GD851",
    "input-bound-live",
    summary="The GPU waits for data: utilisation low while the DataLoader or main process works",
    requires=REQUIRES,
    tags=TAGS,
)
def input_bound(facts: Facts) -> Verdict | None:
    """Low (or saw-toothed) GPU utilisation while the run makes progress and waits on input."""
    import statistics  # watched runs only: not on check's path

    _, series, th = _watch(facts)
    short = _too_short(series)
    if short:
        return short
    t = series["t"]
    n = len(t)
    # Stalls explained by checkpoint writes or evaluation are GD852's, not input starvation.
    explained: set[int] = set()
    evals = series.get("eval") or ()
    for episode in stall_episodes(series, th):
        ticks = range(episode.first, episode.last + 1)
        if written_around(series, episode) >= th["write_burst_mb"] * MiB or any(
            evals[i] for i in ticks if i < len(evals)
        ):
            explained.update(ticks)
    moving = [i for i in range(n) if progressing(series, i, th) and i not in explained]
    if len(moving) < max(3, n // 2):
        return passed("The run was mostly idle (no progress); no input-bound pattern to judge")
    util = known([series["gpu_util"][i] for i in moving])
    main_cpu = known([series["main_cpu"][i] for i in moving])
    workers = max(known(series["workers"]) or [0.0])
    worker_max = known([series["worker_cpu_max"][i] for i in moving])
    main_med = statistics.median(main_cpu) if main_cpu else 0.0
    busy_workers = bool(worker_max) and statistics.median(worker_max) >= 80
    main_waits = main_med < 50
    ev = [
        evidence("window", _window(t, moving[0], moving[-1]), SOURCE),
        evidence("main process CPU (median)", f"{main_med:.0f}% of one core", "psutil"),
        evidence("DataLoader workers", f"{workers:.0f}", "process tree"),
    ]
    if worker_max:
        ev.append(
            evidence(
                "busiest worker CPU (median)", f"{statistics.median(worker_max):.0f}%", "psutil"
            )
        )
    period = step_period(series)
    if period:
        ev.append(evidence("training steps", f"{1 / period:.1f} per second", "log"))
    remedies = [
        remedy(
            "Give the DataLoader more parallelism and keep it warm: num_workers up to the "
            "number of CPU cores, persistent_workers=True, prefetch_factor=4, pin_memory=True."
        ),
        remedy(
            "Make each sample cheaper: decode/resize once ahead of time, move augmentation to "
            "the GPU, read from local SSD rather than a network or Windows (/mnt/c) path.",
        ),
        remedy(
            "Measure the loader alone:", "gpudoctor bench loader --dataset mymodule:make_dataset"
        ),
    ]
    if util:
        mean_util = sum(util) / len(util)
        low_share = sum(1 for u in util if u < 20) / len(util)
        ev.insert(
            1,
            evidence(
                "GPU utilisation",
                f"mean {mean_util:.0f}%, {low_share:.0%} of samples below 20%",
                "NVML",
            ),
        )
        sawtooth = low_share >= 0.35 and not periodicity(stall_episodes(series, th), th)
        if (mean_util < th["low_util"] or sawtooth) and (main_waits or busy_workers):
            why = "its workers are saturated" if busy_workers else "the main process waits on it"
            shape = "saw-toothed" if mean_util >= th["low_util"] else "low"
            return warn(
                f"Input-bound: GPU utilisation {shape} (mean {mean_util:.0f}%) while the data "
                f"loader is the bottleneck ({why})",
                evidence=ev,
                remedies=remedies,
            )
        return passed(f"GPU kept busy (mean utilisation {mean_util:.0f}%)", evidence=ev)
    if main_waits and workers > 0:
        return info(
            "Possibly input-bound: the training process is mostly waiting while its DataLoader "
            "workers run (no GPU utilisation to confirm it)",
            evidence=ev,
            remedies=remedies,
        )
    return passed("No sign that training waits on its input", evidence=ev)


@check(
    "GD852",
    "periodic-stalls",
    summary="Training stalls at a regular period (checkpoint writes, evaluation phases)",
    requires=REQUIRES,
    tags=TAGS,
)
def periodic_stalls(facts: Facts) -> Verdict | None:
    """Regular dips of the busy signal, matched to large writes or evaluation in the log."""
    import statistics  # watched runs only: not on check's path

    _, series, th = _watch(facts)
    short = _too_short(series, 8)
    if short:
        return short
    busy, signal = busy_signal(series)
    if not busy:
        return info("No GPU utilisation and no training log to find stalls in (use --log)")
    found = stall_episodes(series, th)
    burst = th["write_burst_mb"] * MiB
    evals = series.get("eval") or ()
    # Stalls with a cause first: dips from other programs sharing the machine must not hide
    # a regular checkpoint or evaluation rhythm.
    by_writes = [e for e in found if written_around(series, e) >= burst]
    by_eval = [e for e in found if any(evals[e.first : e.last + 1])]
    cause, episodes, regular = "", found, None
    for name, subset in (("writes", by_writes), ("eval", by_eval), ("", found)):
        regular = periodicity(subset, th)
        if regular is not None:
            cause, episodes = name, subset
            break
    if regular is None:
        return passed(f"No periodic stalls ({len(found)} dips of {signal}, not regular)")
    t = series["t"]
    span = max(1e-9, t[-1] - t[0])
    lost = sum(e.duration for e in episodes)
    cost = statistics.median([e.duration for e in episodes])
    written = [written_around(series, e) for e in episodes]
    with_writes = sum(1 for w in written if w >= burst)
    with_eval = sum(1 for e in episodes if any(evals[e.first : e.last + 1]))
    ev = [
        evidence(
            "stalls",
            f"{len(episodes)} between t={episodes[0].start:.1f} and t={episodes[-1].end:.1f} s"
            + (f" ({len(found) - len(episodes)} other dips)" if len(found) > len(episodes) else ""),
            signal,
        ),
        evidence("period", f"every {regular.period:.1f} s (spread {regular.spread:.0%})", SOURCE),
        evidence("cost", f"{cost:.1f} s per stall, {lost / span:.0%} of the run", SOURCE),
    ]
    if cause == "writes" or with_writes * 3 >= len(episodes) * 2:
        typical = statistics.median([w for w in written if w >= burst])
        ev.append(
            evidence(
                "written at each stall",
                f"{fmt_bytes(int(typical))} ({with_writes} of {len(episodes)} stalls)",
                "process I/O counters",
            )
        )
        return warn(
            f"Training stalls every {regular.period:.1f} s for {cost:.1f} s while it writes "
            f"{fmt_bytes(int(typical))}: checkpoints block the training loop",
            evidence=ev,
            remedies=[
                remedy(
                    "Save checkpoints less often, or only the model weights (not optimizer "
                    "state) between full checkpoints."
                ),
                remedy(
                    "Save in the background: copy the state_dict to CPU, then write it from a "
                    "thread (torch.distributed.checkpoint.async_save, or Lightning's "
                    "AsyncCheckpointIO)."
                ),
                remedy("Write to a local SSD, not a network or /mnt/c path, and move it later."),
            ],
        )
    if cause == "eval" or with_eval * 2 >= len(episodes):
        return warn(
            f"Training stalls every {regular.period:.1f} s for {cost:.1f} s during evaluation",
            evidence=ev,
            remedies=[
                remedy(
                    "Evaluate less often or on a subset, with its own DataLoader "
                    "workers (persistent_workers=True) so it does not start cold."
                )
            ],
        )
    return info(
        f"Training stalls every {regular.period:.1f} s for {cost:.1f} s (cause not seen: no "
        "large writes or evaluation at those moments)",
        evidence=ev,
        remedies=[
            remedy(
                "Pass --log with the training log so evaluation phases can be matched, "
                "and look for periodic work in the loop (logging, syncing metrics)."
            )
        ],
    )


@check(
    "GD853",
    "swapping",
    summary="The host swaps while training runs",
    requires=REQUIRES,
    tags=TAGS,
)
def swapping(facts: Facts) -> Verdict | None:
    _, series, th = _watch(facts)
    t = series["t"]
    rates = [(i, (series["swap_in"][i] or 0) + (series["swap_out"][i] or 0)) for i in range(len(t))]
    if not known(series["swap_in"]):
        return info("Swap traffic could not be read on this system")
    hot = [i for i, r in rates if r >= th["swap_mb_s"] * MiB]
    if len(hot) < 3:
        return passed("No sustained swapping")
    peak = max(r for _, r in rates)
    psi = known(series.get("psi_some") or ())
    ev = [
        evidence("window", _window(t, hot[0], hot[-1]), SOURCE),
        evidence(
            "swap traffic",
            f"{len(hot)} samples above {th['swap_mb_s']:g} MiB/s, peak {peak / MiB:.1f} MiB/s",
            "/proc/vmstat",
        ),
    ]
    if psi:
        ev.append(
            evidence(
                "memory pressure (PSI some avg10)", f"max {max(psi):.1f}%", "/proc/pressure/memory"
            )
        )
    return warn(
        "The host is swapping during training: every swapped page stalls the run",
        evidence=ev,
        remedies=[
            remedy(
                "Use fewer DataLoader workers or a smaller prefetch_factor, and avoid "
                "holding the dataset in Python lists (each worker copies them)."
            ),
            remedy(
                "Give WSL more memory in .wslconfig ([wsl2] memory=...)",
                "gpudoctor fix --wslconfig",
                platforms=("wsl",),
            ),
        ],
    )


@check(
    "GD854",
    "memory-creep",
    summary="The run's memory (RSS) grows steadily: a leak that ends in an OOM kill",
    requires=REQUIRES,
    tags=TAGS,
)
def memory_creep(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    t = series["t"]
    start = _after_warmup(t, th)
    results = []
    for key, label in (("main_rss", "training process"), ("tree_rss", "process tree")):
        pts = [
            (t[i], float(v))
            for i in range(start, len(t))
            if isinstance(v := series[key][i], (int, float))
        ]
        if len(pts) < 6:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        slope, r2 = linear_fit(xs, ys)
        growth = slope * (xs[-1] - xs[0])
        half = len(xs) // 2
        first, _ = linear_fit(xs[:half], ys[:half])
        second, _ = linear_fit(xs[half:], ys[half:])
        steady = first > 0 and second > 0
        results.append((key, label, slope, r2, growth, steady, xs, ys))
    if not results:
        return info(
            f"Too few samples after the {th['warmup_s']:g} s warm-up to judge memory growth"
        )
    for _key, label, slope, r2, growth, steady, xs, ys in results:
        if growth >= th["creep_mb"] * MiB and r2 >= 0.8 and steady:
            ev = [
                evidence("window", f"t={xs[0]:.1f}-{xs[-1]:.1f} s", SOURCE),
                evidence(
                    f"RSS of the {label}",
                    f"{fmt_bytes(int(ys[0]))} -> {fmt_bytes(int(ys[-1]))}",
                    "psutil",
                ),
                evidence("growth", f"{slope * 60 / MiB:.0f} MiB/min, steady (r2={r2:.2f})", SOURCE),
            ]
            avail = known(series.get("mem_available") or ())
            if avail and slope > 0:
                ev.append(
                    evidence(
                        "host RAM runs out in",
                        f"about {avail[-1] / slope / 60:.0f} min at this rate",
                        "/proc/meminfo",
                    )
                )
            return warn(
                f"Memory creep: the {label}'s RSS grows steadily, {slope * 60 / MiB:.0f} MiB/min",
                evidence=ev,
                remedies=[
                    remedy(
                        "Do not keep tensors that hold the graph across steps: log "
                        "loss.item(), not loss; detach() what you store."
                    ),
                    remedy(
                        "Workers copy Python lists and dicts of the dataset as they touch them "
                        "(copy-on-write): hold metadata in numpy arrays or pyarrow instead."
                    ),
                    remedy(
                        "Find what grows: tracemalloc snapshots, or "
                        "torch.cuda.memory._record_memory_history() for GPU memory."
                    ),
                ],
            )
    _, label, slope, *_ = results[0]
    return passed(f"No steady memory growth ({label}: {slope * 60 / MiB:+.0f} MiB/min)")


def _near_full(
    series: Mapping[str, Sequence[Any]],
    used: Sequence[float | None],
    total: float,
    share: float,
    *,
    what: str,
    source: str,
    remedies: list[Remedy],
) -> Verdict:
    """Pass with the peak of ``used``, or warn with the window where it reached ``share``."""
    full = [i for i, u in enumerate(used) if total and u is not None and u >= share * total]
    peak = max(known(used))
    usage = f"peak {fmt_bytes(int(peak))} of {fmt_bytes(int(total))}"
    if not full:
        return passed(f"{what} {usage}")
    return warn(
        f"{what} nearly full: {usage}",
        evidence=[
            evidence("window", _window(series["t"], full[0], full[-1]), SOURCE),
            evidence("peak used", f"{peak / total:.0%}", source),
        ],
        remedies=remedies,
    )


@check(
    "GD855",
    "wsl-vm-near-cap",
    summary="On WSL2, the Linux VM's memory is close to its cap from .wslconfig",
    requires=REQUIRES,
    tags=TAGS,
)
def wsl_near_cap(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    if not watch.get("wsl"):
        return passed("Not running under WSL2")
    total = float(watch.get("mem_total") or 0)
    avail = series["mem_available"]
    low = [
        i for i, a in enumerate(avail) if total and a is not None and a < th["wsl_cap_low"] * total
    ]
    if not low:
        return passed("The WSL VM kept enough memory free")
    least = min(known(avail))
    return warn(
        f"The WSL VM ran close to its memory cap ({fmt_bytes(int(least))} of "
        f"{fmt_bytes(int(total))} left)",
        evidence=[
            evidence("window", _window(series["t"], low[0], low[-1]), SOURCE),
            evidence("VM memory cap", fmt_bytes(int(total)), "/proc/meminfo (WSL VM total)"),
            evidence("least available", fmt_bytes(int(least)), "/proc/meminfo"),
        ],
        remedies=[
            remedy(
                "Raise the VM's cap in %UserProfile%\\.wslconfig ([wsl2] memory=...), then "
                "'wsl --shutdown'.",
                "gpudoctor fix --wslconfig",
                platforms=("wsl",),
            ),
        ],
    )


@check(
    "GD856",
    "gpu-throttling",
    summary="The GPU slows its clocks for heat or power while training",
    requires=REQUIRES,
    tags=TAGS,
)
def gpu_throttling(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    reasons = series["gpu_reasons"]
    if not known(reasons):
        return info(f"Clock event reasons not available ({watch.get('gpu_note') or 'NVML'})")
    busy = [
        i for i, u in enumerate(series["gpu_util"]) if (u or 0) >= 50 and reasons[i] is not None
    ]
    if not busy:
        return passed("The GPU was not busy long enough to judge throttling")
    thermal = [i for i in busy if int(reasons[i]) & THERMAL_BITS]
    power = [i for i in busy if int(reasons[i]) & POWER_BITS]
    t = series["t"]
    temps = known(series["gpu_temp"])
    ev = []
    if temps:
        slowdown = watch.get("gpu_slowdown_c")
        ev.append(
            evidence(
                "GPU temperature",
                f"max {max(temps):.0f} C"
                + (f" (slowdown at {slowdown:.0f} C)" if slowdown else ""),
                "NVML",
            )
        )
    power_w = known(series["gpu_power"])
    if power_w and watch.get("gpu_power_cap"):
        ev.append(
            evidence(
                "power", f"max {max(power_w):.0f} W of {watch['gpu_power_cap']:.0f} W cap", "NVML"
            )
        )
    if len(thermal) >= th["throttle_share"] * len(busy) and thermal:
        ev.insert(
            0,
            evidence(
                "thermal slowdown",
                f"{len(thermal)} of {len(busy)} busy samples, "
                + _window(t, thermal[0], thermal[-1]),
                "NVML clock event reasons",
            ),
        )
        return warn(
            "The GPU throttles for heat during training",
            evidence=ev,
            remedies=[
                remedy(
                    "Improve cooling: clean dust, raise the fan curve, keep laptop vents free, "
                    "use a cooling pad; check 'nvidia-smi -q -d PERFORMANCE'."
                ),
                remedy(
                    "Or trade a little speed for less heat with a lower power limit:",
                    "sudo nvidia-smi -pl WATTS",
                    platforms=("linux",),
                ),
            ],
        )
    if len(power) >= th["throttle_share"] * len(busy) and power:
        ev.insert(
            0,
            evidence(
                "power cap",
                f"{len(power)} of {len(busy)} busy samples, " + _window(t, power[0], power[-1]),
                "NVML clock event reasons",
            ),
        )
        return info(
            "The GPU runs at its power cap (normal under full load; a low cap costs speed)",
            evidence=ev,
            remedies=[
                remedy(
                    "If the cap is below the card's default, raise it: 'nvidia-smi -q -d POWER' "
                    "shows both; on laptops use the performance power profile."
                )
            ],
        )
    return passed("No thermal or power throttling while busy", evidence=ev)


@check(
    "GD857",
    "vram-near-full",
    summary="GPU memory is nearly full: the next larger batch or sequence runs out",
    requires=REQUIRES,
    tags=TAGS,
)
def vram_near_full(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    used, totals = series["gpu_mem_used"], known(series["gpu_mem_total"])
    if not known(used) or not totals:
        return info(f"GPU memory not available ({watch.get('gpu_note') or 'NVML'})")
    return _near_full(
        series,
        used,
        max(totals),
        th["vram_full"],
        what="GPU memory",
        source="NVML",
        remedies=[
            remedy(
                "Leave headroom: a smaller batch with gradient accumulation, mixed precision "
                "(torch.autocast), or activation checkpointing."
            ),
            remedy(
                "Fragmentation wastes memory in long runs:",
                "export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True",
            ),
        ],
    )


@check(
    "GD858",
    "host-ram-near-full",
    summary="Host RAM nearly exhausted while training: the OOM killer is next",
    requires=REQUIRES,
    tags=TAGS,
)
def host_ram_near_full(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    total = watch.get("mem_total")
    avail = series["mem_available"]
    if not total or not known(avail):
        return info("Host memory could not be read")
    low = [i for i, a in enumerate(avail) if a is not None and a < th["host_ram_low"] * total]
    least = min(known(avail))
    if not low:
        return passed(f"Host RAM: at least {fmt_bytes(int(least))} of {fmt_bytes(int(total))} free")
    return fail(
        f"Host RAM nearly exhausted: {fmt_bytes(int(least))} of {fmt_bytes(int(total))} left",
        evidence=[
            evidence("window", _window(series["t"], low[0], low[-1]), SOURCE),
            evidence("least available", fmt_bytes(int(least)), "/proc/meminfo MemAvailable"),
        ],
        remedies=[
            remedy(
                "Use fewer DataLoader workers or a smaller prefetch_factor; each worker holds "
                "its own copies of Python objects."
            ),
            remedy("Stop other memory-hungry programs, or add RAM/swap."),
        ],
    )


@check(
    "GD860",
    "shm-near-full",
    summary="/dev/shm nearly full while training: DataLoader workers fail with a bus error",
    requires=REQUIRES,
    tags=TAGS,
)
def shm_near_full(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    total = float(watch.get("shm_total") or 0)
    used = series.get("shm_used") or ()
    if not total or not known(used):
        return info("/dev/shm could not be read on this system")
    return _near_full(
        series,
        used,
        total,
        th["shm_full"],
        what="/dev/shm",
        source="statvfs /dev/shm",
        remedies=[
            remedy(
                "Give the container more shared memory:",
                "docker run --shm-size=8g ...",
                platforms=("docker",),
            ),
            remedy(
                "Or fewer workers / a smaller prefetch_factor, or "
                "torch.multiprocessing.set_sharing_strategy('file_system')."
            ),
        ],
    )


def _stack_lines(capture: Mapping[str, Any]) -> list[str]:
    lines = []
    for proc in capture.get("procs") or ():
        if proc.get("error"):
            lines.append(f"{proc['role']} {proc['pid']}: {proc['error']}")
            continue
        for thread in proc.get("threads") or ():
            frames = list(thread.get("frames") or ())[:6]
            lines.append(
                f"{proc['role']} {proc['pid']} [{thread.get('thread')}]: " + " <- ".join(frames)
            )
    return lines


_HANG_REMEDIES = {
    "dataloader-worker": "A DataLoader worker never returns from your Dataset code: add timeouts "
    "to I/O and locks in __getitem__, and pass DataLoader(timeout=60) so a stuck worker raises "
    "instead of hanging.",
    "spawn-startup": "Workers start with spawn (Windows, macOS) and re-import your script: guard "
    "the training code with if __name__ == '__main__': and keep module-level work cheap.",
    "collective": "One rank is stuck or missing: check every rank reaches the same collective; "
    "set TORCH_NCCL_ASYNC_ERROR_HANDLING=1 and a timeout in init_process_group, and "
    "NCCL_DEBUG=INFO to see which rank.",
    "pin-memory": "The pin_memory thread is blocked: try pin_memory=False, or fewer workers.",
    "lock": "A lock is never released: look for a lock taken before fork (logging, a global "
    "client) -- use the 'spawn' or 'forkserver' start method or re-create it in worker_init_fn.",
    "loader-wait": "The training process waits on its workers; their stacks show where they are.",
}


@check(
    "GD859",
    "run-hung",
    summary="The run made no progress (no CPU, GPU, log or I/O) for longer than its rhythm allows",
    requires=REQUIRES,
    tags=TAGS,
)
def run_hung(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    limit, how = hang_threshold(watch)
    start, idle = longest_idle(series, th)
    captures = list(watch.get("stacks") or ())
    if idle < limit and not captures:
        return passed(
            f"Always progressing (longest pause {idle:.1f} s; hang threshold {limit:.0f} s)"
        )
    ev = [
        evidence(
            "no progress",
            f"{idle:.1f} s from t={start:.1f} s (no CPU, GPU, log line or I/O)",
            SOURCE,
        ),
        evidence("hang threshold", f"{limit:.1f} s ({how})", SOURCE),
    ]
    remedies = []
    stuck_texts = []
    for capture in captures[:1]:
        if capture.get("error"):
            ev.append(evidence("Python stacks", f"not taken: {capture['error']}", "py-spy"))
            remedies.append(remedy(capture.get("remedy") or "Install py-spy."))
            continue
        found = []
        for proc in capture.get("procs") or ():
            stuck = where_stuck(
                int(proc["pid"]), str(proc.get("role", "")), proc.get("threads") or ()
            )
            if stuck is not None:
                found.append(stuck)
        # Root causes first: a worker's own code before the main process waiting for it.
        order = [
            "dataloader-worker",
            "collective",
            "spawn-startup",
            "lock",
            "pin-memory",
            "user-code",
            "loader-wait",
        ]
        found.sort(key=lambda s: order.index(s.kind) if s.kind in order else 99)
        for stuck in found:
            stuck_texts.append(stuck.text)
            if stuck.kind in _HANG_REMEDIES and not any(
                r.text == _HANG_REMEDIES[stuck.kind] for r in remedies
            ):
                remedies.append(remedy(_HANG_REMEDIES[stuck.kind]))
        for line in _stack_lines(capture)[:12]:
            ev.append(evidence("stack", line, "py-spy dump"))
        denied = [p for p in capture.get("procs") or () if "permission" in str(p.get("error"))]
        if denied:
            remedies.append(remedy(capture.get("remedy") or "Allow ptrace (see py-spy docs)."))
    title = f"The run is hung: no progress for {idle:.0f} s"
    if stuck_texts:
        title += f"; {stuck_texts[0]}"
    remedies.append(remedy("Take stacks yourself at any time:", "py-spy dump --pid PID"))
    return fail(title, evidence=ev, remedies=remedies)


@check(
    "GD861",
    "watcher-overhead",
    summary="How much CPU gpudoctor itself used while watching",
    requires=REQUIRES,
    tags=TAGS,
)
def watcher_overhead(facts: Facts) -> Verdict | None:
    watch, series, th = _watch(facts)
    cpu = known(series["watcher_cpu"])
    if not cpu:
        return info("gpudoctor's own CPU was not measured")
    mean = sum(cpu) / len(cpu)
    ev = [
        evidence(
            "gpudoctor CPU",
            f"mean {mean:.2f}%, max {max(cpu):.1f}% of one core at one "
            f"sample per {watch.get('interval', 1):g} s",
            "psutil",
        )
    ]
    if mean >= th["overhead_warn"]:
        return warn(
            f"gpudoctor used {mean:.1f}% of a core while watching",
            evidence=ev,
            remedies=[remedy("Sample less often: --interval 2")],
        )
    return info(f"gpudoctor used {mean:.2f}% of one core while watching", evidence=ev)
