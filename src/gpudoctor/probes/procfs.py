"""The one reader of procfs text formats: meminfo, vmstat and mountinfo.

Pure parsers (text in, data out) so probes and measurements share one spelling of each
format, and tests feed them recorded files.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from gpudoctor.units import KiB


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per key (the file says kB and means KiB)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            number = int(parts[0])
        except ValueError:
            continue
        values[key.strip()] = number * KiB if len(parts) > 1 and parts[1] == "kB" else number
    return values


def parse_vmstat(text: str) -> dict[str, int]:
    """``/proc/vmstat``: counter name -> value."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return values


class Mount(NamedTuple):
    """One line of ``/proc/self/mountinfo``."""

    mount_point: str
    fstype: str
    source: str
    device: str
    super_options: str


def _unescape(field_text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def parse_mountinfo(text: str) -> list[Mount]:
    """Every mount in ``/proc/self/mountinfo``; malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if "-" not in parts:
            continue
        sep = parts.index("-")
        if sep < 5 or len(parts) < sep + 3:
            continue
        mounts.append(
            Mount(
                mount_point=_unescape(parts[4]),
                fstype=parts[sep + 1],
                source=_unescape(parts[sep + 2]),
                device=parts[2],
                super_options=parts[sep + 3] if len(parts) > sep + 3 else "",
            )
        )
    return mounts


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount that holds ``path``: the longest matching mount point, the latest on ties."""
    best: Mount | None = None
    for mount in mounts:
        point = mount.mount_point.rstrip("/") or "/"
        inside = path == point or point == "/" or path.startswith(point + "/")
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = mount
    return best
