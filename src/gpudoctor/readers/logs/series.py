"""Bounded state for one run's time series: every point is seen once, memory stays flat.

A log of any length reduces to: a reservoir sample of iteration times (for the median and
MAD), a bounded list of spike candidates, a chart series that halves its resolution when
full, and small summaries of loss, grad norm and learning rate. Nothing here grows with the
number of points.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections import Counter
from collections import deque
from dataclasses import dataclass
from dataclasses import field
from typing import Any

#: Iteration times kept for the median and MAD.
RESERVOIR = 8192
#: Points in the chart series before neighbours are merged (the stall, the max, is kept).
CHART_POINTS = 480
#: Spike candidates kept before the smallest are dropped (32 bytes each, in arrays).
MAX_CANDIDATES = 200_000
#: Loss and grad-norm spikes remembered (the count goes on).
MAX_SPIKES = 20
_INFINITE = (math.inf, -math.inf)
#: A window is remembered when it is above the running median plus max(4 MAD, this share of
#: the median): just below the final stall threshold (5 MAD, 20 %), so no stall is missed.
CANDIDATE_SHARE = 0.15
#: Longest period (in steps) the short-period detector looks for: a DataLoader's rotation
#: through its workers repeats every num_workers batches, and more than 64 workers is rare.
SHORT_PERIOD_MAX = 64
#: A local peak counts when it is this much above the lowest point since the previous peak.
PEAK_RISE = 1.25


@dataclass
class PeakRhythm:
    """Gaps between the local peaks of a per-iteration time series, in bounded memory.

    Workers that cannot keep up make every num_workers-th iteration wait; a progress bar's
    smoothed rate then rises at that iteration and decays until the next one. Raw or
    smoothed, the peaks come at the same steps, so their spacing shows the period even where
    a spike threshold (median plus MAD) sees nothing.
    """

    gaps: Counter[int] = field(default_factory=Counter)
    peaks: int = 0
    rise_total: float = 0.0
    _before: float = math.nan
    _last: float = math.nan
    _last_step: int = -1
    _trough: float = math.inf
    _peak_step: int = -1

    def extend(self, steps: list[int], values: list[float]) -> None:
        before, last, last_step = self._before, self._last, self._last_step
        trough, peak_step = self._trough, self._peak_step
        for step, value in zip(steps, values):
            if last > before and last > value and last >= PEAK_RISE * trough:
                if peak_step >= 0:
                    gap = last_step - peak_step
                    if gap <= SHORT_PERIOD_MAX:
                        self.gaps[gap] += 1
                self.peaks += 1
                self.rise_total += last - trough
                peak_step, trough = last_step, math.inf
            if value < trough:
                trough = value
            before, last, last_step = last, value, step
        self._before, self._last, self._last_step = before, last, last_step
        self._trough, self._peak_step = trough, peak_step

    def period(self) -> dict[str, Any] | None:
        """The gap most peaks share, when at least 8 peaks and 60 % of the gaps agree."""
        if self.peaks < 8 or not self.gaps:
            return None
        gap, count = self.gaps.most_common(1)[0]
        if gap < 2 or count < 0.6 * (self.peaks - 1):
            return None
        return {
            "period": gap,
            "peaks": self.peaks,
            "share": count / (self.peaks - 1),
            "mean_rise_s": self.rise_total / self.peaks,
        }


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return math.nan
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mad(values: list[float], centre: float) -> float:
    """Median absolute deviation, scaled to a standard deviation for normal data."""
    return 1.4826 * median([abs(v - centre) for v in values]) if values else math.nan


@dataclass
class Thinned:
    """Every ``stride``-th value seen; the stride doubles whenever ``limit`` is passed."""

    limit: int = RESERVOIR
    values: list[float] = field(default_factory=list)
    stride: int = 1
    phase: int = 0

    def extend(self, values: list[float]) -> None:
        self.values.extend(values[self.stride - self.phase - 1 :: self.stride])
        self.phase = (self.phase + len(values)) % self.stride
        while len(self.values) > 2 * self.limit:
            self.values = self.values[::2]
            self.stride *= 2
            self.phase = 0


@dataclass
class Spike:
    step: int
    value: float
    window: int
    line: int


@dataclass
class TimeSeries:
    """Iteration time per logged window (seconds per iteration, averaged over the window)."""

    count: int = 0
    total_seconds: float = 0.0
    _thin: Thinned = field(default_factory=Thinned)
    cand_step: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    cand_value: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    cand_window: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    cand_line: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    floor: float = 0.0
    chart_step: list[int] = field(default_factory=list)
    chart_value: list[float] = field(default_factory=list)
    chart_low: list[float] = field(default_factory=list)
    chart_stride: int = 1
    _pending: int = 0
    _next_estimate: int = 64
    _estimate: float = 0.0
    _windows: dict[int, int] = field(default_factory=dict)
    last_step: int = -1
    rhythm: PeakRhythm = field(default_factory=PeakRhythm)

    def add(self, step: int, value: float, line: int) -> None:
        self.extend([step], [value], [line])

    def extend(self, steps: list[int], values: list[float], lines: list[int]) -> None:
        """Record logged windows in order; NaN, negative and absurd times are dropped."""
        if not (all(map(math.isfinite, values)) and min(values) >= 0.0 and max(values) < 1e7):
            kept = [i for i, v in enumerate(values) if 0.0 <= v < 1e7]
            steps = [steps[i] for i in kept]
            values = [values[i] for i in kept]
            lines = [lines[i] for i in kept]
        if not values:
            return
        windows = [steps[0] - self.last_step if self.last_step >= 0 else 0]
        windows.extend(map(operator.sub, steps[1:], steps[:-1]))
        self.last_step = steps[-1]
        self._count_windows(windows)
        self.count += len(values)
        weights = windows if windows[0] else [1, *windows[1:]]
        self.total_seconds += sum(map(operator.mul, values, weights))
        self._thin.extend(values)
        if self.count >= self._next_estimate:
            centre = median(self.sample)
            spread = mad(self.sample, centre)
            self._estimate = centre + max(4.0 * spread, CANDIDATE_SHARE * centre)
            self._next_estimate = self.count * 2 if self.count < 65536 else self.count + 65536
        limit = max(self._estimate, self.floor)
        if max(values) > limit:
            # A run's first window carries its start-up (CUDA context, worker start,
            # autotuning): slow by nature, not a stall.
            first = 1 if self.count == len(values) else 0
            for i, value in enumerate(values):
                if value > limit and i >= first:
                    self.cand_step.append(steps[i])
                    self.cand_value.append(value)
                    self.cand_window.append(windows[i])
                    self.cand_line.append(lines[i])
        if len(self.cand_step) > MAX_CANDIDATES:
            self._shrink_candidates()
        self._chart_many(steps, values)
        if max(windows) * 2 <= SHORT_PERIOD_MAX:
            self.rhythm.extend(steps, values)

    def _count_windows(self, windows: list[int]) -> None:
        table = self._windows
        for window, seen in Counter(windows).items():
            if window in table:
                table[window] += seen
            elif 0 < window <= 1_000_000 and len(table) < 64:
                table[window] = seen

    @property
    def sample(self) -> list[float]:
        """A systematic sample of the iteration times, at most 2 * RESERVOIR of them."""
        return self._thin.values

    def _chart_many(self, steps: list[int], values: list[float]) -> None:
        i, n = 0, len(values)
        while i < n:
            take = min(self.chart_stride - self._pending, n - i)
            if take == 1:
                self._chart(steps[i], values[i])
                i += 1
                continue
            part = values[i : i + take]
            top = max(part)
            low = min(part)
            at = steps[i + part.index(top)]
            if self._pending == 0:
                self._chart(at, top)
                self.chart_low[-1] = min(self.chart_low[-1], low)
                self._pending += take - 1
            else:
                if top > self.chart_value[-1]:
                    self.chart_step[-1], self.chart_value[-1] = at, top
                self.chart_low[-1] = min(self.chart_low[-1], low)
                self._pending += take
            if self._pending >= self.chart_stride:
                self._pending = 0
                self._merge_chart()
            i += take

    def _shrink_candidates(self) -> None:
        """Keep the larger half (time order kept); smaller ones can no longer be candidates."""
        order = sorted(range(len(self.cand_value)), key=self.cand_value.__getitem__)
        cut = order[len(order) // 2]
        self.floor = self.cand_value[cut]
        keep = sorted(order[len(order) // 2 :])
        for name in ("cand_step", "cand_value", "cand_window", "cand_line"):
            column = getattr(self, name)
            setattr(self, name, array(column.typecode, (column[i] for i in keep)))

    def spikes_above(self, limit: float) -> list[Spike]:
        """The candidates above ``limit``, in step order."""
        return [
            Spike(self.cand_step[i], value, self.cand_window[i], self.cand_line[i])
            for i, value in enumerate(self.cand_value)
            if value > limit
        ]

    def _chart(self, step: int, value: float) -> None:
        """Keep the slowest and the fastest window of every ``chart_stride`` points."""
        if self._pending == 0:
            self.chart_step.append(step)
            self.chart_value.append(value)
            self.chart_low.append(value)
        else:
            if value > self.chart_value[-1]:
                self.chart_step[-1], self.chart_value[-1] = step, value
            if value < self.chart_low[-1]:
                self.chart_low[-1] = value
        self._pending += 1
        if self._pending < self.chart_stride:
            return
        self._pending = 0
        self._merge_chart()

    def _merge_chart(self) -> None:
        if len(self.chart_step) >= 2 * CHART_POINTS:
            steps, values, lows = [], [], []
            for i in range(0, len(self.chart_step) - 1, 2):
                j = i if self.chart_value[i] >= self.chart_value[i + 1] else i + 1
                steps.append(self.chart_step[j])
                values.append(self.chart_value[j])
                lows.append(min(self.chart_low[i], self.chart_low[i + 1]))
            self.chart_step, self.chart_value, self.chart_low = steps, values, lows
            self.chart_stride *= 2

    @property
    def typical_window(self) -> int:
        """The step distance between logged points that occurs most often (1 if unknown)."""
        if not self._windows:
            return 1
        return max(self._windows.items(), key=lambda kv: (kv[1], -kv[0]))[0]


@dataclass
class ValueTrack:
    """Loss or grad norm: first non-finite value, spikes against a rolling median, extremes."""

    count: int = 0
    first: float | None = None
    last: float | None = None
    low: float = math.inf
    high: float = -math.inf
    high_step: int = -1
    high_line: int = 0
    nonfinite: dict[str, Any] | None = None
    nonfinite_count: int = 0
    spikes: list[dict[str, Any]] = field(default_factory=list)
    spike_count: int = 0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=50))
    head: list[float] = field(default_factory=list)
    factor: float = 3.0
    _centre: float = 0.0
    _limit: float = math.inf
    _since: int = 0

    def add(self, step: int, value: float, line: int) -> dict[str, Any] | None:
        """Record one value; returns the spike or non-finite record it made, if any."""
        self.count += 1
        if value != value or value in _INFINITE:
            self.nonfinite_count += 1
            if self.nonfinite is None:
                self.nonfinite = {"step": step, "value": repr(value), "line": line}
                return self.nonfinite
            return None
        if self.first is None:
            self.first = value
        self.last = value
        if len(self.head) < 20:
            self.head.append(value)
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high, self.high_step, self.high_line = value, step, line
        recent = self.recent
        made = None
        if value > self._limit:
            made = self._spike(step, value, line)
        recent.append(value)
        self._since += 1
        self._refresh()
        return made

    def extend(self, steps: list[int], values: list[float], lines: list[int]) -> None:
        """Many values at once; falls back to :meth:`add` around anything unusual."""
        if len(values) < 32 or not all(map(math.isfinite, values)) or max(values) > self._limit:
            for step, value, line in zip(steps, values, lines):
                self.add(step, value, line)
            return
        self.count += len(values)
        if self.first is None:
            self.first = values[0]
        self.last = values[-1]
        if len(self.head) < 20:
            self.head.extend(values[: 20 - len(self.head)])
        self.low = min(self.low, min(values))
        top = max(values)
        if top > self.high:
            at = values.index(top)
            self.high, self.high_step, self.high_line = top, steps[at], lines[at]
        self.recent.extend(values[-50:])
        self._since = 16
        self._refresh()

    def _refresh(self) -> None:
        recent = self.recent
        if self._since >= 16 and len(recent) >= 10:
            self._since = 0
            window = list(recent)
            centre = median(window)
            self._centre = centre
            self._limit = max(centre * self.factor, centre + 6 * mad(window, centre))
            if centre <= 0:
                self._limit = math.inf

    def _spike(self, step: int, value: float, line: int) -> dict[str, Any]:
        self.spike_count += 1
        made = {"step": step, "value": value, "baseline": self._centre, "line": line}
        if len(self.spikes) < MAX_SPIKES:
            self.spikes.append(made)
        return made

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "min": None if self.low == math.inf else self.low,
            "max": None if self.high == -math.inf else self.high,
            "max_step": self.high_step,
            "max_line": self.high_line,
            "start_median": median(self.head) if self.head else None,
            "recent_median": median(list(self.recent)) if self.recent else None,
            "nonfinite": self.nonfinite,
            "nonfinite_count": self.nonfinite_count,
            "spikes": list(self.spikes),
            "spike_count": self.spike_count,
        }


@dataclass
class LrTrack:
    """Where the learning rate peaked: the end of warm-up, a common moment for NaN losses."""

    peak: float = -math.inf
    peak_step: int = -1
    rising_from: float | None = None
    count: int = 0

    def add(self, step: int, value: float) -> None:
        if self.count == 0:
            if not math.isfinite(value):
                return
            self.rising_from = value
        self.count += 1
        if value > self.peak and value != math.inf:
            self.peak, self.peak_step = value, step

    def extend(self, steps: list[int], values: list[float]) -> None:
        if self.count == 0 or not all(map(math.isfinite, values)):
            for step, value in zip(steps, values):
                self.add(step, value)
            return
        self.count += len(values)
        top = max(values)
        if top > self.peak:
            self.peak, self.peak_step = top, steps[values.index(top)]

    def summary(self) -> dict[str, Any] | None:
        if not self.count:
            return None
        warmed = self.rising_from is not None and self.peak > self.rising_from * 1.5
        return {
            "peak": self.peak,
            "peak_step": self.peak_step,
            "start": self.rising_from,
            "warmup_end_step": self.peak_step if warmed else None,
        }
