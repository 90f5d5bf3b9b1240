"""NVIDIA Xid events in the Linux kernel log, read with ``dmesg`` or ``journalctl -k``.

Reading the kernel ring buffer needs privileges on many distributions
(``kernel.dmesg_restrict=1``); when neither tool may read it, the events are Unavailable,
not "none". Only the part of a line from ``NVRM:`` on is kept, so host names that
journalctl prefixes never reach a snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

if TYPE_CHECKING:
    from gpudoctor.facts.sections import KernelLogFacts

#: Newest events kept; a flapping GPU can log thousands.
MAX_EVENTS = 50

_TIMESTAMP = lazy_compile(r"^\s*\[\s*(\d+(?:\.\d+)?)\]")
_XID = lazy_compile(r"NVRM: Xid \((?:PCI:)?([0-9A-Fa-f:.]+)\):\s*(\d+),\s*(.*)")
_PID = lazy_compile(r"pid=(\d+)")
_PERMISSION_WORDS = ("not permitted", "permission", "insufficient")

# Each source prints a monotonic "[seconds since boot]" prefix, like dmesg's default.
_SOURCES = (
    ("dmesg", ("dmesg",)),
    ("journalctl -k", ("journalctl", "-k", "-b", "-o", "short-monotonic", "--no-pager", "-q")),
)


def parse_xid_events(log: str) -> list[dict[str, Any]]:
    """Xid events from kernel log text, oldest first."""
    events = []
    for line in log.splitlines():
        match = _XID.search(line)
        if not match:
            continue
        stamp = _TIMESTAMP.match(line)
        pid = _PID.search(match.group(3))
        events.append(
            {
                "code": int(match.group(2)),
                "pci": match.group(1),
                "pid": int(pid.group(1)) if pid else None,
                "seconds_since_boot": float(stamp.group(1)) if stamp else None,
                "message": line[line.index("NVRM:") :][:200],
            }
        )
    return events


def _uptime(ctx: ProbeContext) -> Any:
    try:
        return float(ctx.read_text("/proc/uptime", max_bytes=128).split()[0])
    except (OSError, ValueError, IndexError) as exc:
        return Unavailable(f"/proc/uptime unreadable: {exc}")


def read_kernel_log(ctx: ProbeContext, timeout: float = 1.5) -> tuple[str, str] | Unavailable:
    """``(source, text)`` from the first tool that may read the kernel log."""
    why = []
    for label, argv in _SOURCES:
        try:
            result = ctx.run(argv, timeout=timeout)
        except FileNotFoundError:
            why.append(f"{argv[0]} is not installed")
            continue
        except CommandTimeout as exc:
            why.append(str(exc))
            continue
        stderr = result.stderr.strip().splitlines()
        if result.ok and result.stdout.strip():
            return label, result.stdout
        first = stderr[0] if stderr else f"exit status {result.returncode}, no output"
        if any(word in first.lower() for word in _PERMISSION_WORDS):
            first = f"{first} (needs root or the adm/systemd-journal group)"
        why.append(f"{label}: {first}")
    return Unavailable("kernel log not readable: " + "; ".join(why))


@probe("kernel_log", timeout=3.5)
def probe_kernel_log(ctx: ProbeContext) -> KernelLogFacts | NotApplicable:
    """Xid events the NVIDIA kernel driver logged since boot (Linux only)."""
    if not ctx.platform.startswith("linux"):
        return NotApplicable(f"the NVIDIA kernel log is read on Linux only, not {ctx.platform}")
    log = read_kernel_log(ctx)
    if isinstance(log, Unavailable):
        return {"source": None, "xid_events": log, "uptime_seconds": None}
    source, text = log
    events = parse_xid_events(text)[-MAX_EVENTS:]
    return {
        "source": source,
        "uptime_seconds": _uptime(ctx),
        "xid_events": events,
    }
