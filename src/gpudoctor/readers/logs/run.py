"""One training run as the parsers see it: points, events and intervals, all bounded."""

from __future__ import annotations

import math
import operator
from array import array
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from gpudoctor.readers.logs.analysis import MAX_EVENTS
from gpudoctor.readers.logs.analysis import timing_summary
from gpudoctor.readers.logs.series import LrTrack
from gpudoctor.readers.logs.series import Thinned
from gpudoctor.readers.logs.series import TimeSeries
from gpudoctor.readers.logs.series import ValueTrack
from gpudoctor.readers.logs.series import median

#: data_time / time ratios kept for the input-bound median.
RATIO_SAMPLE = 4096
#: Causes of periodic stalls, in the order they are tried.
CAUSES = ("checkpoint", "evaluation", "epoch", "logging")


@dataclass
class Run:
    """The state of the run being read; a restart in the same file starts a new one."""

    start_line: int = 1
    series: TimeSeries = field(default_factory=TimeSeries)
    loss: ValueTrack = field(default_factory=ValueTrack)
    grad_norm: ValueTrack = field(default_factory=lambda: ValueTrack(factor=10.0))
    lr: LrTrack = field(default_factory=LrTrack)
    points: int = 0
    first_step: int | None = None
    last_step: int = -1
    total_steps: int | None = None
    epoch: int | None = None
    max_epochs: int | None = None
    epoch_len: int | None = None
    eta_text: str = ""
    memory_max_mb: float | None = None
    ratio_sample: Thinned = field(default_factory=lambda: Thinned(RATIO_SAMPLE))
    ratio_count: int = 0
    data_time_thinned: Thinned = field(default_factory=lambda: Thinned(RATIO_SAMPLE))
    events: dict[str, array] = field(default_factory=dict)  # type: ignore[type-arg]
    event_lines: dict[str, int] = field(default_factory=dict)
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    amp_overflows: int = 0
    amp_first_line: int = 0
    last_phase: str = ""
    finished: bool = False

    def point(
        self,
        step: int,
        line: int,
        time: float | None = None,
        data_time: float | None = None,
        loss: float | None = None,
        grad_norm: float | None = None,
        lr: float | None = None,
    ) -> None:
        """One logged training window (or iteration) at global ``step``."""
        self.points_batch(
            [step],
            [line],
            None if time is None else [time],
            None if data_time is None else [data_time],
            None if loss is None else [loss],
            None if grad_norm is None else [grad_norm],
            None if lr is None else [lr],
        )

    def points_batch(
        self,
        steps: list[int],
        lines: list[int],
        time: list[float] | None = None,
        data_time: list[float] | None = None,
        loss: list[float] | None = None,
        grad_norm: list[float] | None = None,
        lr: list[float] | None = None,
    ) -> None:
        """Logged windows in order, one list per metric (a metric is absent or complete)."""
        if not steps:
            return
        self.points += len(steps)
        if self.first_step is None:
            self.first_step = steps[0]
        self.last_step = steps[-1]
        self.last_phase = "train"
        if time is not None:
            self.series.extend(steps, time, lines)
            if data_time is not None:
                self._ratios(data_time, time)
        if lr is not None:
            self.lr.extend(steps, lr)
        if grad_norm is not None:
            self.grad_norm.extend(steps, grad_norm, lines)
        if loss is None:
            return
        if all(map(math.isfinite, loss)) or self.loss.nonfinite is not None:
            self.loss.extend(steps, loss, lines)
            return
        for step, value, line in zip(steps, loss, lines):
            record = self.loss.add(step, value, line)
            if record is not None and "baseline" not in record:
                self._explain_nonfinite(record)

    def _ratios(self, data_time: list[float], time: list[float]) -> None:
        if min(time) > 0 and all(map(math.isfinite, data_time)):
            kept = data_time
            ratios = list(map(operator.truediv, data_time, time))
        else:
            pairs = [(d, t) for d, t in zip(data_time, time) if t > 0 and math.isfinite(d)]
            kept = [d for d, _ in pairs]
            ratios = [d / t for d, t in pairs]
        self.ratio_count += len(ratios)
        self.ratio_sample.extend(ratios)
        self.data_time_thinned.extend(kept)

    def _explain_nonfinite(self, record: dict[str, Any]) -> None:
        """What preceded the first NaN/Inf loss: warm-up end, AMP overflows, grad norms."""
        lr = self.lr.summary()
        record["warmup_end_step"] = lr["warmup_end_step"] if lr else None
        record["lr_at"] = self.lr.peak if lr else None
        record["amp_overflows_before"] = self.amp_overflows
        record["amp_first_line"] = self.amp_first_line
        recent = list(self.grad_norm.recent)
        record["grad_norm_recent"] = recent[-5:]
        record["grad_norm_start"] = median(self.grad_norm.head) if self.grad_norm.head else None

    def event(self, kind: str, step: int | None, line: int) -> None:
        """A checkpoint save, an evaluation or an epoch start at ``step``."""
        at = self.last_step if step is None else step
        if at < 0:
            return
        steps = self.events.setdefault(kind, array("q"))
        if (not steps or steps[-1] != at) and len(steps) < MAX_EVENTS:
            steps.append(at)
        self.event_lines.setdefault(kind, line)
        if kind == "evaluation":
            self.last_phase = "evaluation"
        elif kind == "checkpoint":
            self.last_phase = "checkpoint save"

    def interval(self, kind: str, value: int, source: str, **extra: Any) -> None:
        """An interval the config or log states (checkpoint every N, eval every N)."""
        if value > 0:
            self.intervals[kind] = {"interval": value, "source": source, **extra}

    def overflow(self, line: int) -> None:
        self.amp_overflows += 1
        if not self.amp_first_line:
            self.amp_first_line = line

    def summary(self) -> dict[str, Any]:
        causes: dict[str, dict[str, Any]] = {}
        for cause in CAUSES:
            spec = dict(self.intervals.get(cause) or {})
            events = self.events.get(cause)
            if spec.get("by_epoch") and self.epoch_len and spec.get("interval"):
                spec["interval"] = int(spec["interval"]) * self.epoch_len
            if events:
                spec["events"] = events
                spec.setdefault("source", f"log line {self.event_lines.get(cause, 0)}")
            if spec:
                causes[cause] = spec
        timing = timing_summary(self.series, self.first_step or 0, causes)
        data = None
        if self.ratio_sample.values:
            data = {
                "count": self.ratio_count,
                "median_ratio": median(self.ratio_sample.values),
                "median_data_time_s": median(self.data_time_thinned.values),
            }
        return {
            "start_line": self.start_line,
            "points": self.points,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "total_steps": self.total_steps,
            "epoch": self.epoch,
            "max_epochs": self.max_epochs,
            "epoch_len": self.epoch_len,
            "eta_text": self.eta_text,
            "finished": self.finished
            or (self.total_steps is not None and self.last_step >= self.total_steps),
            "last_phase": self.last_phase,
            "memory_max_mb": self.memory_max_mb,
            "timing": timing,
            "data": data,
            "loss": self.loss.summary() if self.loss.count else None,
            "grad_norm": self.grad_norm.summary() if self.grad_norm.count else None,
            "lr": self.lr.summary(),
            "intervals": self.intervals,
            "events": {
                k: {"count": len(v), "first": v[0], "last": v[-1]}
                for k, v in self.events.items()
                if v
            },
            "amp_overflows": self.amp_overflows,
            "amp_first_line": self.amp_first_line,
        }
