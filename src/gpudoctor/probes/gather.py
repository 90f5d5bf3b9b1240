"""Run every probe once, concurrently and time-boxed, and freeze what they saw.

Each probe runs in its own daemon thread: a probe stuck in NVML or on a hung network mount
cannot be interrupted, but it can be abandoned, and a daemon thread does not keep the
process alive at exit. A probe that raises or overruns its timeout (or the total budget)
leaves an :class:`Unavailable` section and a probe record that says what happened.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Callable

from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import ProbeRecord
from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import ProbeSpec

#: Default wall-clock budget for all quick probes together, in seconds.
DEFAULT_BUDGET = 5.0
#: Budget with ``--deep``, whose probes measure (disk reads, a DataLoader sweep).
DEEP_BUDGET = 60.0

ProgressCallback = Callable[[str, int, int], None]


class _Slot:
    """One probe's thread: what it returned or raised, and when it finished."""

    __slots__ = ("spec", "started", "result", "error", "finished", "done")

    def __init__(self, spec: ProbeSpec, started: float) -> None:
        self.spec = spec
        self.started = started
        self.result: Any = None
        self.error = ""
        self.finished = 0.0
        self.done = False


def _run_probe(slot: _Slot, ctx: ProbeContext, finished: threading.Semaphore) -> None:
    try:
        value = slot.spec.func(ctx)
        if isinstance(value, NotApplicable):
            slot.result = value
        elif isinstance(value, Mapping):
            slot.result = dict(value)
        else:
            raise TypeError(f"probe returned {type(value).__name__}, expected a mapping of facts")
    except Exception as exc:  # noqa: BLE001 - a probe failure is a fact, not a crash
        slot.error = f"{type(exc).__name__}: {exc}"
        slot.result = None
        tb = traceback.extract_tb(exc.__traceback__)
        if tb:
            where = tb[-1]
            slot.error += f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
    finally:
        slot.finished = time.monotonic()
        slot.done = True
        finished.release()


def gather(
    ctx: ProbeContext,
    probes: Iterable[ProbeSpec],
    *,
    budget: float = DEFAULT_BUDGET,
    progress: ProgressCallback | None = None,
) -> Facts:
    """Run ``probes`` against ``ctx`` and return the frozen facts.

    Never raises for a probe's sake: failures and timeouts are recorded in the facts.
    ``progress(name, done, total)`` is called as each probe finishes.
    """
    _ = ctx.identity  # decided once, before any probe runs, and shared by all of them
    selected = [spec for spec in probes if spec.enabled is None or _safe_enabled(spec, ctx)]
    finished = threading.Semaphore(0)
    slots: list[_Slot] = []
    start = time.monotonic()
    for spec in selected:
        slot = _Slot(spec=spec, started=time.monotonic())
        slots.append(slot)
        threading.Thread(
            target=_run_probe,
            args=(slot, ctx, finished),
            name=f"gpudoctor-probe-{spec.section}",
            daemon=True,
        ).start()

    deadline_total = start + budget
    reported: set[str] = set()
    while True:
        now = time.monotonic()
        _report_done(slots, reported, progress)
        live = [s for s in slots if not s.done and now < _limit(s, deadline_total)]
        if not live:
            break
        next_deadline = min(_limit(s, deadline_total) for s in live)
        finished.acquire(timeout=max(0.0, next_deadline - now))

    sections: dict[str, Any] = {}
    records: dict[str, ProbeRecord] = {}
    now = time.monotonic()
    for slot in slots:
        name = slot.spec.section
        if not slot.done:
            limit = min(slot.spec.timeout, max(0.0, deadline_total - slot.started))
            why = (
                f"timed out after {limit:.1f} s"
                if limit >= slot.spec.timeout
                else f"stopped by the total budget of {budget:.1f} s"
            )
            sections[name] = Unavailable(f"probe {name!r} {why}")
            records[name] = ProbeRecord(name, "timeout", now - slot.started, why)
        elif slot.error:
            sections[name] = Unavailable(f"probe {name!r} failed: {slot.error}")
            records[name] = ProbeRecord(name, "error", slot.finished - slot.started, slot.error)
        else:
            sections[name] = slot.result
            records[name] = ProbeRecord(name, "ok", slot.finished - slot.started)
    return Facts(sections, records)


def _limit(slot: _Slot, deadline_total: float) -> float:
    return min(slot.started + slot.spec.timeout, deadline_total)


def _safe_enabled(spec: ProbeSpec, ctx: ProbeContext) -> bool:
    try:
        return bool(spec.enabled(ctx)) if spec.enabled else True
    except Exception:  # noqa: BLE001 - a broken predicate just runs the probe
        return True


def _report_done(slots: list[_Slot], reported: set[str], progress: ProgressCallback | None) -> None:
    if progress is None:
        return
    for slot in slots:
        if slot.done and slot.spec.section not in reported:
            reported.add(slot.spec.section)
            progress(slot.spec.section, len(reported), len(slots))


def collect(
    options: Mapping[str, Any] | None = None,
    *,
    deep: bool = False,
    budget: float | None = None,
    progress: ProgressCallback | None = None,
) -> Facts:
    """Gather facts from this machine with every built-in probe."""
    from gpudoctor.probes import ProbeContext
    from gpudoctor.probes import all_probes

    ctx = ProbeContext(options=dict(options or {}), deep=deep)
    default = DEEP_BUDGET if deep else DEFAULT_BUDGET
    return gather(ctx, all_probes(deep=deep), budget=budget or default, progress=progress)
