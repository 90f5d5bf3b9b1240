"""Real stand-in GPU holders for the staleness tests, started and always cleaned up.

Each holder is a real process (see ``gpu_holder_helper.py``) holding a temporary file that
stands in for ``/dev/nvidia0``; the inventory is pointed at that file instead of the device.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from gpudoctor.commands.fix_kill_stale import run_kill_stale

REPO = Path(__file__).resolve().parents[1]
HELPER = str(Path(__file__).with_name("gpu_holder_helper.py"))
#: A cgroup hierarchy where a test (as root) can make a "systemd service" of its own.
SYSTEMD_HIERARCHY = Path("/sys/fs/cgroup/systemd")


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Holders:
    """Starts stand-in GPU users and cleans every one of them up afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.device = root / "nvidia0"
        self.device.write_bytes(b"stand-in GPU device\n")
        self.children: list[subprocess.Popen[bytes]] = []
        self.others: list[psutil.Process] = []
        self.cgroups: list[Path] = []
        self.env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        self.count = 0

    def options(self, **more: Any) -> dict[str, Any]:
        return {"gpu_device_paths": [str(self.device)], "gpu_map_markers": [], **more}

    def kill_stale(
        self, lines: list[str], options: dict[str, Any] | None = None, **args: Any
    ) -> int:
        """``fix --kill-stale`` over these holders' stand-in device; its output goes to
        ``lines``. Unless told otherwise: own processes, confirmed, not a dry run."""
        settings: dict[str, Any] = {
            "all_users": False,
            "grace": 1.0,
            "idle_minutes": 30.0,
            "yes": True,
            "dry_run": False,
            "observe": 0.5,
        }
        settings.update(args)
        chosen = options if options is not None else {"worker_idle_seconds": 0.5}
        return run_kill_stale(options=self.options(**chosen), echo=lines.append, **settings)

    def wait_ready(self, ready: Path) -> int:
        wait_for(ready.exists)
        pid = int(ready.read_text())
        try:
            self.others.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
        return pid

    def start(self, mode: str, *extra: str, wait_launcher: bool = False) -> int:
        self.count += 1
        ready = self.root / f"{mode}-{self.count}.ready"
        argv = [sys.executable, HELPER, mode, str(self.device), str(ready), *extra]
        child = subprocess.Popen(argv, env=self.env, start_new_session=True)
        self.children.append(child)
        pid = self.wait_ready(ready)
        if wait_launcher:
            child.wait(15)  # the launcher has exited: its child is now an orphan
        return pid

    def orphan(self) -> int:
        return self.start("orphan", wait_launcher=True)

    def mp_orphan(self) -> int:
        return self.start("mp-orphan", wait_launcher=True)

    def periodic_orphan(self, busy: float, period: float) -> int:
        return self.start("orphan-periodic", str(busy), str(period), wait_launcher=True)

    def stopped(self) -> int:
        pid = self.start("hold")
        os.kill(pid, signal.SIGSTOP)
        wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
        return pid

    def supervised(self, count: int) -> tuple[int, list[int]]:
        ready = self.root / f"supervisor-{self.count}.ready"
        self.count += 1
        argv = [sys.executable, HELPER, "supervisor", str(self.device), str(ready), str(count)]
        self.children.append(subprocess.Popen(argv, env=self.env, start_new_session=True))
        supervisor = self.wait_ready(ready)
        kids = [self.wait_ready(Path(f"{ready}.{index}")) for index in range(count)]
        return supervisor, kids

    def service(self, unit: str, pid: int | None = None) -> int | None:
        """A holder (a new idle one, or ``pid``) moved into ``system.slice/UNIT`` of a real
        cgroup hierarchy; None if we may not make one here (not root, no such hierarchy)."""
        pid = self.start("hold") if pid is None else pid
        base = SYSTEMD_HIERARCHY if SYSTEMD_HIERARCHY.is_dir() else Path("/sys/fs/cgroup")
        group = base / "system.slice" / unit
        try:
            group.mkdir(parents=True, exist_ok=True)
            (group / "cgroup.procs").write_text(str(pid))
        except OSError:
            return None
        self.cgroups.append(group)
        return pid

    def cleanup(self) -> None:
        for proc in self.others:
            try:
                proc.kill()  # psutil checks the pid still names the same process
            except psutil.Error:
                pass
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(10)
        for group in self.cgroups:
            wait_for(lambda g=group: not (g / "cgroup.procs").read_text().strip(), 10)
            try:
                group.rmdir()
            except OSError:
                pass


def holders_fixture() -> Iterator[Holders]:
    # World-readable, so a process of another user can open the stand-in device too.
    root = Path(tempfile.mkdtemp(prefix="gpudoctor-holders-"))
    root.chmod(0o777)
    made = Holders(root)
    try:
        yield made
    finally:
        made.cleanup()
        shutil.rmtree(root, ignore_errors=True)
