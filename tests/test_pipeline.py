"""The pipeline's promises: a hung probe or a crashing check costs only its own finding."""

from __future__ import annotations

import threading
import time

from conftest import make_facts
from gpudoctor.declare import CheckSpec
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import Unavailable
from gpudoctor.model import Severity
from gpudoctor.probes import ProbeContext
from gpudoctor.probes import all_probes
from gpudoctor.probes.base import ProbeSpec
from gpudoctor.probes.gather import gather
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks
from gpudoctor.runner import run_one


def test_probe_that_hangs_forever_times_out_and_the_rest_still_report():
    release = threading.Event()

    def hang(ctx):
        release.wait()  # never set during the test: a stuck NVML call or dead mount
        return {}

    probes = [*all_probes(), ProbeSpec("memory", hang, timeout=0.3)]
    probes = [p for p in probes if not (p.section == "memory" and p.func is not hang)]
    started = time.monotonic()
    facts = gather(ProbeContext(), probes, budget=10)
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 5  # bounded by the probe's timeout, not forever
    assert isinstance(facts["memory"], Unavailable)
    assert facts.probes["memory"].status == "timeout"
    findings = run_checks(facts, list(load_registry(plugins=False)))
    by_id = {}
    for finding in findings:
        by_id.setdefault(finding.check_id, []).append(finding)
    assert [f.severity for f in by_id["GD902"]] == [Severity.ERROR]
    assert "memory" in by_id["GD902"][0].title
    assert "GD301" in by_id["GD902"][0].evidence[2].value
    assert by_id["GD301"][0].severity is Severity.SKIP
    assert all(f.severity is not Severity.ERROR for f in by_id["GD303"])
    assert {"GD101", "GD303", "GD304"} <= set(by_id)


def test_total_budget_stops_waiting_for_slow_probes():
    def slow(ctx):
        time.sleep(3)
        return {"late": True}

    facts = gather(ProbeContext(), [ProbeSpec("slow", slow, timeout=60)], budget=0.3)
    assert isinstance(facts["slow"], Unavailable)
    assert "budget" in facts["slow"].reason


def test_probe_that_raises_is_recorded_with_the_reason():
    def broken(ctx):
        raise PermissionError("no access to /proc/kcore")

    facts = gather(ProbeContext(), [ProbeSpec("broken", broken)])
    assert facts.probes["broken"].status == "error"
    assert "PermissionError" in facts["broken"].reason


def test_check_that_raises_becomes_an_error_finding_and_others_still_run():
    def explode(facts):
        return 1 / 0

    bad = CheckSpec("GD399", "explodes", "A broken check", explode)
    good = load_registry(plugins=False).get("GD301")
    findings = run_checks(make_facts(), [bad, good])
    assert [(f.check_id, f.severity) for f in findings] == [
        ("GD399", Severity.ERROR),
        ("GD301", Severity.PASS),
    ]
    assert "ZeroDivisionError" in findings[0].title


def test_check_returning_wrong_type_is_an_error_not_a_crash():
    spec = CheckSpec("GD398", "wrong-type", "Returns a string", lambda facts: "oops")
    (finding,) = run_one(spec, make_facts())
    assert finding.severity is Severity.ERROR


def test_missing_required_fact_skips_with_the_reason():
    facts = Facts({"memory": Unavailable("probe 'memory' timed out after 2.0 s")})
    (finding,) = run_one(load_registry(plugins=False).get("GD301"), facts)
    assert finding.severity is Severity.SKIP
    assert "timed out" in finding.title


def test_facts_are_frozen():
    facts = make_facts()
    try:
        facts["memory"]["total_bytes"] = 1  # type: ignore[index]
    except TypeError:
        pass
    else:
        raise AssertionError("facts must be read-only")
    assert facts.get("memory.no_such_key").reason.endswith("was not collected")
