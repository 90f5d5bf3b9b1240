"""``fix --wslconfig`` on 1,000 generated files: WSL must read what was shown, or nothing changes.

Usage (as root for the tmpfs cases, which run in a private mount namespace)::

    PYTHONPATH=src python benchmarks/wslconfig_fix_stress.py [--files 1000] [--seed 0]

Every file goes through :func:`gpudoctor.testing.wslconfig_gen.run_case`: after the fix the
file holds exactly the bytes of the diff shown and WSL reads the announced values, the
backup is byte-identical with the original's mode, and GD503 has nothing left to report; or
the fix refused with exit 2 and the file, its mode and its folder are as before. Cases:
plain files (several modes), symlinks to the file, and, on a tiny tmpfs mounted inside
``unshare -m``: a disk full to the last page, a disk with one free page (the backup fits,
the new file does not), and a file system remounted read-only.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gpudoctor.testing.wslconfig_gen import Outcome  # noqa: E402
from gpudoctor.testing.wslconfig_gen import generate  # noqa: E402
from gpudoctor.testing.wslconfig_gen import run_case  # noqa: E402

PAGE = 4096


def _fill(folder: Path, leave_pages: int) -> None:
    """Fill the file system of ``folder`` page by page, then free ``leave_pages`` pages."""
    fillers: list[Path] = []
    count = 0
    while True:
        path = folder / f".filler{count}"
        try:
            with open(path, "wb") as handle:
                handle.write(b"\0" * PAGE)
        except OSError:
            path.unlink(missing_ok=True)
            break
        fillers.append(path)
        count += 1
    for path in fillers[:leave_pages]:
        path.unlink()


def _mount(folder: Path, options: str) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "none", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def _mounted_case(kind: str, data: bytes, index: int) -> Outcome:
    folder = Path(tempfile.mkdtemp(prefix=f"gd-{kind}-"))
    if not _mount(folder, "size=64k,mode=0755"):
        raise SystemExit("cannot mount a tmpfs (need root inside unshare -m)")
    try:
        if kind == "readonly":

            def before() -> None:
                subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)

        else:
            pages = 0 if kind == "full" else 1

            def before() -> None:
                _fill(folder, pages)

        outcome = run_case(folder, data, link=index % 2 == 0, before_fix=before)
        if kind in ("full", "readonly") and outcome.changed:
            outcome = Outcome(outcome.exit_code, False, f"{kind}: the file changed", True)
        return outcome
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only-mounts", action="store_true")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    mounts = os.geteuid() == 0 and shutil.which("unshare") is not None
    if mounts and not args.inside:
        argv = [sys.executable, __file__, *sys.argv[1:], "--inside"]
        return subprocess.call(["unshare", "-m", "--propagation", "private", *argv])
    rng = random.Random(args.seed)
    counts: collections.Counter[str] = collections.Counter()
    bad: list[tuple[str, str, str]] = []
    slowest = 0.0
    started = time.perf_counter()
    for index in range(args.files):
        data, desc = generate(rng)
        roll = index % 20
        if args.only_mounts or roll >= 17:
            kind = ("full", "onepage", "readonly")[index % 3] if mounts else "plain"
        elif roll >= 13:
            kind = "symlink"
        else:
            kind = "plain"
        t0 = time.perf_counter()
        if kind in ("full", "onepage", "readonly"):
            outcome = _mounted_case(kind, data, index)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                mode = (0o644, 0o600, 0o640, 0o664)[index % 4]
                outcome = run_case(Path(tmp), data, link=kind == "symlink", mode=mode)
        slowest = max(slowest, time.perf_counter() - t0)
        counts[f"{kind} exit {outcome.exit_code} {outcome.why.split(':')[0]}"] += 1
        if not outcome.ok:
            bad.append((kind, desc, outcome.why))
    total = time.perf_counter() - started
    print(f"files: {args.files}  seed: {args.seed}  mounts: {mounts}")
    for key, value in sorted(counts.items()):
        print(f"  {value:5d}  {key}")
    print(f"bad: {len(bad)}  total: {total:.1f} s  slowest case: {slowest:.2f} s")
    for kind, desc, why in bad[:20]:
        print(f"  BAD {kind} [{desc}]: {why}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
