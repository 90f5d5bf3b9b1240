"""Stand-in GPU users for the process tests: they hold a "device" file open and sleep.

Run as ``python gpu_holder_helper.py MODE DEVICE READY [EXTRA...]``:

- ``hold``: open DEVICE, write our pid to READY, sleep.
- ``orphan``: start a ``hold`` child in the background and exit, so the child is orphaned.
- ``caller-parent``: start as an orphan that holds DEVICE and runs ``fix --kill-stale``
  as its own child (the caller), recording the child's output in EXTRA[0].
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def hold(device: str, ready: str) -> None:
    handle = open(device, "rb")  # noqa: SIM115 - held open on purpose until we are killed
    tmp = ready + ".tmp"
    with open(tmp, "w") as out:
        out.write(str(os.getpid()))
    os.replace(tmp, ready)
    time.sleep(120)
    handle.close()


def main() -> None:
    mode, device, ready, *extra = sys.argv[1:]
    if mode == "hold":
        hold(device, ready)
    elif mode == "orphan":
        subprocess.Popen([sys.executable, __file__, "hold", device, ready])
        os._exit(0)
    elif mode == "orphan-caller-parent":
        subprocess.Popen([sys.executable, __file__, "caller-parent", device, ready, *extra])
        os._exit(0)
    elif mode == "caller-parent":
        handle = open(device, "rb")  # noqa: SIM115
        code = (
            "import json, sys\n"
            "from gpudoctor.commands.fix_kill_stale import run_kill_stale\n"
            "lines = []\n"
            "rc = run_kill_stale(all_users=False, grace=1.0, idle_minutes=30, yes=True,"
            " dry_run=False, echo=lines.append,"
            f" options={{'gpu_device_paths': [{device!r}], 'gpu_map_markers': [],"
            " 'cpu_sample_seconds': 0.3})\n"
            "print(json.dumps({'rc': rc, 'lines': lines}))\n"
        )
        time.sleep(0.3)  # let the launcher exit first, so this process is an orphan
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        with open(extra[0] + ".tmp", "w") as out:
            out.write(result.stdout or result.stderr)
        os.replace(extra[0] + ".tmp", extra[0])
        with open(ready, "w") as out:
            out.write(str(os.getpid()))
        time.sleep(120)
        handle.close()


if __name__ == "__main__":
    main()
