"""Byte units and their human spelling, defined once for every layer."""

from __future__ import annotations

__all__ = ["GiB", "KiB", "MiB", "TiB", "fmt_bytes"]

KiB = 1024
MiB = 1024**2
GiB = 1024**3
TiB = 1024**4


def fmt_bytes(value: float | int | None) -> str:
    """``17179869184`` -> ``16.0 GiB``; binary units, as free(1) -h and Task Manager use."""
    if value is None:
        return "unknown"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
