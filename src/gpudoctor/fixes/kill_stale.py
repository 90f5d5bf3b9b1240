"""``gpudoctor fix --kill-stale``: stop stale processes that hold GPU memory, and only those.

:func:`plan` is pure: from an inventory (``gpu_processes`` facts) it decides what to stop and
why, and what to leave alone and why (other users, gpudoctor itself and its ancestors and
process group, zombies, low-confidence guesses). :func:`apply` is the only code that sends
signals. Right before signalling it re-checks each target's identity (pid plus start time),
on Linux through a pidfd so a pid reused after the check cannot be hit either; it asks
politely (SIGTERM, plus SIGCONT for a stopped process), waits ``grace`` seconds, then forces.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable

from gpudoctor.checks.staleness import CONFIDENCE_RANK
from gpudoctor.checks.staleness import MEDIUM
from gpudoctor.checks.staleness import judge_all
from gpudoctor.checks.staleness import protected

#: Seconds to wait for a process to vanish after the forceful signal.
FORCE_WAIT_S = 3.0
POLL_S = 0.05
#: Start times (seconds) closer than this are the same process (psutil rounds differently).
START_TIME_TOLERANCE_S = 0.05


def _process_json(pid: int, user: str | None, cmdline: str, kind: str) -> dict[str, Any]:
    """Which process, in the fix's JSON: the same keys for the stopped and the skipped."""
    return {"pid": pid, "user": user, "cmdline": cmdline, "class": kind}


@dataclass(frozen=True)
class Target:
    """A process the plan will stop, with the identity that must still match at signal time."""

    pid: int
    start_time: float | None
    start_ticks: int | None
    user: str | None
    cmdline: str
    kind: str
    confidence: str
    reasons: tuple[str, ...]
    gpu_memory_bytes: int | None
    stopped: bool = False
    reason: str = ""
    idle_seconds: float | None = None
    #: What the observation window saw (its end counters are the re-check's baseline).
    observation: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **_process_json(self.pid, self.user, self.cmdline, self.kind),
            "confidence": self.confidence,
            "reason": self.reason,
            "evidence": list(self.reasons),
            "measured_idle_seconds": self.idle_seconds,
            "gpu_memory_bytes": self.gpu_memory_bytes,
        }


@dataclass(frozen=True)
class Skipped:
    pid: int
    cmdline: str
    why: str
    kind: str = ""
    evidence: tuple[str, ...] = ()
    remedy: str = ""
    user: str | None = None
    idle_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **_process_json(self.pid, self.user, self.cmdline, self.kind),
            "reason": self.why,
            "evidence": list(self.evidence),
            "remedy": self.remedy,
            "measured_idle_seconds": self.idle_seconds,
        }


@dataclass(frozen=True)
class KillPlan:
    targets: tuple[Target, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "would_stop": [t.to_json() for t in self.targets],
            "left_alone": [s.to_json() for s in self.skipped],
            "notes": list(self.notes),
        }


@dataclass
class Outcome:
    """What happened to one target: died, survived, gone, identity-changed or denied."""

    target: Target
    result: str
    detail: str = ""
    signals: list[str] = field(default_factory=list)


# -- plan (pure) --------------------------------------------------------------------------


def plan(
    inventory: Mapping[str, Any],
    *,
    idle_minutes: float,
    all_users: bool,
    privileged: bool,
    current_uid: int | None,
    current_user: str | None,
    observations: Mapping[int, Mapping[str, Any]] | None = None,
    min_confidence: str = MEDIUM,
) -> KillPlan:
    """What to stop and why, and what to leave alone and why; touches nothing.

    Without ``observations`` only kernel facts (a stopped process) can justify a stop: every
    other class needs the observation window to have seen the candidate doing nothing.
    """
    if not inventory.get("applicable", True):
        return KillPlan(notes=(str(inventory.get("reason") or "nothing to look at here"),))
    targets: list[Target] = []
    skipped: list[Skipped] = []
    watched = observations or {}
    for row, verdict in judge_all(inventory, idle_minutes=idle_minutes, observations=watched):
        pid = int(row["pid"])
        cmdline = str(row.get("cmdline") or row.get("name") or "?")
        why = protected(row)
        if why is None and not verdict.stale:
            why = verdict.reason
        if why is None and not verdict.killable:
            why = f"{verdict.reason}; {verdict.advice}" if verdict.advice else verdict.reason
        if why is None and verdict.needs_observation and pid not in watched:
            why = "not observed: a stop needs an observation window that saw it do nothing"
        if why is None and CONFIDENCE_RANK[verdict.confidence] < CONFIDENCE_RANK[min_confidence]:
            why = f"only a {verdict.confidence}-confidence verdict ({verdict.reason})"
        if why is None and not _owned(row, current_uid, current_user):
            owner = row.get("user") or "an unknown user"
            if not (privileged and all_users):
                why = (
                    f"belongs to {owner}; other users' processes are stopped only when run as "
                    "root/Administrator with --all-users"
                )
        if why is not None:
            skipped.append(
                Skipped(
                    pid,
                    cmdline,
                    why,
                    kind=verdict.cls,
                    evidence=verdict.evidence,
                    remedy=verdict.remedy,
                    user=row.get("user"),
                    idle_seconds=verdict.idle_seconds,
                )
            )
            continue
        targets.append(
            Target(
                pid=pid,
                start_time=row.get("start_time"),
                start_ticks=row.get("start_ticks"),
                user=row.get("user"),
                cmdline=cmdline,
                kind=verdict.cls,
                confidence=verdict.confidence,
                reasons=verdict.evidence,
                gpu_memory_bytes=row.get("gpu_memory_bytes"),
                stopped=row.get("state") in ("stopped", "tracing-stop"),
                reason=verdict.reason,
                idle_seconds=verdict.idle_seconds,
                observation=watched.get(pid),
            )
        )
    return KillPlan(tuple(targets), tuple(skipped))


def _owned(row: Mapping[str, Any], uid: int | None, user: str | None) -> bool:
    if row.get("uid") is not None and uid is not None:
        return int(row["uid"]) == uid
    if row.get("user") and user:
        return str(row["user"]).lower() == user.lower()
    return False


# -- apply (signals) ----------------------------------------------------------------------


if sys.platform == "linux":  # pidfd_open and pidfd_send_signal exist only there

    class PidfdOps:
        """Linux: a pidfd pins the process, so the identity check and the signal cannot race."""

        def __init__(self, proc_root: str = "/proc") -> None:
            self.proc_root = proc_root

        def attach(self, target: Target) -> Any:
            try:
                fd = os.pidfd_open(target.pid)
            except ProcessLookupError:
                return "gone: it exited before it was signalled"
            ticks, state = self._start_ticks(target.pid)
            if ticks is None:
                os.close(fd)
                return "gone: it exited before it was signalled"
            if target.start_ticks is not None and ticks != target.start_ticks:
                os.close(fd)
                return "identity-changed: the pid now belongs to a newer process; left alone"
            if state == "Z":
                os.close(fd)
                return "gone: it had already exited (zombie)"
            return fd

        def _start_ticks(self, pid: int) -> tuple[int | None, str]:
            from gpudoctor.probes.proc_table import parse_stat

            try:
                with open(f"{self.proc_root}/{pid}/stat", "rb") as handle:
                    stat = parse_stat(pid, handle.read())
            except OSError:
                return None, ""
            return (stat.start_ticks, stat.state) if stat else (None, "")

        def polite(self, handle: Any, target: Target) -> list[str]:
            signal.pidfd_send_signal(handle, signal.SIGTERM)
            if target.stopped:
                signal.pidfd_send_signal(handle, signal.SIGCONT)
                return ["SIGTERM", "SIGCONT"]
            return ["SIGTERM"]

        def force(self, handle: Any, target: Target) -> list[str]:
            signal.pidfd_send_signal(handle, signal.SIGKILL)
            return ["SIGKILL"]

        def exited(self, handle: Any, target: Target) -> bool:
            import select

            readable, _, _ = select.select([handle], [], [], 0)
            return bool(readable)

        def release(self, handle: Any) -> None:
            os.close(handle)


class PsutilOps:
    """Elsewhere: psutil, comparing the start time before each signal."""

    def attach(self, target: Target) -> Any:
        import psutil

        try:
            proc = psutil.Process(target.pid)
            started = proc.create_time()
            if proc.status() == psutil.STATUS_ZOMBIE:
                return "gone: it had already exited (zombie)"
        except psutil.NoSuchProcess:
            return "gone: it exited before it was signalled"
        except psutil.Error as exc:
            return f"denied: {exc}"
        if target.start_time is not None and abs(started - target.start_time) > (
            START_TIME_TOLERANCE_S
        ):
            return "identity-changed: the pid now belongs to a newer process; left alone"
        return proc

    def polite(self, handle: Any, target: Target) -> list[str]:
        import psutil

        try:
            handle.terminate()  # SIGTERM; TerminateProcess on Windows (no polite option)
            if target.stopped and hasattr(signal, "SIGCONT"):
                handle.send_signal(signal.SIGCONT)
        except psutil.NoSuchProcess as exc:
            raise ProcessLookupError(str(exc)) from None
        except psutil.AccessDenied as exc:
            raise PermissionError(str(exc)) from None
        return ["terminate"]

    def force(self, handle: Any, target: Target) -> list[str]:
        import psutil

        try:
            handle.kill()
        except psutil.NoSuchProcess as exc:
            raise ProcessLookupError(str(exc)) from None
        except psutil.AccessDenied as exc:
            raise PermissionError(str(exc)) from None
        return ["kill"]

    def exited(self, handle: Any, target: Target) -> bool:
        import psutil

        try:
            return not handle.is_running() or handle.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def release(self, handle: Any) -> None:
        return None


def default_ops() -> Any:
    if sys.platform == "linux" and hasattr(os, "pidfd_open"):
        return PidfdOps()
    return PsutilOps()


def apply(
    kill_plan: KillPlan,
    *,
    grace: float,
    ops: Any = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    recheck: Callable[[Target], str | None] | None = None,
    deadline: float | None = None,
) -> list[Outcome]:
    """Signal the plan's targets: politely, then after ``grace`` seconds forcefully.

    ``recheck`` runs right before each target's signal, after its identity is pinned; a
    reason it returns (activity since the observation) drops the target. Past ``deadline``
    (a ``clock`` value) no further target is signalled.
    """
    ops = ops or default_ops()
    outcomes: list[Outcome] = []
    live: list[tuple[Outcome, Any]] = []
    for target in kill_plan.targets:
        if deadline is not None and clock() >= deadline:
            outcomes.append(Outcome(target, "not-signalled", "the command's time bound ran out"))
            continue
        handle = ops.attach(target)
        if isinstance(handle, str):
            result, _, detail = handle.partition(": ")
            outcomes.append(Outcome(target, result, detail))
            continue
        activity = recheck(target) if recheck is not None else None
        if activity is not None:
            outcomes.append(Outcome(target, "dropped", activity))
            ops.release(handle)
            continue
        outcome = Outcome(target, "survived")
        outcomes.append(outcome)
        try:
            outcome.signals += ops.polite(handle, target)
        except ProcessLookupError:
            outcome.result, outcome.detail = "gone", "it exited before it was signalled"
            ops.release(handle)
            continue
        except PermissionError as exc:
            outcome.result, outcome.detail = "denied", str(exc)
            ops.release(handle)
            continue
        live.append((outcome, handle))
    live = _wait(live, ops, clock() + grace, clock, sleep)
    for outcome, handle in live:
        try:
            outcome.signals += ops.force(handle, outcome.target)
        except (ProcessLookupError, PermissionError) as exc:
            outcome.detail = str(exc)
    live = _wait(live, ops, clock() + FORCE_WAIT_S, clock, sleep)
    for outcome, handle in live:
        outcome.detail = outcome.detail or (
            "still running after the forceful signal (stuck in the driver or in "
            "uninterruptible I/O?)"
        )
        ops.release(handle)
    return outcomes


def _wait(
    live: list[tuple[Outcome, Any]],
    ops: Any,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> list[tuple[Outcome, Any]]:
    while True:
        still = []
        for outcome, handle in live:
            if ops.exited(handle, outcome.target):
                outcome.result = "died"
                outcome.detail = "after " + " then ".join(outcome.signals)
                ops.release(handle)
            else:
                still.append((outcome, handle))
        live = still
        if not live or clock() >= deadline:
            return live
        sleep(POLL_S)


# -- the command --------------------------------------------------------------------------


def current_identity() -> tuple[int | None, str | None, bool]:
    """(real uid, user name, is root/Administrator) of whoever runs gpudoctor."""
    if sys.platform != "win32":
        import getpass

        try:
            name: str | None = getpass.getuser()
        except (KeyError, OSError):
            name = None
        return os.getuid(), name, os.geteuid() == 0
    import ctypes

    try:
        admin = bool(ctypes.windll.shell32.IsUserAnAdmin())
    except (AttributeError, OSError):
        admin = False
    import psutil

    try:
        name = psutil.Process().username()
    except psutil.Error:
        name = None
    return None, name, admin
