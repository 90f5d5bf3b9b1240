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
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from gpudoctor.checks.wsl import suggested_memory, suggested_swap
from gpudoctor.errors import BadInputError
from gpudoctor.files import atomic_write_bytes
from gpudoctor.readers.wslconfig import (
    MIN_VM_MEMORY,
    SIZE_UNITS,
    GiB,
    MiB,
    decode_wslconfig,
    format_size,
    parse_size,
    parse_wslconfig,
    split_lines,
    tokenize,
)

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
        old = _text_for_diff(self.original)
        new = self.new.decode("utf-8", errors="replace")
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{self.path} (now)",
            tofile=f"{self.path} (after fix)",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _text_for_diff(data: bytes) -> str:
    """The file's text as its author meant it, whatever WSL makes of the encoding."""
    encoding, text, _notes = decode_wslconfig(data)
    if encoding == "utf-16-be-bom":
        return data[2:].decode("utf-16-be", errors="replace")
    if encoding == "utf-16-no-bom":
        little = data[1::2].count(0) >= data[0::2].count(0)
        return data.decode("utf-16-le" if little else "utf-16-be", errors="replace")
    return text or ""


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
    as they are (processors). Raises BadInputError when memory is needed and unknown.
    """
    current = parse_wslconfig(original)
    intended = _intended_values(_text_for_diff(original))
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
        if swap is None or swap < 2 * GiB:
            swap = suggested_swap(memory)
    wanted: dict[str, int] = {"memory": memory, "swap": swap}
    if processors is not None:
        wanted["processors"] = processors
    text = _text_for_diff(original)
    new_text, changes = _edit(text, wanted, current.newline)
    if current.encoding not in ("utf-8", "empty") and original:
        changes.insert(0, f"re-encode from {current.encoding} to UTF-8 without BOM")
    new = new_text.encode("utf-8")
    if new == original:
        changes = []
    return Plan(path=path, original=original, new=new, changes=changes, values=wanted)


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


def render_value(key: str, value: int) -> str:
    return str(value) if key == "processors" else format_size(value)


def _same(key: str, raw: str, value: int) -> bool:
    parsed = parse_wslconfig(f"[wsl2]\n{key}={raw}\n".encode())
    return parsed.value(f"wsl2.{key}") == value


def _edit(text: str, wanted: dict[str, int], newline: str) -> tuple[str, list[str]]:
    physical = split_lines(text)
    lines, _ = tokenize(text)
    out = list(physical)
    changes: list[str] = []
    done: set[str] = set()
    first_wsl2_end: int | None = None  # index after the last line of the first [wsl2] block
    in_first = False
    seen_wsl2 = False
    for line in lines:
        idx = line.number - 1
        if line.kind == "section":
            in_first = line.section == "wsl2" and not seen_wsl2
            if in_first:
                seen_wsl2, first_wsl2_end = True, idx + 1
            continue
        if in_first and line.kind in ("key", "invalid"):
            first_wsl2_end = idx + 1
        key = line.name.lower()
        if key not in wanted:
            continue
        if line.kind == "key" and line.section is None:
            out[idx] = f"# {physical[idx].strip()}  # moved under [wsl2] by gpudoctor"
            changes.append(f"line {line.number}: {key} was outside any section; moved")
            continue
        if line.section != "wsl2" or key in done:
            continue
        if line.kind not in ("key", "invalid"):
            continue
        done.add(key)
        value = render_value(key, wanted[key])
        if line.kind == "key" and _same(key, line.value, wanted[key]):
            continue
        indent = physical[idx][: len(physical[idx]) - len(physical[idx].lstrip(" \t"))]
        spelled = physical[idx].lstrip(" \t")[: len(line.name)]
        out[idx] = f"{indent}{spelled}={value}{line.comment}"
        changes.append(f"line {line.number}: {physical[idx].strip()} -> {out[idx].strip()}")
    missing = [k for k in wanted if k not in done]
    if missing:
        added = [f"{k}={render_value(k, wanted[k])}" for k in missing]
        if first_wsl2_end is None:
            while out and out[-1].strip() == "":
                out.pop()
            block = ([""] if out else []) + ["[wsl2]", *added]
            out.extend(block)
            out.append("")
            changes.append("add a [wsl2] section with " + ", ".join(added))
        else:
            out[first_wsl2_end:first_wsl2_end] = added
            changes.append("add under [wsl2]: " + ", ".join(added))
    result = newline.join(out)
    if not result.endswith(newline) and result:
        result += newline
    return result, changes


# -- applying ---------------------------------------------------------------------------


def backup_path(path: Path, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    candidate = path.with_name(f"{path.name}.gpudoctor-{stamp}.bak")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.gpudoctor-{stamp}-{counter}.bak")
        counter += 1
    return candidate


def apply(the_plan: Plan) -> Path | None:
    """Back up the original (when there is one), write the new file atomically; the backup."""
    target = Path(the_plan.path)
    backup = None
    if target.exists():
        backup = backup_path(target)
        with open(backup, "xb") as handle:
            handle.write(the_plan.original)
    atomic_write_bytes(target, the_plan.new)
    return backup


# -- the command ------------------------------------------------------------------------
