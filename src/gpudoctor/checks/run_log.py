"""The run itself, read from its logs and crash output (GD801-GD821, ``gpudoctor log``).

Every check is a pure function of the ``run_log`` facts section that
:func:`gpudoctor.readers.logs.read_logs` builds; one subject per log file. Crash records
from an earlier run appended to the same file are reported as ``info``: the run that
matters is the last one.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

from gpudoctor.api import Evidence
from gpudoctor.api import Facts
from gpudoctor.api import GiB
from gpudoctor.api import MiB
from gpudoctor.api import Severity
from gpudoctor.api import Verdict
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import info
from gpudoctor.api import remedy
from gpudoctor.api import verdict
from gpudoctor.api import warn

#: A run whose log has been silent this many typical intervals (and at least STOP_FLOOR_S
#: seconds) while short of its last step has stopped.
STOP_INTERVALS = 10
STOP_FLOOR_S = 600.0
#: Time lost to stalls, in percent of training time, that is worth a warning.
STUTTER_WARN = 2.0
#: data_time / time above which the run waits on its input pipeline.
INPUT_BOUND_RATIO = 0.3
#: Memory held by other processes at OOM time that is worth naming.
HOLDER_MIN = 256 * MiB
#: What a CUDA context and non-PyTorch allocations add to a process's own reserved memory.
CONTEXT_SLACK = 2 * GiB

_TAGS = ("run", "log")


def _files(facts: Facts) -> Iterator[Any]:
    for item in facts["run_log"].get("files") or ():
        if item.get("understood"):
            yield item


def _with_spikes(facts: Facts, part: str) -> Iterator[tuple[Any, Any]]:
    """(file, its ``part`` of the run) for each file whose ``part`` has spikes."""
    for item in _files(facts):
        found = item["run"].get(part)
        if found and found["spike_count"]:
            yield item, found


def _where(item: Any, line: int | None) -> str:
    unit = item.get("line_unit", "line")
    name = str(item["name"])
    if not line:
        return name
    return f"{name}:{line}" if unit == "line" else f"{name} {unit} {line}"


def _step_word(item: Any) -> str:
    return "epoch" if item.get("format") in {"detr-log", "ultralytics-csv"} else "iteration"


def _at_step(item: Any, label: str, value: Any, step: int, line: int | None) -> Evidence:
    """A logged value, the step it was logged at, and the line it was read from."""
    return evidence(label, f"{value} at {_step_word(item)} {step:,}", _where(item, line))


def _spike_evidence(item: Any, what: str, spikes: Iterable[Any]) -> list[Evidence]:
    """Each spike of a logged value: its step, the value and the recent median it left."""
    word = _step_word(item)
    return [
        evidence(
            f"{what} at {word} {s['step']:,}",
            f"{s['value']:.4g} (recent median {s['baseline']:.4g})",
            _where(item, s["line"]),
        )
        for s in spikes
    ]


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


# -- GD801 / GD802: what was read -------------------------------------------------------------


@check(
    "GD801",
    "log-not-understood",
    summary="Every log file given was read and its format recognised",
    requires=("run_log",),
    tags=_TAGS,
)
def log_not_understood(facts: Facts) -> list[Verdict]:
    """A file that was not read must not look like a file without problems."""
    out = []
    for item in facts["run_log"].get("files") or ():
        if not item.get("understood"):
            out.append(
                warn(
                    f"{item['name']} was not read: {item.get('reason')}",
                    subject=item["name"],
                    evidence=[evidence("file", item["path"])],
                    remedies=[
                        remedy(
                            "Pass the text log, the metrics file (scalars.json, metrics.json, "
                            "log.txt, results.csv, metrics.csv, trainer_state.json) or the "
                            "captured console output of the run; .gz is fine."
                        )
                    ],
                )
            )
        elif item.get("stopped_early"):
            out.append(
                warn(
                    f"{item['name']} was read only in part: {item['stopped_early']}",
                    subject=item["name"],
                    evidence=[evidence("lines read", f"{item.get('lines', 0):,}")],
                    remedies=[remedy("Re-run with a larger --budget, or pass the last part.")],
                )
            )
    for problem in facts["run_log"].get("config_problems") or ():
        out.append(warn(f"config not read: {problem}", subject="config"))
    return out


@check(
    "GD802",
    "run-summary",
    summary="What the log says about the run: format, progress, speed and ETA",
    requires=("run_log",),
    tags=_TAGS,
)
def run_summary(facts: Facts) -> list[Verdict]:
    """Progress and speed, so a reader sees at a glance how far the run got."""
    out = []
    for item in _files(facts):
        run = item["run"]
        word = _step_word(item)
        ev = [evidence("format recognised", item["format_label"], item["name"])]
        ev.append(evidence("read", f"{item.get('lines', 0):,} {item.get('line_unit', 'line')}s"))
        if item.get("runs", 1) > 1:
            ev.append(
                evidence(
                    "runs in this file",
                    f"{item['runs']} (appended); the last one, analysed here, starts at "
                    f"line {run['start_line']}",
                )
            )
        last, total = run.get("last_step"), run.get("total_steps")
        title = f"{item['format_label']}"
        if last is not None and last >= 0:
            progress = f"{word} {last:,}" + (
                f" of {total:,} ({100 * last / total:.0f} %)" if total else ""
            )
            title += f": {progress}"
            ev.append(evidence("progress", progress, _where(item, item["last"]["line"])))
        timing = run.get("timing")
        if timing:
            speed = f"{timing['median_s']:.3f} s/{word} (median of {timing['count']:,} windows)"
            ev.append(evidence("speed", speed))
            title += f", {timing['median_s']:.3g} s/{word}"
            if total and last is not None and last < total:
                eta = (total - last) * timing["median_s"]
                ev.append(evidence("ETA at the median speed", _duration(eta)))
                title += f", about {_duration(eta)} left"
        if run.get("eta_text"):
            ev.append(evidence("ETA printed by the trainer", run["eta_text"]))
        data = run.get("data")
        if data:
            ev.append(evidence("data_time / time (median)", f"{100 * data['median_ratio']:.0f} %"))
        loss = run.get("loss")
        if loss and loss.get("first") is not None:
            ev.append(evidence("loss", f"{loss['first']:.4g} -> {loss['last']:.4g}"))
        if run.get("memory_max_mb"):
            ev.append(evidence("GPU memory (last logged)", f"{run['memory_max_mb']:.0f} MB"))
        if run.get("finished"):
            title += ", finished"
        ev.append(evidence("last line", item["last"]["text"], _where(item, item["last"]["line"])))
        out.append(info(title, subject=item["name"], evidence=ev))
    return out


# -- GD803: a run that stopped --------------------------------------------------------------


def _last_run_crashes(item: Any) -> list[Any]:
    return [c for c in item.get("crashes") or () if c.get("run") == item.get("runs", 1)]


@check(
    "GD803",
    "run-stopped",
    summary="The run finished, or its log is still being written",
    requires=("run_log",),
    tags=_TAGS,
)
def run_stopped(facts: Facts) -> list[Verdict]:
    """A run that stopped short: where, in which phase, and how long ago."""
    out = []
    now = float(facts["run_log"].get("analysed_at") or 0.0)
    for item in _files(facts):
        run = item["run"]
        if run.get("finished") or not run.get("points"):
            continue  # a crash-only file is explained by the crash checks
        timing = run.get("timing")
        typical = timing["median_s"] * max(timing["window"], 1) if timing else None
        silent = now - float(item.get("mtime") or now)
        crashes = _last_run_crashes(item)
        exception = item.get("exception")
        if exception and exception.get("run") != item.get("runs", 1):
            exception = None
        limit = max(STOP_FLOOR_S, STOP_INTERVALS * typical) if typical else STOP_FLOOR_S
        ended_by = crashes[-1]["kind"].replace("_", " ") if crashes else None
        if ended_by is None and exception:
            ended_by = exception["type"]
        if ended_by is None and silent < limit:
            continue
        word = _step_word(item)
        where = f"{word} {run['last_step']:,}" if run.get("last_step", -1) >= 0 else "the start"
        of = f" of {run['total_steps']:,}" if run.get("total_steps") else ""
        phase = run.get("last_phase") or "start-up"
        ev = [
            evidence("last line", item["last"]["text"], _where(item, item["last"]["line"])),
            evidence("last phase reached", phase),
            evidence("file last written", f"{_duration(silent)} ago", "file modification time"),
        ]
        if item["last"].get("timestamp"):
            ev.append(evidence("last time stamp in the log", item["last"]["timestamp"]))
        if typical:
            ev.append(evidence("typical interval between log lines", _duration(typical)))
        if ended_by:
            title = f"the run stopped at {where}{of} ({phase}) after: {ended_by}"
            severity = Severity.WARN
        elif not run.get("total_steps"):
            title = (
                f"the log has been silent for {_duration(silent)} at {where}; "
                "its planned length is unknown"
            )
            severity = Severity.INFO
        else:
            title = f"the run stopped at {where}{of} during {phase}: silent for {_duration(silent)}"
            severity = Severity.WARN
        out.append(
            verdict(
                severity,
                title,
                subject=item["name"],
                evidence=ev,
                remedies=[
                    remedy(
                        "Look at the crash findings of this log (if any), then at the kernel log "
                        "for the time it stopped: an OOM kill or Xid error leaves no Python "
                        "traceback.",
                        "sudo dmesg -T | grep -iE 'killed process|xid|oom' | tail",
                        platforms=("linux",),
                    ),
                    remedy("Resume from the last checkpoint once the cause is fixed."),
                ],
            )
        )
    return out


# -- GD804 / GD805: speed -------------------------------------------------------------------

_CAUSE_REMEDIES = {
    "checkpoint": [
        remedy(
            "Save less often, or in the background: raise the checkpoint interval; keep fewer "
            "files (max_keep_ckpts); skip the optimizer state when you will not resume "
            "(save_optimizer=False); write to a fast local disk. torch.distributed.checkpoint "
            "offers async_save.",
            "default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=20000, "
            "max_keep_ckpts=3, save_optimizer=False))",
        )
    ],
    "evaluation": [
        remedy(
            "Evaluate less often (val_interval, eval_steps) or on a subset. The evaluation time "
            "is booked into the time (and data_time) of the next training window, so it looks "
            "like a training stall."
        )
    ],
    "epoch": [
        remedy(
            "DataLoader workers are restarted at every epoch: set persistent_workers=True "
            "(and keep prefetch_factor modest) so the first batches of an epoch do not wait."
        )
    ],
    "logging": [
        remedy(
            "Logging itself stalls: log less often, and avoid syncing the GPU (.item(), "
            "printing tensors) or writing to a slow network file system at every log step."
        )
    ],
}


def _cadence_text(cadence: Any, word: str) -> str:
    what = {
        "checkpoint": "each checkpoint save",
        "evaluation": "each evaluation",
        "epoch": "each epoch start",
        "logging": "each logging step",
    }[cadence["cause"]]
    interval = f"every {cadence['interval']:,} {word}s" if cadence.get("interval") else "regularly"
    return f"{interval}, after {what}: {_duration(cadence['cost_s_each'])} each"


@check(
    "GD804",
    "iteration-stalls",
    summary="Iteration time is steady: no periodic or frequent stalls",
    requires=("run_log",),
    tags=_TAGS,
)
def iteration_stalls(facts: Facts) -> list[Verdict]:
    """Stalls, their period and cost, and what runs at that period."""
    out = []
    for item, timing in _with_spikes(facts, "timing"):
        word = _step_word(item)
        score = timing["stutter_score"]
        ev = [
            evidence(
                "typical speed",
                f"{timing['median_s']:.3f} s/{word} (median), 95th percentile "
                f"{timing['p95_s']:.3f} s",
            ),
            evidence(
                "stalls",
                f"{timing['spike_count']} logged windows above {timing['threshold_s']:.3f} s/"
                f"{word}, {_duration(timing['spike_excess_s'])} lost in all",
            ),
            evidence("stutter score", f"{score:.1f} % of training time lost to stalls"),
        ]
        remedies = []
        parts = []
        for cadence in timing["cadences"]:
            parts.append(_cadence_text(cadence, word))
            stated = (
                f"{cadence['cause']} interval {cadence['interval']:,}"
                if cadence.get("interval")
                else cadence["cause"]
            )
            ev.append(
                evidence(
                    f"period {cadence['interval']:,}" if cadence.get("interval") else "period",
                    f"{cadence['hits']} of {cadence['events']} {cadence['cause']} events were "
                    f"followed by a stall; {stated} ({cadence['source']}); first at "
                    f"{word} {cadence['first_hit_step']:,}",
                    _where(item, cadence["first_hit_line"]),
                )
            )
            remedies.extend(_CAUSE_REMEDIES[cadence["cause"]])
        unexplained = timing.get("unexplained_period")
        if unexplained:
            parts.append(
                f"every {unexplained['period']:,} {word}s: "
                f"{_duration(unexplained['cost_s_each'])} each, cause not stated in the log"
            )
            remedies.append(
                remedy(
                    f"Something runs every {unexplained['period']:,} {word}s: look for a hook, "
                    "scheduler, dataset shard boundary or cache flush with that period (pass "
                    "the config with --config to match it)."
                )
            )
        for spike in timing["spikes"][:3]:
            ev.append(
                evidence(
                    f"stall at {word} {spike['step']:,}",
                    f"{spike['value_s']:.3f} s/{word}, {_duration(spike['excess_s'])} lost",
                    _where(item, spike["line"]),
                )
            )
        if not parts:
            parts.append("at irregular times")
            remedies.append(
                remedy(
                    "Irregular stalls come from outside the loop: other jobs on the same GPU or "
                    "CPUs, a shared or network file system, swap, thermal throttling. Compare "
                    "the stall times with the machine's own logs.",
                    "gpudoctor check",
                )
            )
        severity = Severity.WARN if score >= STUTTER_WARN else Severity.INFO
        out.append(
            verdict(
                severity,
                f"stalls {'; '.join(parts)} ({score:.1f} % of training time)",
                subject=item["name"],
                evidence=ev,
                remedies=remedies,
            )
        )
    return out


@check(
    "GD805",
    "input-bound",
    summary="Training does not wait on data loading (data_time is small next to time)",
    requires=("run_log",),
    tags=_TAGS,
)
def input_bound(facts: Facts) -> list[Verdict]:
    """The share of each iteration spent waiting for data; or, where the log has only a
    speed, the rhythm of workers that cannot keep up (a slow step every num_workers)."""
    out = []
    for item in _files(facts):
        run = item["run"]
        data = run.get("data")
        timing = run.get("timing")
        if data and data["count"] >= 8:
            if data["median_ratio"] >= INPUT_BOUND_RATIO:
                out.append(_input_bound_by_data_time(item, data, timing))
        elif timing:
            rhythm = _worker_rhythm(run, timing)
            if rhythm is not None:
                out.append(_input_bound_by_rhythm(item, timing, *rhythm))
    return out


_INPUT_REMEDIES = [
    remedy(
        "Give the DataLoader more workers (up to the CPU cores), persistent_workers=True and "
        "pin_memory=True; measure the settings on this machine.",
        "gpudoctor bench loader --script train.py",
    ),
    remedy(
        "Move decoding and augmentation off the critical path: pre-resize images, cache "
        "decoded data, use a faster storage for the dataset."
    ),
]


def _input_bound_by_data_time(item: Any, data: Any, timing: Any) -> Verdict:
    share = 100 * data["median_ratio"]
    ev = [
        evidence("data_time / time", f"{share:.0f} % (median of {data['count']:,} windows)"),
        evidence("median data_time", f"{data['median_data_time_s']:.3f} s"),
    ]
    if timing:
        ev.append(evidence("median time", f"{timing['median_s']:.3f} s"))
    return warn(
        f"input-bound: {share:.0f} % of every iteration is spent waiting for data",
        subject=item["name"],
        evidence=ev,
        remedies=_INPUT_REMEDIES,
    )


def _worker_rhythm(run: Any, timing: Any) -> tuple[int, Any, Any] | None:
    """(period, the rhythm, the stated workers or None) when the iteration time rises every
    few steps in step with the DataLoader's workers (or no worker count is stated)."""
    rhythm = timing.get("short_period")
    if not rhythm:
        return None
    period = int(rhythm["period"])
    workers = (run.get("intervals") or {}).get("workers")
    if workers is not None and period % int(workers["interval"]) != 0:
        return None  # a rhythm the stated workers do not explain: GD804 reports stalls
    return period, rhythm, workers


def _ordinal(n: int) -> str:
    """2 -> 2nd, 3 -> 3rd, 4 -> 4th, 11 -> 11th, 22 -> 22nd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _input_bound_by_rhythm(
    item: Any, timing: Any, period: int, rhythm: Any, workers: Any
) -> Verdict:
    word = _step_word(item)
    ev = [
        evidence(
            "rhythm",
            f"the {word} time rises every {period} {word}s "
            f"({rhythm['peaks']:,} peaks, {100 * rhythm['share']:.0f} % of them {period} apart)",
        ),
        evidence("typical speed", f"{timing['median_s']:.3f} s/{word} (median)"),
    ]
    if workers is not None:
        ev.append(evidence("DataLoader workers", f"{workers['interval']} ({workers['source']})"))
        title = (
            f"every {_ordinal(period)} {word} waits for data: one wait per round of "
            f"{workers['interval']} DataLoader workers"
        )
    else:
        title = (
            f"probably waiting for data: every {_ordinal(period)} {word} is slow, the rhythm of "
            f"{period} DataLoader workers that cannot keep up"
        )
    return warn(
        title,
        subject=item["name"],
        evidence=ev,
        remedies=[
            *_INPUT_REMEDIES,
            remedy(
                "To confirm, log the time spent waiting for each batch (data_time): "
                "mmengine, mmcv and detectron2 print it; in a plain loop, time the "
                "`next(iterator)` call."
            ),
        ],
    )


# -- GD806 - GD808: loss and gradients ------------------------------------------------------


@check(
    "GD806",
    "loss-not-finite",
    summary="The training loss stays finite (no NaN or Inf)",
    requires=("run_log",),
    tags=_TAGS,
)
def loss_not_finite(facts: Facts) -> list[Verdict]:
    """The first NaN/Inf loss and what preceded it."""
    out = []
    for item in _files(facts):
        loss = item["run"].get("loss")
        first = loss.get("nonfinite") if loss else None
        if not first:
            continue
        word = _step_word(item)
        step = first["step"]
        ev = [
            _at_step(item, "first non-finite loss", first["value"], step, first["line"]),
            evidence("non-finite loss values", f"{loss['nonfinite_count']:,} of {loss['count']:,}"),
        ]
        causes = []
        warm = first.get("warmup_end_step")
        if warm is not None and step >= warm:
            ev.append(
                evidence(
                    "learning-rate warm-up ended",
                    f"at {word} {warm:,} "
                    f"({step - warm:,} {word}s before), lr {first.get('lr_at'):.3g}",
                )
            )
            causes.append("after the learning-rate warm-up ended")
        if first.get("amp_overflows_before"):
            ev.append(
                evidence(
                    "AMP overflow messages before it",
                    f"{first['amp_overflows_before']:,}",
                    _where(item, first.get("amp_first_line")),
                )
            )
            causes.append("after mixed-precision overflows")
        recent = [g for g in first.get("grad_norm_recent") or () if g == g]
        start = first.get("grad_norm_start")
        if recent and start and max(recent) > 5 * start:
            ev.append(
                evidence(
                    "grad_norm before it",
                    f"{start:.3g} at the start -> " + ", ".join(f"{g:.3g}" for g in recent),
                )
            )
            causes.append("with a growing gradient norm")
        out.append(
            fail(
                f"loss became {first['value']} at {word} {step:,}"
                + (f" ({', '.join(causes)})" if causes else ""),
                subject=item["name"],
                evidence=ev,
                remedies=[
                    remedy(
                        "Lower the learning rate or lengthen the warm-up; clip gradients "
                        "(mmengine: optim_wrapper=dict(clip_grad=dict(max_norm=35, norm_type=2)); "
                        "plain PyTorch: torch.nn.utils.clip_grad_norm_)."
                    ),
                    remedy(
                        "With fp16 AMP, prefer bf16 where the GPU supports it, or keep the "
                        "GradScaler; look for ops that overflow in half precision."
                    ),
                    remedy(
                        "Resume from the last checkpoint before this step; if it recurs at the "
                        "same data, check that batch for NaN inputs or empty targets "
                        "(torch.autograd.set_detect_anomaly(True) names the op)."
                    ),
                ],
            )
        )
    return out


@check(
    "GD807",
    "loss-spikes",
    summary="The training loss has no sudden spikes",
    requires=("run_log",),
    tags=_TAGS,
)
def loss_spikes(facts: Facts) -> list[Verdict]:
    """Loss values above three times their recent median."""
    out = []
    for item, loss in _with_spikes(facts, "loss"):
        word = _step_word(item)
        spikes = loss["spikes"]
        ev = _spike_evidence(item, "spike", spikes[:5])
        count = loss["spike_count"]
        severity = Severity.WARN if count >= 3 else Severity.INFO
        out.append(
            verdict(
                severity,
                f"the loss spiked {count} time{'s' if count > 1 else ''} above 3x its recent "
                f"median (first at {word} {spikes[0]['step']:,})",
                subject=item["name"],
                evidence=ev,
                remedies=[
                    remedy(
                        "Occasional spikes that recover are often bad samples; frequent ones "
                        "mean the learning rate is too high for the batch size: lower it, add "
                        "gradient clipping, or use a longer warm-up."
                    )
                ],
            )
        )
    return out


@check(
    "GD808",
    "grad-norm-explosion",
    summary="The gradient norm stays within reach of its usual size",
    requires=("run_log",),
    tags=_TAGS,
)
def grad_norm_explosion(facts: Facts) -> list[Verdict]:
    """grad_norm jumping ten times above its recent median, or growing 100-fold."""
    out = []
    for item in _files(facts):
        grad = item["run"].get("grad_norm")
        if not grad or grad.get("max") is None:
            continue
        start = grad.get("start_median") or 0.0
        grown = start > 0 and grad["max"] > 100 * start
        if not grad["spike_count"] and not grown:
            continue
        ev = [
            _at_step(
                item, "largest grad_norm", f"{grad['max']:.4g}", grad["max_step"], grad["max_line"]
            ),
            evidence("grad_norm at the start (median)", f"{start:.4g}"),
        ]
        ev += _spike_evidence(item, "jump", grad["spikes"][:3])
        out.append(
            warn(
                f"the gradient norm exploded: up to {grad['max']:.4g} "
                f"({grad['max'] / start:.0f}x its starting size)"
                if start
                else f"the gradient norm jumped {grad['spike_count']} times",
                subject=item["name"],
                evidence=ev,
                remedies=[
                    remedy(
                        "Clip gradients (max_norm about the usual grad_norm) and lower the "
                        "learning rate; a NaN loss usually follows an explosion like this."
                    )
                ],
            )
        )
    return out
