"""Sample a training's process tree: the main process, its DataLoader workers, other children.

Uses psutil, reading each process's counters once per tick (``oneshot``), so the cost stays
a few system calls per process. CPU is computed from cumulative times between ticks, which
needs no sleeping and never drifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from gpudoctor.probes.live.timeline import ProcSample

#: Command-line fragments that mark a Python child as a worker (DataLoader, multiprocessing).
_WORKER_MARKS = ("multiprocessing", "spawn_main", "forkserver", "python")


@dataclass
class _Prev:
    t: float
    cpu: float
    user: float


class ProcessTreeSampler:
    """Reads the tree under ``root_pid`` each time it is called."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.root = psutil.Process(root_pid)
        self._prev: dict[int, _Prev] = {}
        self._procs: dict[int, psutil.Process] = {root_pid: self.root}

    def alive(self) -> bool:
        try:
            return bool(self.root.is_running() and self.root.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False

    def pids(self) -> list[tuple[int, str]]:
        """(pid, role) of every live process in the tree, main process first."""
        return [(s.pid, s.role) for s in self.sample(record=False)]

    def sample(self, now: float | None = None, *, record: bool = True) -> list[ProcSample]:
        import time

        now = time.monotonic() if now is None else now
        try:
            children = self.root.children(recursive=True)
        except psutil.Error:
            children = []
        found: list[tuple[psutil.Process, str]] = [(self.root, "main")]
        for child in children:
            # Keep the Process object per pid: psutil caches its identity (create time).
            proc = self._procs.setdefault(child.pid, child)
            found.append((proc, "child"))
        out: list[ProcSample] = []
        seen: set[int] = set()
        for proc, role in found:
            sample = self._read(proc, role, now, record)
            if sample is not None:
                out.append(sample)
                seen.add(proc.pid)
        if record:
            for pid in list(self._prev):
                if pid not in seen:
                    self._prev.pop(pid, None)
                    self._procs.pop(pid, None)
        return out

    def _read(self, proc: psutil.Process, role: str, now: float, record: bool) -> ProcSample | None:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                status = proc.status()
                rss = proc.memory_info().rss
                name = proc.name()
                if role == "child" and _is_worker(proc):
                    role = "worker"
                try:
                    io = proc.io_counters()
                    read_b: int | None = int(getattr(io, "read_chars", io.read_bytes))
                    write_b: int | None = int(getattr(io, "write_chars", io.write_bytes))
                except (psutil.AccessDenied, AttributeError, NotImplementedError):
                    read_b = write_b = None
        except psutil.Error:
            return None
        total = float(times.user + times.system)
        user = float(times.user)
        prev = self._prev.get(proc.pid)
        cpu = user_cpu = 0.0
        if prev is not None and now > prev.t:
            cpu = max(0.0, (total - prev.cpu) / (now - prev.t) * 100.0)
            user_cpu = max(0.0, (user - prev.user) / (now - prev.t) * 100.0)
        if record:
            self._prev[proc.pid] = _Prev(now, total, user)
        return ProcSample(
            pid=proc.pid,
            role=role,
            name=name,
            status=str(status),
            cpu=round(cpu, 1),
            user_cpu=round(user_cpu, 1),
            rss=int(rss),
            read_bytes=read_b,
            write_bytes=write_b,
        )


def _is_worker(proc: psutil.Process) -> bool:
    """A Python child is treated as a data-loading worker (fork keeps the parent's cmdline)."""
    try:
        cmdline = " ".join(proc.cmdline()).lower()
    except psutil.Error:
        return False
    return any(mark in cmdline for mark in _WORKER_MARKS)
