"""``gpudoctor fix --kill-stale`` on a terminal: look, observe, show, confirm, stop, re-measure.

The whole command has a time bound (listing, the observation window, the signals and the
second look), so a slow ``/proc`` or a hung driver cannot keep it running.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any
from typing import Callable

import click

from gpudoctor.checks.staleness import judge_all
from gpudoctor.checks.staleness import observed_activity
from gpudoctor.checks.staleness import stale_holders
from gpudoctor.errors import BadInputError
from gpudoctor.errors import GpuDoctorError
from gpudoctor.fixes.kill_stale import FORCE_WAIT_S
from gpudoctor.fixes.kill_stale import KillPlan
from gpudoctor.fixes.kill_stale import Outcome
from gpudoctor.fixes.kill_stale import Target
from gpudoctor.fixes.kill_stale import apply
from gpudoctor.fixes.kill_stale import current_identity
from gpudoctor.fixes.kill_stale import plan

#: Default observation window: longer than a training step's wait on its data.
DEFAULT_OBSERVE_S = 5.0
#: Seconds one look at the process table (with NVML and the Jupyter servers) may take.
LOOK_LIMIT_S = 10.0
#: Slack for starting up, the re-checks before each signal and printing.
SLACK_S = 5.0
#: Classes never worth watching: nothing the window could see would make them stoppable.
_NOT_WATCHED = ("not-visible", "init", "system", "managed", "zombie")


def time_bound(observe: float, grace: float) -> float:
    """Seconds the whole command may take: two looks, the window, the signals, slack."""
    return round(2 * LOOK_LIMIT_S + observe + grace + FORCE_WAIT_S + SLACK_S, 1)


def _bounded(func: Callable[[], Any], limit: float, what: str) -> Any:
    """Run ``func`` in a daemon thread; past ``limit`` seconds give up with one line."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func()
        except Exception as exc:  # noqa: BLE001 - reported as one line below
            box["error"] = exc

    worker = threading.Thread(target=target, name="gpudoctor-kill-stale", daemon=True)
    worker.start()
    worker.join(max(0.0, limit))
    if worker.is_alive():
        raise GpuDoctorError(f"{what} did not finish within {limit:g} s; nothing was stopped")
    if "error" in box:
        raise GpuDoctorError(f"{what} failed: {box['error']}; nothing was stopped")
    return box["value"]


def run_kill_stale(
    *,
    all_users: bool,
    grace: float,
    idle_minutes: float,
    yes: bool,
    dry_run: bool,
    observe: float = DEFAULT_OBSERVE_S,
    fmt: str = "text",
    options: Mapping[str, Any] | None = None,
    inventory: Mapping[str, Any] | None = None,
    nvml_module: Any = None,
    ops: Any = None,
    echo: Callable[[str], None] | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> int:
    """Plan, show, confirm, stop, then re-measure; returns the exit code.

    ``options`` reach the inventory as ``ctx.options`` (tests pass stand-in device paths);
    ``inventory`` skips the first look (and then nothing is observed: only kernel facts such
    as a stopped process can justify a stop).
    """
    from gpudoctor.probes import ProbeContext
    from gpudoctor.probes.gpu_processes import collect_inventory
    from gpudoctor.probes.gpu_processes import observe as watch

    say = echo or click.echo
    as_json = fmt == "json"
    started = time.monotonic()
    bound = time_bound(observe, grace)
    deadline = started + bound
    opts = {**dict(options or {}), "idle_minutes": idle_minutes}
    ctx = ProbeContext(options=opts, nvml_module=nvml_module)
    use_nvml = inventory is None

    def look() -> Mapping[str, Any]:
        limit = min(LOOK_LIMIT_S, max(0.5, deadline - time.monotonic()))
        value: Mapping[str, Any] = _bounded(
            lambda: collect_inventory(ctx), limit, "listing the GPU processes"
        )
        return value

    def text(line: str) -> None:
        if not as_json:
            say(line)

    before = inventory if inventory is not None else look()
    uid, user, privileged = current_identity()
    if all_users and not privileged:
        text("gpudoctor: --all-users needs root/Administrator; only your own processes count.")
    observations: dict[int, dict[str, Any]] = {}
    if inventory is None and observe > 0:
        pids = _worth_watching(before, idle_minutes)
        if pids:
            text(f"Watching {len(pids)} process(es) for {observe:g} s before deciding ...")
            observations = watch(ctx, pids, observe, deadline=deadline - grace - FORCE_WAIT_S)
    kill_plan = plan(
        before,
        idle_minutes=idle_minutes,
        all_users=all_users,
        privileged=privileged,
        current_uid=uid,
        current_user=user,
        observations=observations,
    )
    document: dict[str, Any] = {
        **kill_plan.to_json(),
        "observe_seconds": observe,
        "idle_minutes": idle_minutes,
        "time_bound_seconds": bound,
        "dry_run": dry_run,
    }
    for note in kill_plan.notes:
        text(f"gpudoctor: {note}")
    if not as_json:
        _show_plan(kill_plan, say)
    if not kill_plan.targets or dry_run:
        if as_json:
            say(_safe_json(document))
        elif not kill_plan.targets:
            say("Nothing stale to stop: no process holding the GPU looks stale.")
        else:
            say("Dry run: nothing was stopped.")
        return 0
    if not yes:
        if confirm is None and not sys.stdin.isatty():
            raise BadInputError(
                "not asking without a terminal: add --yes to stop them, or --dry-run to look"
            )
        ask = confirm or (lambda q: click.confirm(q, default=False))
        if not ask(f"Stop these {len(kill_plan.targets)} process(es)?"):
            say("Nothing was stopped.")
            return 0

    outcomes = apply(
        kill_plan,
        grace=grace,
        ops=ops,
        recheck=make_recheck(ctx, use_nvml=use_nvml),
        deadline=deadline - grace - FORCE_WAIT_S,
    )
    after = None
    if inventory is None and time.monotonic() < deadline - 1.0:
        after = look()
    if as_json:
        document["outcomes"] = [
            {"pid": o.target.pid, "result": o.result, "detail": o.detail, "signals": o.signals}
            for o in outcomes
        ]
        document["elapsed_seconds"] = round(time.monotonic() - started, 2)
        say(_safe_json(document))
    else:
        _show_outcomes(outcomes, say)
        _show_memory(before, after, outcomes, say, idle_minutes)
    bad = [o for o in outcomes if o.result in ("survived", "denied")]
    return 1 if bad else 0


def _safe_json(document: Any) -> str:
    """The plan as strict JSON with secrets and control characters taken out."""
    from gpudoctor.privacy import redact_data

    return json.dumps(redact_data(document, enabled=False), indent=2, allow_nan=False)


def _shown(cmdline: str) -> str:
    """Another user's arguments, safe for this terminal: no secrets, no escape sequences."""
    from gpudoctor.privacy import CMDLINE_MAX
    from gpudoctor.privacy import Redactor
    from gpudoctor.privacy import shorten

    return shorten(Redactor(identities=False).text(cmdline).replace("\n", "\\n"), CMDLINE_MAX)


def make_recheck(ctx: Any, *, use_nvml: bool = True) -> Callable[[Target], str | None]:
    """The activity re-check run right before each signal (CPU, I/O, children, GPU samples)."""
    from gpudoctor.probes.gpu_processes import activity_since

    def recheck(target: Target) -> str | None:
        if target.observation is None:
            return None
        seen = activity_since(ctx, target.pid, dict(target.observation), use_nvml=use_nvml)
        if target.stopped:
            if seen.get("state") not in ("stopped", "tracing-stop", None):
                return "it was resumed after the observation; left alone"
            return None
        found = observed_activity(seen)
        return f"active after the observation ({found}); left alone" if found else None

    return recheck


def _worth_watching(inventory: Mapping[str, Any], idle_minutes: float) -> list[int]:
    """Holders an observation could turn into stop candidates (never services, zombies ...)."""
    pids = []
    for row, verdict in judge_all(inventory, idle_minutes=idle_minutes):
        if verdict.cls in _NOT_WATCHED or verdict.cls == "kernel-idle-unknown":
            continue
        if row.get("is_caller") or row.get("is_caller_ancestor") or row.get("in_caller_group"):
            continue
        pids.append(int(row["pid"]))
    return sorted(pids)


def _show_plan(kill_plan: KillPlan, say: Callable[[str], None]) -> None:
    if kill_plan.targets:
        say(f"Will stop {len(kill_plan.targets)} process(es):")
    for t in kill_plan.targets:
        memory = f", {t.gpu_memory_bytes / 1024**2:.0f} MiB GPU" if t.gpu_memory_bytes else ""
        idle = f", idle {t.idle_seconds:.0f} s" if t.idle_seconds is not None else ""
        say(f"  pid {t.pid} ({t.user or '?'}{memory}{idle}) {_shown(t.cmdline)}")
        say(f"      {t.kind}, {t.confidence} confidence: {t.reason}")
        for line in t.reasons:
            say(f"        - {line}")
    if kill_plan.skipped:
        say("Leaving alone:")
    for s in kill_plan.skipped:
        say(f"  pid {s.pid} {_shown(s.cmdline)}")
        say(f"      {s.kind}: {s.why}" if s.kind else f"      {s.why}")
        if s.remedy:
            say(f"      instead: {s.remedy}")


def _show_outcomes(outcomes: list[Outcome], say: Callable[[str], None]) -> None:
    for o in outcomes:
        say(f"  pid {o.target.pid}: {o.result}" + (f" ({o.detail})" if o.detail else ""))
    died = sum(1 for o in outcomes if o.result == "died")
    survived = sum(1 for o in outcomes if o.result in ("survived", "denied"))
    say(f"{died} stopped, {survived} survived, {len(outcomes) - died - survived} left alone.")


def _used(inventory: Mapping[str, Any] | None) -> int | None:
    if inventory is None:
        return None
    devices = inventory.get("devices")
    if not isinstance(devices, (list, tuple)) or not devices:
        return None
    values = [d.get("used_bytes") for d in devices]
    if not all(isinstance(v, int) for v in values):
        return None
    return sum(v for v in values if isinstance(v, int))


def _show_memory(
    before: Mapping[str, Any],
    after: Mapping[str, Any] | None,
    outcomes: list[Outcome],
    say: Callable[[str], None],
    idle_minutes: float,
) -> None:
    used_before, used_after = _used(before), _used(after)
    if used_before is not None and used_after is not None:
        freed = used_before - used_after
        say(
            f"GPU memory in use: {used_before / 1024**2:.0f} MiB before, "
            f"{used_after / 1024**2:.0f} MiB after ({freed / 1024**2:.0f} MiB freed)."
        )
    else:
        known = sum(o.target.gpu_memory_bytes or 0 for o in outcomes if o.result == "died")
        say(
            "GPU memory could not be re-measured (NVML gives no device totals here)"
            + (
                f"; the stopped processes were listed with {known / 1024**2:.0f} MiB."
                if known
                else "."
            )
        )
    if after is not None:
        left = [
            (row, j)
            for row, j in stale_holders(after, idle_minutes=idle_minutes)
            if j.killable and j.cls != "zombie"
        ]
        say(f"Stale GPU holders left (by the quick look): {len(left)}.")
