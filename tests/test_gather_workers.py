"""Probes run on a few workers; a hung probe costs its own timeout and nothing else."""

from __future__ import annotations

import threading
import time

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.base import ProbeSpec
from gpudoctor.probes.gather import SLOW
from gpudoctor.probes.gather import WORKERS
from gpudoctor.probes.gather import gather


def _quick(name: str, seen: list[str]) -> ProbeSpec:
    def probe(ctx):
        seen.append(name)
        return {"name": name}

    return ProbeSpec(name, probe, timeout=5)


def test_probes_queued_behind_hung_ones_still_run_in_time():
    release = threading.Event()
    seen: list[str] = []

    def hang(ctx):
        release.wait()
        return {}

    hung = [ProbeSpec(f"hung{i}", hang, timeout=0.3) for i in range(WORKERS + 1)]
    quick = [_quick(f"quick{i}", seen) for i in range(4)]
    started = time.monotonic()
    try:
        facts = gather(ProbeContext(), [*hung, *quick], budget=20)
    finally:
        release.set()
    elapsed = time.monotonic() - started

    assert sorted(seen) == [f"quick{i}" for i in range(4)]
    for spec in hung:
        assert facts.probes[spec.section].status == "timeout"
        assert "timed out after 0.3 s" in facts[spec.section].reason
    assert all(facts.probes[f"quick{i}"].status == "ok" for i in range(4))
    # Every hung probe holds a worker until its timeout; the next one starts then.
    assert elapsed < 0.3 * len(hung) + 2


def test_no_more_than_the_workers_run_at_once():
    lock = threading.Lock()
    running = [0]
    most = [0]

    def busy(ctx):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return {}

    specs = [ProbeSpec(f"busy{i}", busy, timeout=5) for i in range(6)]
    facts = gather(ProbeContext(), specs, budget=20)
    assert all(facts.probes[s.section].status == "ok" for s in specs)
    assert most[0] == WORKERS


def test_slow_probes_give_their_place_to_a_new_worker():
    """A hung NVML call must not keep the quick probes waiting until its timeout."""
    release = threading.Event()
    finished_at: dict[str, float] = {}
    started = time.monotonic()

    def hang(ctx):
        release.wait()
        return {}

    def quick(ctx):
        finished_at["quick"] = time.monotonic() - started
        return {}

    hung = [ProbeSpec(f"hung{i}", hang, timeout=SLOW * 10) for i in range(WORKERS)]
    try:
        facts = gather(ProbeContext(), [*hung, ProbeSpec("quick", quick)], budget=60)
    finally:
        release.set()
    assert facts.probes["quick"].status == "ok"
    assert finished_at["quick"] < SLOW * 8  # long before the hung probes' timeouts


def test_a_probe_the_budget_never_reached_says_so():
    release = threading.Event()

    def hang(ctx):
        release.wait()
        return {}

    specs = [ProbeSpec(f"hung{i}", hang, timeout=60) for i in range(WORKERS)]
    late = ProbeSpec("late", lambda ctx: {"ran": True}, timeout=5)
    try:
        facts = gather(ProbeContext(), [*specs, late], budget=SLOW / 2)
    finally:
        release.set()
    assert isinstance(facts["late"], Unavailable)
    assert "before it started" in facts["late"].reason
    assert facts.probes["late"].status == "timeout"
    assert "stopped by the total budget" in facts["hung0"].reason
