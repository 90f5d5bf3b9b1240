"""``gpudoctor check`` against collect_env and the import floor, with and without a GPU holder.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_check.py [--rounds 9] [--check]

Measures, in paired interleaved rounds (see ``paired.py``):

* ``check`` on this machine where nothing holds the GPU;
* ``check`` where a process holds the GPU: a helper process opens and maps a stand-in device
  file, and ``check`` is told to treat that file as a GPU device (both ``check`` runs get the
  same wrapper, each with its own stand-in path, so only the holder differs);
* ``check`` as on a terminal (``FORCE_COLOR=1``: colour and Unicode marks, drawn by rich),
  for reference: piped and redirected output is laid out without rich;
* ``python -m torch.utils.collect_env`` (needs torch);
* the import floor: a bare interpreter importing the same third-party modules ``check``
  imports, every dotted name (``click.core``, ``packaging.version``, ...), found
  by running ``check`` once and listing ``sys.modules`` at exit. Importing only the top-level
  packages (``import click, packaging, psutil, pynvml``) loads far less than ``check``
  needs (``import packaging`` loads none of ``packaging.version``, ``packaging.tags`` ...),
  so a floor of top-level names alone would charge gpudoctor for its dependencies'
  submodules. That smaller floor is still timed
  and printed, for reference (``top-level floor``); the goal is judged against the
  same-modules floor.

Goals (issue 20): ``check`` <= 0.08x collect_env's wall time and <= 1.5x the import floor,
with and without the holder. ``--check`` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import mmap
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import interleaved  # noqa: E402
from paired import machine_line  # noqa: E402
from paired import paired_ratio  # noqa: E402
from paired import spread  # noqa: E402

WRAPPER = """
import sys
import gpudoctor.probes.gpu_processes as g
fake = sys.argv[1]
g.DEFAULT_DEVICE_PATHS = (*g.DEFAULT_DEVICE_PATHS, fake)
g.DEFAULT_MAP_MARKERS = (*g.DEFAULT_MAP_MARKERS, fake)
from gpudoctor.cli import run
if len(sys.argv) > 2:
    import atexit
    def modules():
        names = set()
        for name in list(sys.modules):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top.startswith("_") or top == "gpudoctor":
                continue
            names.add(name)
        with open(sys.argv[2], "w") as out:
            out.write(",".join(sorted(names)))
    atexit.register(modules)
run(["check"])
"""

#: ``check`` as a terminal sees it (colour, Unicode marks, drawn by rich): a reference row.
TERMINAL_WRAPPER = "import os\nos.environ['FORCE_COLOR'] = '1'\n" + WRAPPER

HOLDER = """
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
mapping = mmap.mmap(fd, 4096)
open(sys.argv[2], "w").write(str(os.getpid()))
time.sleep(3600)
"""


def start_holder(device: Path, ready: Path) -> subprocess.Popen[bytes]:
    """A process that keeps ``device`` open and mapped, as a CUDA process keeps /dev/nvidia*."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(device), str(ready)])
    deadline = time.monotonic() + 30
    while not ready.exists():
        if time.monotonic() > deadline or holder.poll() is not None:
            holder.kill()
            raise SystemExit("the holder process did not start")
        time.sleep(0.05)
    return holder


def imported_modules(py: str, fake: Path, scratch: Path) -> list[str]:
    out = scratch / "modules.txt"
    subprocess.run(
        [py, "-c", WRAPPER, str(fake), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return [m for m in out.read_text().split(",") if m]


def have_torch(py: str) -> bool:
    code = "import importlib.util as u; raise SystemExit(u.find_spec('torch') is None)"
    return subprocess.run([py, "-c", code], check=False).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="gpudoctor-benchcheck-") as tmp:
        scratch = Path(tmp)
        held, free = scratch / "nvidia-held", scratch / "nvidia-free"
        for device in (held, free):
            device.write_bytes(b"\0" * mmap.PAGESIZE)
        holder = start_holder(held, scratch / "ready")
        try:
            modules = imported_modules(py, free, scratch)
            tops = sorted({name.split(".")[0] for name in modules})
            commands = {
                "check": [py, "-c", WRAPPER, str(free)],
                "check (holder)": [py, "-c", WRAPPER, str(held)],
                "check (terminal)": [py, "-c", TERMINAL_WRAPPER, str(free)],
                "import floor": [py, "-c", "import " + ", ".join(modules or ["sys"])],
                "top-level floor": [py, "-c", "import " + ", ".join(tops or ["sys"])],
            }
            if have_torch(py):
                commands["collect_env"] = [py, "-m", "torch.utils.collect_env"]
            results = interleaved(commands, args.rounds)
        finally:
            holder.kill()
            holder.wait()
    print(machine_line(args.rounds))
    print(f"import floor imports {len(modules)} modules of: {', '.join(tops)}")
    print(f"{'command':<18}{'wall s':>26}{'cpu s':>26}{'peak MiB':>10}")
    for label, runs in results.items():
        print(
            f"{label:<18}{spread(runs.walls):>26}{spread(runs.cpus):>26}"
            f"{runs.median('rss_kib') / 1024:>10.1f}  exit {sorted(set(runs.codes))}"
        )
    if "collect_env" in results:
        terminal = paired_ratio(results["check (terminal)"], results["collect_env"])
        print(f"check (terminal) / collect_env: wall {spread(terminal)} (reference: rich draws it)")
    failures = []
    for label in ("check", "check (holder)"):
        runs = results[label]
        floor = paired_ratio(runs, results["import floor"])
        floor_cpu = paired_ratio(runs, results["import floor"], "cpus")
        print(
            f"{label} / import floor: wall {spread(floor)}, cpu {spread(floor_cpu)} (goal <= 1.5)"
        )
        top = paired_ratio(runs, results["top-level floor"])
        top_cpu = paired_ratio(runs, results["top-level floor"], "cpus")
        print(f"{label} / top-level floor: wall {spread(top)}, cpu {spread(top_cpu)} (reference)")
        if sorted(floor)[len(floor) // 2] > 1.5:
            failures.append(f"{label} is more than 1.5x the import floor")
        if "collect_env" in results:
            env = paired_ratio(runs, results["collect_env"])
            env_cpu = paired_ratio(runs, results["collect_env"], "cpus")
            print(
                f"{label} / collect_env: wall {spread(env)}, cpu {spread(env_cpu)} (goal <= 0.08)"
            )
            if sorted(env)[len(env) // 2] > 0.08:
                failures.append(f"{label} takes more than 0.08x collect_env's time")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
