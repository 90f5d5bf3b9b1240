"""Generated .wslconfig files and one checked ``fix --wslconfig`` run on each, for tests and
``benchmarks/wslconfig_fix_stress.py``.

The files mix what real ones contain (see ``tests/corpus/wslconfig/SOURCES``): backslash
continuations, malformed and misspelt headers, ``;`` comments, misspelt and misplaced
keys, sizes WSL rejects, explicit ``swap=0``, Windows paths with bad escapes, comments in
another code page, UTF-8/UTF-16 with and without BOM, CRLF/LF/CR line ends, plus files
that are no .wslconfig at all. :func:`run_case` applies the fix and checks the one rule
that matters: afterwards WSL reads exactly what was shown (or the file is untouched), and
a backup is byte-identical with the original's mode.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HEADERS = [
    "[wsl2]",
    "[WSL2]",
    "[wsl2",
    "[wsl2] trailing",
    "[ wsl2]",
    "[experimental]",
    "[boot]",
    "[wls2]",
    "[general]",
    "[interop]",
    "[wsl-2]",
]
KEYS = [
    "memory=4GB",
    "memory=16 GB",
    "memory=12.5GB",
    "memory=8\\\nGB",
    "swap=0",
    "swap=2GB",
    "swap=8GB",
    "processors=4",
    "procesors=2",
    "memmory=8GB",
    "autoMemoryReclaim=gradual",
    "sparseVhd=true",
    'kernelCommandLine = "sysctl.vm.swappiness=10"',
    "kernel=C:\\\\Users\\\\me\\\\bzImage",
    "kernel=C:\\Users\\me\\bzImage",
    "guiApplications=false",
    "; a comment WSL does not know",
    "# a comment",
    "# caf\udce9 comment in cp1252",
    "",
    "foo=bar",
    "networkingMode=mirrored",
    "swap_file=C:\\\\swap.vhdx",
    "memory=6GB # inline comment",
    "debugConsole=true \\\n  # continued",
    "pageReporting=false",
    "memory=-1",
]


def generate(rng: random.Random) -> tuple[bytes, str]:
    """One file: ``(bytes, description)``."""
    roll = rng.random()
    if roll < 0.03:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))), "binary"
    if roll < 0.05:
        body = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
        return body.encode(), "passwd-copy"
    lines: list[str] = []
    for _ in range(rng.randrange(0, 14)):
        lines.append(rng.choice(HEADERS) if rng.random() < 0.25 else rng.choice(KEYS))
    newline = rng.choice(["\n", "\r\n", "\r", "\n"])
    text = newline.join(lines) + (newline if rng.random() < 0.8 else "")
    encoding = rng.choice(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-be", "cp"])
    if encoding == "cp":
        data = text.encode("utf-8", "surrogateescape")  # the cp1252 byte stays raw
    else:
        clean = text.replace("\udce9", "é")
        data = clean.encode(encoding)
        if encoding == "utf-16-be" and rng.random() < 0.5:
            data = b"\xfe\xff" + data
    return data, f"{encoding} {newline!r} {len(lines)} lines"


@dataclass
class Outcome:
    exit_code: int
    ok: bool
    why: str
    changed: bool


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


def run_case(
    folder: Path,
    data: bytes,
    *,
    link: bool = False,
    mode: int = 0o644,
    before_fix: Callable[[], None] | None = None,
) -> Outcome:
    """Write ``data`` as a .wslconfig in ``folder``, run the fix, check what WSL would read."""
    from click.testing import CliRunner

    from gpudoctor.cli import main
    from gpudoctor.fixes.wslconfig import plan
    from gpudoctor.readers.wslconfig import GiB
    from gpudoctor.readers.wslconfig import parse_wslconfig

    real = folder / "real.wslconfig"
    real.write_bytes(data)
    real.chmod(mode)
    target = folder / ".wslconfig"
    if link:
        target.symlink_to(real.name)
    else:
        real.rename(target)
        real = target
    if before_fix is not None:
        before_fix()  # fill the disk, make the file system read-only ...
    before = _files(folder)
    args = ["fix", "--wslconfig", "--wslconfig-path", str(target), "--memory", "8GB", "--yes"]
    with contextlib.redirect_stderr(io.StringIO()):
        result = CliRunner().invoke(main, args, catch_exceptions=True)
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return Outcome(code, False, f"exception {result.exception!r}", False)
    if code not in (0, 2):
        return Outcome(code, False, f"exit {code}", False)
    if link and not target.is_symlink():
        return Outcome(code, False, "the symlink was replaced", False)
    after = _files(folder)
    now = real.read_bytes()
    leftovers = [n for n in after if n not in before and not n.endswith(".bak")]
    if leftovers:
        return Outcome(code, False, f"left behind {leftovers}", False)
    backups = [folder / n for n in after if n.endswith(".bak")]
    if code == 2 or now == data:
        if now != data:
            return Outcome(code, False, "refused but changed the file", True)
        if backups:
            return Outcome(code, False, "left a backup of an unchanged file", False)
        return Outcome(code, True, "unchanged", False)
    shown = plan(data, path=str(real), memory=8 * GiB)
    if now != shown.new:
        return Outcome(code, False, "written bytes differ from the diff shown", True)
    parsed = parse_wslconfig(now)
    got = {k: parsed.value(f"wsl2.{k}") for k in shown.values}
    if got != shown.values:
        return Outcome(code, False, f"WSL reads {got}, shown {shown.values}", True)
    if len(backups) != 1 or backups[0].read_bytes() != data:
        return Outcome(code, False, "backup missing or not byte-identical", True)
    if stat.S_IMODE(os.stat(backups[0]).st_mode) != mode:
        return Outcome(code, False, "backup mode differs from the original's", True)
    if stat.S_IMODE(os.stat(real).st_mode) != mode:
        return Outcome(code, False, "the file's mode changed", True)
    left = [d for d in parsed.diagnostics if d.severity == "error" and d.line > 0]
    if left:
        return Outcome(code, False, f"GD503 would still report {left[0].message}", True)
    return Outcome(code, True, "fixed", True)
