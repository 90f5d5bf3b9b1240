"""Sample a training's process tree: the main process, its DataLoader workers, other children.

Uses psutil, reading each process's counters once per tick (``oneshot``), so the cost stays
a few system calls per process. CPU is computed from cumulative times between ticks, which
needs no sleeping and never drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import psutil

from gpudoctor.probes.live.timeline import ProcSample


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
        out = assign_roles(out, {p.pid: _ppid(p) for p, _ in found})
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
                if role == "child" and _is_python(proc):
                    role = "python"
                elif role == "main" and not _is_python(proc):
                    role = "root"  # a launcher; assign_roles finds the Python below it
                try:
                    io = getattr(proc, "io_counters", _no_io_counters)()
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


def _ppid(proc: psutil.Process) -> int:
    try:
        return int(proc.ppid())
    except psutil.Error:
        return 0


def _is_python(proc: psutil.Process) -> bool:
    """A Python process: its name (torch names DataLoader workers ``pt_data_worker``)
    or the program it runs."""
    try:
        name = proc.name().lower()
        if "python" in name or name == "pt_data_worker":
            return True
        cmdline = proc.cmdline()
    except psutil.Error:
        return False
    return bool(cmdline) and "python" in cmdline[0].rsplit("/", 1)[-1].lower()


def assign_roles(samples: list[ProcSample], parents: dict[int, int]) -> list[ProcSample]:
    """Name each process's part in the run (pure).

    The root is ``main`` when it runs Python; under a launcher (a shell script, ``uv run``)
    the shallowest Python process becomes ``main`` and the root ``launcher``. Python
    processes below ``main`` are ``worker`` (DataLoader workers, multiprocessing children);
    anything else is ``child``.
    """
    from dataclasses import replace

    if not samples:
        return samples
    root = samples[0]
    python = {s.pid for s in samples if s.role in ("main", "python")}
    root_is_python = root.role == "main"
    main_pid = root.pid
    if not root_is_python:
        candidates = [s for s in samples[1:] if s.pid in python]
        if candidates:
            main_pid = min(candidates, key=lambda s: _depth(s.pid, parents, root.pid)).pid
    out = []
    for s in samples:
        if s.pid == main_pid:
            role = "main"
        elif s.pid == root.pid:
            role = "launcher"
        elif s.role == "python" and _below(s.pid, main_pid, parents):
            role = "worker"
        elif s.role == "python":
            role = "python"
        else:
            role = "child"
        out.append(s if s.role == role else replace(s, role=role))
    out.sort(key=lambda s: (s.role != "main", s.role != "launcher"))
    return out


def _depth(pid: int, parents: dict[int, int], root: int) -> int:
    depth = 0
    while pid != root and pid in parents and depth < 64:
        pid = parents[pid]
        depth += 1
    return depth


def _below(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    for _ in range(64):
        pid = parents.get(pid, 0)
        if pid == ancestor:
            return True
        if pid == 0:
            return False
    return False


def _no_io_counters() -> NoReturn:
    """psutil has no per-process I/O counters on macOS."""
    raise NotImplementedError("no per-process I/O counters on this platform")
