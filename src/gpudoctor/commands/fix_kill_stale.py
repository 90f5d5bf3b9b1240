"""``gpudoctor fix --kill-stale`` on a terminal: look, show, confirm, stop, re-measure."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Callable

import click

from gpudoctor.checks.staleness import stale_holders
from gpudoctor.errors import BadInputError
from gpudoctor.fixes.kill_stale import KillPlan, Outcome, apply, current_identity, plan


def run_kill_stale(
    *,
    all_users: bool,
    grace: float,
    idle_minutes: float,
    yes: bool,
    dry_run: bool,
    options: Mapping[str, Any] | None = None,
    inventory: Mapping[str, Any] | None = None,
    ops: Any = None,
    echo: Callable[[str], None] | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> int:
    """Plan, show, confirm, stop, then re-measure; returns the exit code.

    ``options`` reach the inventory as ``ctx.options`` (tests pass stand-in device paths);
    ``inventory`` skips the first look entirely.
    """
    from gpudoctor.probes import ProbeContext
    from gpudoctor.probes.gpu_processes import collect_inventory

    say = echo or click.echo
    opts = {**dict(options or {}), "idle_minutes": idle_minutes}

    def look() -> Mapping[str, Any]:
        return collect_inventory(ProbeContext(options=opts))

    before = inventory if inventory is not None else look()
    uid, user, privileged = current_identity()
    if all_users and not privileged:
        say("gpudoctor: --all-users needs root/Administrator; only your own processes count.")
    kill_plan = plan(
        before,
        idle_minutes=idle_minutes,
        all_users=all_users,
        privileged=privileged,
        current_uid=uid,
        current_user=user,
    )
    for note in kill_plan.notes:
        say(f"gpudoctor: {note}")
    _show_plan(kill_plan, say)
    if not kill_plan.targets:
        say("Nothing stale to stop: no process holding the GPU looks stale.")
        return 0
    if dry_run:
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
    outcomes = apply(kill_plan, grace=grace, ops=ops)
    _show_outcomes(outcomes, say)
    after = look() if inventory is None else None
    _show_memory(before, after, outcomes, say, idle_minutes)
    bad = [o for o in outcomes if o.result in ("survived", "denied")]
    return 1 if bad else 0


def _show_plan(kill_plan: KillPlan, say: Callable[[str], None]) -> None:
    if kill_plan.targets:
        say(f"Will stop {len(kill_plan.targets)} process(es):")
    for t in kill_plan.targets:
        memory = f", {t.gpu_memory_bytes / 1024**2:.0f} MiB GPU" if t.gpu_memory_bytes else ""
        say(f"  pid {t.pid} ({t.user or '?'}{memory}) {t.cmdline}")
        say(f"      {t.kind}, {t.confidence} confidence: {'; '.join(t.reasons)}")
    if kill_plan.skipped:
        say("Leaving alone:")
    for s in kill_plan.skipped:
        say(f"  pid {s.pid} {s.cmdline}")
        say(f"      {s.why}")


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
    return sum(values)  # type: ignore[arg-type]


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
        left = stale_holders(after, idle_minutes=idle_minutes)
        say(f"Stale GPU holders left: {len(left)}.")
