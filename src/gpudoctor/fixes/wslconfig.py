"""``gpudoctor fix --wslconfig``: set memory, swap and processors in the Windows .wslconfig.

:func:`plan` is pure: original bytes and wishes in, new bytes and an exact unified diff out.
It edits only the lines it must (the first ``memory=``/``swap=``/``processors=`` under
``[wsl2]``, keys stranded before any section), keeps every other line, comment and the line
endings, and writes UTF-8 without BOM, re-encoding a UTF-16 file. :func:`apply` backs the
file up byte for byte, writes atomically and reads the result back. It never runs
``wsl --shutdown``: that would kill the shell it runs in; the user does it from Windows.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from gpudoctor.checks.wsl import suggested_memory
from gpudoctor.checks.wsl import suggested_swap
from gpudoctor.errors import BadInputError
from gpudoctor.files import WSLCONFIG_MAX_BYTES
from gpudoctor.files import atomic_write_bytes
from gpudoctor.files import replace_through_temp
from gpudoctor.fixes.wslconfig_edit import as_utf8
from gpudoctor.fixes.wslconfig_edit import disable_skipped
from gpudoctor.fixes.wslconfig_edit import fix_and_set
from gpudoctor.fixes.wslconfig_edit import repair_syntax
from gpudoctor.fixes.wslconfig_edit import run_pass
from gpudoctor.fixes.wslconfig_edit import text_for_diff
from gpudoctor.readers.wslconfig import MIN_VM_MEMORY
from gpudoctor.readers.wslconfig import SIZE_UNITS
from gpudoctor.readers.wslconfig import GiB
from gpudoctor.readers.wslconfig import MiB
from gpudoctor.readers.wslconfig import decode_wslconfig
from gpudoctor.readers.wslconfig import format_size
from gpudoctor.readers.wslconfig import parse_size
from gpudoctor.readers.wslconfig import parse_wslconfig
from gpudoctor.readers.wslconfig import split_lines
from gpudoctor.readers.wslconfig import tokenize

EXIT_OK, EXIT_NOT_APPLIED, EXIT_USAGE = 0, 1, 2
KEYS = ("memory", "swap", "processors")


def parse_user_size(text: str, what: str) -> int:
    """``12GB``, ``12G``, ``12gb``, ``12GiB``, ``12 GB``, ``1.5GB`` -> bytes; else BadInputError."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not match:
        raise BadInputError(f"--{what} {text!r} is not a size: write e.g. 12GB or 512MB")
    number, unit = match.groups()
    unit = unit.upper().replace("IB", "B")
    if unit in ("", "B") and number != "0":
        raise BadInputError(f"--{what} {text!r} has no unit: write e.g. {number}GB")
    factors = dict(SIZE_UNITS)
    if unit not in factors:
        raise BadInputError(f"--{what} {text!r}: unknown unit; use MB, GB or TB")
    value = int(float(number) * factors[unit])
    if value % MiB and value:
        value = (value // MiB) * MiB
    return value


@dataclass
class Plan:
    """What the fix would write: the new bytes, the diff, and what each change is."""

    path: str
    original: bytes
    new: bytes
    changes: list[str] = field(default_factory=list)
    values: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.new != self.original

    def diff(self) -> str:
        old = text_for_diff(self.original)
        new = self.new.decode("utf-8", errors="replace")
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{self.path} (now)",
            tofile=f"{self.path} (after fix)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class NotAWslconfig(BadInputError):
    """The file is binary, huge, or has no INI shape: we do not edit what we do not know."""


def sniff(data: bytes, path: str = ".wslconfig") -> None:
    """Refuse bytes that do not look like a .wslconfig (huge, binary, no INI shape)."""
    if len(data) > WSLCONFIG_MAX_BYTES:
        raise NotAWslconfig(f"{path}: {len(data):,} bytes is too large for a .wslconfig")
    encoding, _text, _notes = decode_wslconfig(data)
    text = text_for_diff(data)
    if encoding in ("utf-8", "utf-8-bom") and b"\x00" in data:
        raise NotAWslconfig(f"{path}: has NUL bytes: a binary file, not a .wslconfig")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    if controls > max(2, len(text) // 100):
        raise NotAWslconfig(f"{path}: has control characters: a binary file, not a .wslconfig")
    body = [ln.strip() for ln in split_lines(text) if ln.strip()]
    shaped = [
        ln
        for ln in body
        if ln.startswith(("#", ";", "[")) or re.match(r"[A-Za-z][A-Za-z0-9_.\- ]{0,80}=", ln)
    ]
    if body and len(shaped) * 2 < len(body):
        raise NotAWslconfig(
            f"{path}: most lines are neither [section], key=value nor # comment: this does not "
            "look like a .wslconfig, so gpudoctor will not edit it"
        )


def plan(
    original: bytes,
    *,
    path: str = ".wslconfig",
    memory: int | None = None,
    swap: int | None = None,
    processors: int | None = None,
    host_ram: int | None = None,
) -> Plan:
    """The edit that makes WSL read ``memory``/``swap``/``processors`` from this file.

    Values not given are computed from ``host_ram`` (memory, then swap from memory) or left
    as they are (processors; an explicit ``swap=0`` is kept). The edit also repairs what
    GD503 reports (misspelt keys, keys in the wrong section, ``;`` comments, malformed
    headers) and comments out lines WSL skips anyway, so WSL reads what the diff shows
    without a warning. Untouched lines keep their bytes. The result is parsed before it is
    offered: BadInputError when WSL would read anything else, when memory is needed and
    unknown, or when the file is not a .wslconfig.
    """
    sniff(original, path)
    current = parse_wslconfig(original)
    changes: list[str] = []
    if current.encoding not in ("utf-8", "empty") and original:
        changes.append(f"re-encode from {current.encoding} to UTF-8 without BOM")
    repaired = run_pass(as_utf8(original), lambda doc: repair_syntax(doc, changes))
    # What the author meant, read after "[wsl2" became "[wsl2]": swap=0 under it counts.
    intended = _intended_values(repaired.decode("utf-8", errors="replace"))
    if memory is None:
        if intended.get("memory") and _acceptable_memory(intended["memory"], host_ram):
            memory = intended["memory"]
        elif host_ram:
            memory = suggested_memory(host_ram)
        else:
            raise BadInputError(
                "host RAM is unknown here (no Windows interop), so give the cap: "
                "gpudoctor fix --wslconfig --memory 12GB"
            )
    if memory < MIN_VM_MEMORY:
        raise BadInputError(f"--memory {format_size(memory)} is below WSL's minimum of 256MB")
    if host_ram and memory > host_ram:
        raise BadInputError(
            f"--memory {format_size(memory)} is more than the host's RAM "
            f"({host_ram / GiB:.1f} GB); WSL would cap it anyway"
        )
    if swap is None:
        swap = intended.get("swap")
        if swap is None or 0 < swap < 2 * GiB:
            swap = suggested_swap(memory)  # an explicit swap=0 (no swap) is the user's choice
    wanted: dict[str, int] = {"memory": memory, "swap": swap}
    if processors is not None:
        wanted["processors"] = processors
    data = run_pass(repaired, lambda doc: fix_and_set(doc, wanted, changes))
    data = run_pass(data, lambda doc: disable_skipped(doc, changes))
    if data == original:
        changes = []
    the_plan = Plan(path=path, original=original, new=data, changes=changes, values=wanted)
    _verify(the_plan)
    return the_plan


def _verify(the_plan: Plan) -> None:
    """WSL must read exactly the values the plan announces, or nothing is offered."""
    parsed = parse_wslconfig(the_plan.new)
    got = {k: parsed.value(f"wsl2.{k}") for k in the_plan.values}
    if got != the_plan.values or not parsed.readable:
        raise BadInputError(
            f"{the_plan.path}: gpudoctor cannot edit this file safely (after the edit WSL "
            f"would read {got}); nothing was changed, edit it by hand"
        )


def _intended_values(text: str) -> dict[str, int]:
    """Valid memory/swap the author wrote under [wsl2] or before any section (first wins)."""
    found: dict[str, int] = {}
    lines, _ = tokenize(text)
    for section in ("wsl2", None):
        for line in lines:
            key = line.name.lower()
            if line.kind != "key" or line.section != section or key not in ("memory", "swap"):
                continue
            value, _why = parse_size(line.value)
            if key not in found and value is not None and value < (1 << 50):
                found[key] = value
    return found


def _acceptable_memory(memory: int, host_ram: int | None) -> bool:
    """Keep the user's cap unless it starves training or leaves Windows under 3 GB."""
    if host_ram is None:
        return True
    return 8 * GiB <= memory <= host_ram - 3 * GiB or memory == suggested_memory(host_ram)


# -- applying ---------------------------------------------------------------------------


def backup_path(path: Path, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidate = path.with_name(f"{path.name}.gpudoctor-{stamp}.bak")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.gpudoctor-{stamp}-{counter}.bak")
        counter += 1
    return candidate


def _write_backup(backup: Path, data: bytes, mode: int, owner: tuple[int, int]) -> None:
    """A byte-identical backup with the original's mode, or none at all (never 0 bytes)."""
    tmp = backup.with_name(backup.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def keep_mode_and_owner(fresh: str) -> None:
        os.chmod(fresh, mode)
        if hasattr(os, "chown") and os.stat(fresh).st_uid != owner[0]:
            try:
                os.chown(fresh, *owner)
            except OSError:
                pass

    replace_through_temp(fd, tmp, backup, data, keep_mode_and_owner)


def resolve_target(path: str) -> tuple[Path, str]:
    """The file to edit: ``path`` or, for a symlink, its target; plus a note saying which."""
    target = Path(path)
    if not target.is_symlink():
        return target, ""
    real = Path(os.path.realpath(target))
    if not real.exists():
        raise BadInputError(
            f"{target} is a symlink to {real}, which does not exist; not following it "
            "(create the target or remove the link)"
        )
    if not real.is_file():
        raise BadInputError(f"{target} is a symlink to {real}, which is not a regular file")
    return real, f"{target} is a symlink: editing its target {real}; the link stays"


def apply(the_plan: Plan) -> Path | None:
    """Back up the original, write the new file atomically, read it back; roll back on failure.

    On any failure (no space, read-only file system, a read-back that differs) the file
    keeps its original bytes, no partial backup remains, and BadInputError says why.
    """
    target = Path(the_plan.path)
    backup = None
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise BadInputError(f"cannot read {target}: {exc.strerror or exc}") from None
    if info is not None:
        backup = backup_path(target)
        mode, owner = stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)
        try:
            _write_backup(backup, the_plan.original, mode, owner)
        except OSError as exc:
            raise BadInputError(
                f"cannot write the backup {backup}: {exc.strerror or exc}; nothing was changed"
            ) from None
    try:
        atomic_write_bytes(target, the_plan.new)
        if target.read_bytes() != the_plan.new:
            raise OSError(0, "the file reads back differently from what was written")
    except OSError as exc:
        restored = _restore(target, the_plan.original, info is not None)
        if backup is not None and restored:
            backup.unlink(missing_ok=True)
        state = "the file is unchanged" if restored else f"the original is in {backup}"
        raise BadInputError(f"cannot write {target}: {exc.strerror or exc}; {state}") from None
    return backup


def _restore(target: Path, original: bytes, existed: bool) -> bool:
    """Put the original bytes back (or remove a file we created); True when as before."""
    try:
        if not existed:
            target.unlink(missing_ok=True)
            return True
        if target.read_bytes() == original:
            return True
        atomic_write_bytes(target, original)
        return target.read_bytes() == original
    except OSError:
        return False


# -- the command ------------------------------------------------------------------------
