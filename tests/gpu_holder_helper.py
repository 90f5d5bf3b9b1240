"""Stand-in GPU users for the process tests: they hold a "device" file open and behave.

Run as ``python gpu_holder_helper.py MODE DEVICE READY [EXTRA...]``; every mode writes the pid
of the process that holds DEVICE into READY (atomically) once it is in place:

- ``hold``: open DEVICE, sleep (an idle holder whose parent is alive).
- ``busy``: open DEVICE, compute without pause (a live training run).
- ``periodic``: open DEVICE, compute BUSY seconds every PERIOD seconds (EXTRA: BUSY PERIOD),
  like a training step waiting on its data most of the time.
- ``orphan`` / ``orphan-periodic``: start ``hold`` / ``periodic`` in the background and exit,
  so the holder is adopted (and its process-group leader is gone).
- ``mp-orphan``: start a multiprocessing (spawn) worker that holds DEVICE, then exit without
  waiting for it: the idle worker of a crashed run.
- ``input``: a feeder that starts a consumer holding DEVICE and sends it a batch every 0.4 s
  (an input-bound job whose parent is alive); READY names the consumer.
- ``supervisor``: call itself ``tini`` (prctl) and start EXTRA[0] idle ``hold`` children,
  writing their pids to READY.0, READY.1 ...; READY names the supervisor.
- ``zombie``: fork a child that exits at once and never collect it; READY names the zombie.
- ``caller-parent`` / ``orphan-caller-parent``: a holder that runs ``fix --kill-stale`` as its
  own child (the caller), recording the child's output in EXTRA[0].
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import subprocess
import sys
import time


def ready_file(path: str, pid: int) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        out.write(str(pid))
    os.replace(tmp, path)


def spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def hold(device: str, ready: str) -> None:
    """Idle; SIGUSR1 makes it work for 0.3 s (a test's way to wake it up)."""
    signal.signal(signal.SIGUSR1, lambda *_: spin(0.3))
    handle = open(device, "rb")  # noqa: SIM115 - held open on purpose until we are killed
    ready_file(ready, os.getpid())
    while True:
        time.sleep(600)
    handle.close()


def worker(device: str, ready: str) -> None:
    """The body of a multiprocessing worker (spawned: its command line says so)."""
    hold(device, ready)


def periodic(device: str, ready: str, busy: float, period: float) -> None:
    handle = open(device, "rb")  # noqa: SIM115
    ready_file(ready, os.getpid())
    while True:
        spin(busy)
        time.sleep(max(0.0, period - busy))
    handle.close()


def consumer(device: str, ready: str) -> None:
    handle = open(device, "rb")  # noqa: SIM115
    ready_file(ready, os.getpid())
    for line in sys.stdin:
        if line:
            spin(0.02)  # a short step on each batch
    handle.close()


def feeder(device: str, ready: str) -> None:
    child = subprocess.Popen(
        [sys.executable, __file__, "consumer", device, ready], stdin=subprocess.PIPE
    )
    assert child.stdin is not None
    while child.poll() is None:
        try:
            child.stdin.write(b"batch " * 16384 + b"\n")
            child.stdin.flush()
        except BrokenPipeError:
            break
        time.sleep(0.4)


def supervisor(device: str, ready: str, count: int) -> None:
    try:
        ctypes.CDLL(None).prctl(15, b"tini", 0, 0, 0)  # PR_SET_NAME: comm becomes "tini"
    except (OSError, AttributeError):
        pass
    children = [
        subprocess.Popen([sys.executable, __file__, "hold", device, f"{ready}.{index}"])
        for index in range(count)
    ]
    for index in range(count):
        while not os.path.exists(f"{ready}.{index}"):
            time.sleep(0.01)
    ready_file(ready, os.getpid())
    for child in children:
        child.wait()


def zombie(ready: str) -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    ready_file(ready, pid)
    time.sleep(600)  # never waits: the child stays a zombie


def caller_parent(device: str, ready: str, output: str) -> None:
    handle = open(device, "rb")  # noqa: SIM115
    code = (
        "import json, sys\n"
        "from gpudoctor.commands.fix_kill_stale import run_kill_stale\n"
        "lines = []\n"
        "rc = run_kill_stale(all_users=False, grace=1.0, idle_minutes=30, yes=True,"
        " dry_run=False, observe=0.3, echo=lines.append,"
        f" options={{'gpu_device_paths': [{device!r}], 'gpu_map_markers': [],"
        " 'worker_idle_seconds': 0.1})\n"
        "print(json.dumps({'rc': rc, 'lines': lines}))\n"
    )
    time.sleep(0.3)  # let the launcher exit first, so this process is an orphan
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    with open(output + ".tmp", "w") as out:
        out.write(result.stdout or result.stderr)
    os.replace(output + ".tmp", output)
    ready_file(ready, os.getpid())
    time.sleep(600)
    handle.close()


def main() -> None:
    mode, device, ready, *extra = sys.argv[1:]
    me = [sys.executable, __file__]
    if mode == "hold":
        hold(device, ready)
    elif mode == "busy":
        handle = open(device, "rb")  # noqa: SIM115
        ready_file(ready, os.getpid())
        spin(600)
        handle.close()
    elif mode == "periodic":
        periodic(device, ready, float(extra[0]), float(extra[1]))
    elif mode in ("orphan", "orphan-periodic"):
        subprocess.Popen(
            [*me, mode.replace("orphan-", "").replace("orphan", "hold"), device, ready, *extra]
        )
        os._exit(0)
    elif mode == "mp-orphan":
        ctx = multiprocessing.get_context("spawn")
        ctx.Process(target=worker, args=(device, ready)).start()
        while not os.path.exists(ready):
            time.sleep(0.01)
        os._exit(0)
    elif mode == "consumer":
        consumer(device, ready)
    elif mode == "input":
        feeder(device, ready)
    elif mode == "supervisor":
        supervisor(device, ready, int(extra[0]))
    elif mode == "zombie":
        zombie(ready)
    elif mode == "orphan-caller-parent":
        subprocess.Popen([*me, "caller-parent", device, ready, *extra])
        os._exit(0)
    elif mode == "caller-parent":
        caller_parent(device, ready, extra[0])


if __name__ == "__main__":
    main()
