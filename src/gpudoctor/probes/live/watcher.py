"""The ``gpudoctor watch`` loop: attach to a PID or start a command, sample at a steady rate.

Ticks are scheduled on absolute deadlines (``start + n * interval``), so sampling never
drifts; a tick that overruns skips ahead instead of bunching up. When the watched tree stops
making progress for longer than the hang threshold, the Python stacks of every process are
taken once with py-spy. A started command keeps its terminal, its signals and its exit
code: Ctrl+C from the terminal reaches it directly, a signal sent to gpudoctor is forwarded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import IO
from typing import Any
from typing import Callable

import psutil

from gpudoctor.checks.live_signals import DEFAULT_THRESHOLDS
from gpudoctor.checks.live_signals import hang_threshold
from gpudoctor.checks.live_signals import progressing
from gpudoctor.errors import BadInputError
from gpudoctor.probes.live.facts import timeline_facts
from gpudoctor.probes.live.gpu import GpuSampler
from gpudoctor.probes.live.host import HostSampler
from gpudoctor.probes.live.host import is_wsl
from gpudoctor.probes.live.logtail import LogFollower
from gpudoctor.probes.live.proctree import ProcessTreeSampler
from gpudoctor.probes.live.stacks import capture
from gpudoctor.probes.live.timeline import End
from gpudoctor.probes.live.timeline import Header
from gpudoctor.probes.live.timeline import Sample
from gpudoctor.probes.live.timeline import StackCapture
from gpudoctor.probes.live.timeline import Timeline
from gpudoctor.probes.live.timeline import encode

#: Signals forwarded to a started command (SIGINT only when it did not come from the tty).
FORWARDED = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)
#: ``si_code`` of a signal the kernel generated (a terminal's Ctrl+C), not ``kill()``.
SI_KERNEL = 0x80
#: Samples kept in memory for the live view and the final analysis; the record file has all.
MAX_SAMPLES = 50_000
#: The derived hang threshold is recomputed this often (it needs the whole history).
RETHINK_EVERY = 30


@dataclass
class WatchOptions:
    interval: float = 1.0
    duration: float | None = None
    log: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    #: Stop at a hang (default: yes when attached by PID, no for a started command).
    stop_on_hang: bool | None = None
    #: Injected NVML module (tests: the fake); None imports pynvml.
    nvml_module: Any = None
    command_text: str = ""
    py_spy: str | None = None


Recorder = Callable[[dict[str, Any]], None]
Listener = Callable[[Timeline, Sample], None]


class Watch:
    """One watch session over the tree rooted at ``pid`` (a started ``child`` or not)."""

    def __init__(
        self,
        pid: int,
        options: WatchOptions,
        *,
        child: subprocess.Popen[bytes] | None = None,
        record: Recorder | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.options = options
        self.child = child
        self.record = record
        self.listener = listener
        try:
            self.tree = ProcessTreeSampler(pid)
        except psutil.NoSuchProcess:
            raise BadInputError(f"no process with id {pid}") from None
        except psutil.AccessDenied:
            raise BadInputError(f"not allowed to look at process {pid}") from None
        self.host = HostSampler()
        self.gpu = GpuSampler(options.nvml_module)
        self.log = LogFollower(options.log) if options.log else None
        self.me = psutil.Process()
        merged = dict(DEFAULT_THRESHOLDS)
        merged.update(options.thresholds)
        header = Header(
            interval=options.interval,
            target="command" if child is not None else "pid",
            command=options.command_text,
            platform=sys.platform,
            wsl=is_wsl(),
            gpu_note=self.gpu.note,
            thresholds=merged,
        )
        self.timeline = Timeline(header=header)
        self._emit(header)
        self._last_progress = 0.0
        self._hang_limit: float | None = None
        self.interrupted = 0
        self._my_prev: tuple[float, float] | None = None

    # -- records ------------------------------------------------------------------------
    def _emit(self, record: Header | Sample | StackCapture | End) -> None:
        if self.record is not None:
            self.record(encode(record))

    # -- one tick -----------------------------------------------------------------------
    def _watcher_cpu(self, now: float) -> float | None:
        times = self.me.cpu_times()
        total = float(times.user + times.system)
        prev, self._my_prev = self._my_prev, (now, total)
        if prev is None or now <= prev[0]:
            return None
        return round((total - prev[1]) / (now - prev[0]) * 100.0, 2)

    def tick(self, now: float, t: float) -> Sample:
        procs = tuple(self.tree.sample(now))
        gpus = self.gpu.sample()
        host = self.host.sample(now)
        delta = self.log.poll() if self.log else None
        sample = Sample(
            t=round(t, 3),
            procs=procs,
            gpus=gpus,
            host=host,
            log_lines=delta.lines if delta else None,
            steps=delta.steps if delta else None,
            eval_phase=bool(delta and delta.eval_phase),
            watcher_cpu=self._watcher_cpu(time.monotonic()),
        )
        samples = self.timeline.samples
        samples.append(sample)
        if len(samples) > MAX_SAMPLES:
            del samples[: len(samples) - MAX_SAMPLES]
        self._emit(sample)
        return sample

    def _hung(self, t: float) -> float | None:
        """Seconds without progress once that passes the hang threshold, else None."""
        samples = self.timeline.samples
        pair = Timeline(self.timeline.header, samples[-2:])
        facts = timeline_facts(pair)
        th = facts["thresholds"]
        if len(samples) < 2 or progressing(facts["series"], len(pair.samples) - 1, th):
            self._last_progress = t
            return None
        if self._hang_limit is None or len(samples) % RETHINK_EVERY == 0:
            self._hang_limit, _ = hang_threshold(timeline_facts(self.timeline))
        idle = t - self._last_progress
        return idle if idle >= self._hang_limit else None

    def _take_stacks(self, t: float, idle: float) -> None:
        # py-spy reads Python processes only (a launcher shell has no Python stack).
        targets = [
            (s.pid, s.role)
            for s in self.timeline.samples[-1].procs
            if s.role in ("main", "worker", "python")
        ]
        result = capture(
            targets,
            t=round(t, 3),
            reason=f"no progress for {idle:.1f} s",
            binary=self.options.py_spy,
        )
        self.timeline.stacks.append(result)
        self._emit(result)

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> Timeline:
        opts = self.options
        start = time.monotonic()
        n = 0
        reason, code = "exited", None
        use_sigwait = self.child is not None and _can_sigwait()
        previous: dict[int, Any] = {}
        if use_sigwait and sys.platform != "win32":
            signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        elif self.child is not None and _in_main_thread():
            previous = self._install_forwarders()
        try:
            while True:
                now = time.monotonic()
                t = now - start
                self.tick(now, t)
                if self.listener is not None:
                    self.listener(self.timeline, self.timeline.samples[-1])
                if not self.tree.alive():
                    code = self._child_code()
                    break
                if opts.duration is not None and t >= opts.duration:
                    reason = "duration"
                    break
                idle = self._hung(t)
                if idle is not None and not self.timeline.stacks:
                    self._take_stacks(time.monotonic() - start, idle)
                    stop = opts.stop_on_hang
                    if stop is None:
                        stop = self.child is None
                    if stop:
                        reason = "hang"
                        break
                n += 1
                deadline = start + n * opts.interval
                now = time.monotonic()
                if deadline <= now:  # overran: skip the missed ticks, keep the grid
                    n = int((now - start) / opts.interval) + 1
                    deadline = start + n * opts.interval
                self._wait(deadline - now, use_sigwait)
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            if use_sigwait and sys.platform != "win32":
                signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.gpu.close()
        if self.interrupted and reason == "exited":
            reason = "interrupted"
        if self.child is not None and reason != "exited" and reason != "interrupted":
            code = None
        end = End(t=round(time.monotonic() - start, 3), reason=reason, exit_code=code)
        self.timeline.end = end
        self._emit(end)
        return self.timeline

    def _child_code(self) -> int | None:
        if self.child is None:
            return None
        code = self.child.wait()
        return 128 - code if code < 0 else code

    def _wait(self, seconds: float, use_sigwait: bool) -> None:
        if seconds <= 0:
            return
        if not use_sigwait:
            if self.child is not None:
                try:
                    self.child.wait(timeout=seconds)  # wakes early when the command ends
                except subprocess.TimeoutExpired:
                    pass
            else:
                time.sleep(seconds)
            return
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # Short waits so the command's end is seen within a quarter second.
            info = _SIGTIMEDWAIT(FORWARDED, min(left, 0.25)) if _SIGTIMEDWAIT else None
            if info is not None:
                self._forward(info)
            elif self._child_done():
                return

    def _install_forwarders(self) -> dict[int, Any]:
        """Without sigtimedwait (macOS, Windows): handlers that forward, except Ctrl+C,
        which the console or terminal already gave the command; it is only counted."""
        previous: dict[int, Any] = {}

        def handle(signum: int, frame: Any) -> None:
            if signum == signal.SIGINT:
                self.interrupted += 1
                return
            assert self.child is not None
            try:
                self.child.send_signal(signum)
            except OSError:
                pass

        for signum in FORWARDED:
            try:
                previous[signum] = signal.signal(signum, handle)
            except (OSError, ValueError):
                continue
        return previous

    def _child_done(self) -> bool:
        return self.child is not None and self.child.poll() is not None

    def _forward(self, info: Any) -> None:
        assert self.child is not None
        if info.si_signo == signal.SIGINT:
            self.interrupted += 1
        from_tty = info.si_code == SI_KERNEL and _same_group(self.child.pid)
        if from_tty:
            return  # the terminal sent it to the whole foreground group, the command included
        try:
            os.kill(self.child.pid, info.si_signo)
        except OSError:
            pass


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


#: ``signal.sigtimedwait`` where the platform has it (Linux and most Unixes; not macOS).
_SIGTIMEDWAIT: Callable[..., Any] | None = getattr(signal, "sigtimedwait", None)


def _can_sigwait() -> bool:
    return _SIGTIMEDWAIT is not None and _in_main_thread()


def _same_group(pid: int) -> bool:
    if sys.platform == "win32":
        return False
    try:
        same: bool = os.getpgid(pid) == os.getpgid(0)
        return same
    except OSError:
        return False


def start_command(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start the training as it would start without gpudoctor: same terminal, env and group."""
    try:
        return subprocess.Popen(list(argv))
    except FileNotFoundError:
        raise BadInputError(f"command not found: {argv[0]}") from None
    except PermissionError:
        raise BadInputError(f"cannot run {argv[0]}: permission denied") from None
    except OSError as exc:
        raise BadInputError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None


class LineRecorder:
    """Writes timeline records as redacted JSON lines, flushed each tick."""

    def __init__(self, handle: IO[str], redact: Callable[[Any], Any]) -> None:
        self.handle = handle
        self.redact = redact

    def __call__(self, record: dict[str, Any]) -> None:
        import json

        self.handle.write(json.dumps(self.redact(record), separators=(",", ":")) + "\n")
        self.handle.flush()
