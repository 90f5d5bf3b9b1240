"""From bounded series to findings-ready numbers: stalls, their period and their cause.

Spikes are windows slower than ``median + max(5 MAD, 20 % of median)``. A spike is booked to
a cause when it lands in the logged window that holds the step right after the cause's
event (a checkpoint saved at step 5000 slows the window that ends at 5050). A cause is
periodic when at least half of its events have such a spike.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from gpudoctor.readers.logs.series import Spike
from gpudoctor.readers.logs.series import TimeSeries
from gpudoctor.readers.logs.series import mad
from gpudoctor.readers.logs.series import median

#: Spikes listed in the facts (all are counted).
LISTED_SPIKES = 30
#: Event steps kept per cause (8 bytes each; more are counted, not kept).
MAX_EVENTS = 200_000
#: Fewest logged windows before any speed statement is made.
MIN_POINTS = 8


def threshold(centre: float, spread: float) -> float:
    return centre + max(5.0 * spread, 0.2 * centre)


def _interval_hits(
    spikes: Sequence[Spike], interval: int, first: int, last: int, window: int
) -> tuple[list[Spike], int, int]:
    """(spikes right after a multiple of ``interval``, multiples in the run, multiples hit)."""
    events = max(0, (last - 1) // interval - first // interval)
    hits, owners = [], set()
    for spike in spikes:
        span = max(spike.window, window, 1)
        owner = (spike.step // interval) * interval
        if owner > first and spike.step - owner <= span and owner < last:
            hits.append(spike)
            owners.add(owner)
    return hits, events, len(owners)


def _event_hits(
    spikes: Sequence[Spike], events: Sequence[int], window: int
) -> tuple[list[Spike], int]:
    """(spikes whose window holds the step right after one of ``events``, events hit)."""
    hits, owners = [], set()
    for spike in spikes:
        span = max(spike.window, window, 1)
        i = bisect.bisect_left(events, spike.step - span)
        if i < len(events) and events[i] <= spike.step:
            hits.append(spike)
            owners.add(events[i])
    return hits, len(owners)


def _dominant_period(steps: Sequence[int]) -> tuple[int, int] | None:
    """The most common distance between consecutive spikes, if it explains most of them."""
    if len(steps) < 4:
        return None
    diffs = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    if not diffs:
        return None
    period, count = Counter(diffs).most_common(1)[0]
    if count >= 3 and count >= 0.5 * len(diffs):
        return period, count + 1
    return None


def timing_summary(
    series: TimeSeries,
    first_step: int,
    causes: dict[str, dict[str, Any]],
) -> dict[str, Any] | None:
    """Median speed, stalls and their causes. ``causes`` maps a cause name to its
    ``interval`` (steps, may be None), explicit ``events`` (steps) and ``source``."""
    if series.count < MIN_POINTS:
        return None
    centre = median(series.sample)
    spread = mad(series.sample, centre)
    limit = threshold(centre, spread)
    ordered = sorted(series.sample)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    window = series.typical_window
    spikes = series.spikes_above(limit)

    def excess(spike: Spike) -> float:
        return (spike.value - centre) * max(spike.window, 1)

    total_excess = sum(excess(s) for s in spikes)
    cadences: list[dict[str, Any]] = []
    explained: set[int] = set()
    first, last = first_step, series.last_step
    for cause, spec in causes.items():
        open_spikes = [s for s in spikes if id(s) not in explained]
        events = spec.get("events")
        interval = spec.get("interval")
        if events:
            within = [e for e in events if first <= e < last]
            hits, hit_events = _event_hits(open_spikes, within, window)
            count = len(within)
        elif isinstance(interval, int) and interval > 0:
            hits, count, hit_events = _interval_hits(open_spikes, interval, first, last, window)
        else:
            continue
        if count < 2 or hit_events < 2 or hit_events < 0.5 * count:
            continue
        explained.update(id(s) for s in hits)
        cost = sum(excess(s) for s in hits)
        first_hit = min(hits, key=lambda s: s.step)
        cadences.append(
            {
                "cause": cause,
                "interval": interval if isinstance(interval, int) else _typical_gap(events or ()),
                "source": spec.get("source", ""),
                "events": count,
                "hits": hit_events,
                "cost_s_each": cost / hit_events,
                "total_cost_s": cost,
                "first_hit_step": first_hit.step,
                "first_hit_line": first_hit.line,
            }
        )
    rest = sorted(s.step for s in spikes if id(s) not in explained)
    found = _dominant_period(rest)
    unexplained = None
    if found:
        period, count = found
        members = [s for s in spikes if id(s) not in explained]
        unexplained = {
            "period": period,
            "spikes": count,
            "cost_s_each": sum(excess(s) for s in members) / max(len(members), 1),
        }
    listed = sorted(spikes, key=excess, reverse=True)[:LISTED_SPIKES]
    return {
        "count": series.count,
        "median_s": centre,
        "mad_s": spread,
        "p95_s": p95,
        "threshold_s": limit,
        "window": window,
        "total_seconds": series.total_seconds,
        "spike_count": len(spikes),
        "spike_excess_s": total_excess,
        "stutter_score": 100.0 * total_excess / series.total_seconds
        if series.total_seconds > 0
        else 0.0,
        "spikes": [
            {"step": s.step, "value_s": s.value, "excess_s": excess(s), "line": s.line}
            for s in sorted(listed, key=lambda s: s.step)
        ],
        "cadences": sorted(cadences, key=lambda c: -float(c["total_cost_s"])),
        "unexplained_period": unexplained,
        "short_period": series.rhythm.period(),
        "chart": {
            "step": list(series.chart_step),
            "value_s": list(series.chart_value),
            "low_s": list(series.chart_low),
        },
    }


def _typical_gap(events: Sequence[int]) -> int | None:
    diffs = [b - a for a, b in zip(events, events[1:]) if b > a]
    return Counter(diffs).most_common(1)[0][0] if diffs else None


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
