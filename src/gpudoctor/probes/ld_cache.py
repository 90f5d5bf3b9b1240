"""The dynamic loader's cache (``/etc/ld.so.cache``), read as ``ldconfig -p`` prints it.

Triton finds ``libcuda.so.1`` by running ``/sbin/ldconfig -p``, which prints this file's
entries in order: a library's soname and the path the loader maps for it. Reading the
file gives the same pairs without starting a program on every ``check``.

Layout (glibc's ``sysdeps/generic/dl-cache.h``): an optional old-format block
(``ld.so-1.7.0``, 12-byte entries) and then the new format (``glibc-ld.so.cache1.1``): a
48-byte header with the entry count, then 24-byte entries (flags, key, value, OS version,
hwcap) whose key and value are offsets of NUL-terminated strings, counted from the start
of the new-format header. Since glibc 2.33 the header says the byte order; 0 means the
machine's own. Anything else (an old-format-only file, a truncated one, offsets out of
range) returns None, and :func:`loader_entries` asks ``ldconfig -p`` instead.
"""

from __future__ import annotations

import os
import stat
import struct
from typing import TYPE_CHECKING

from gpudoctor.facts.model import Unavailable

if TYPE_CHECKING:
    from gpudoctor.probes.base import ProbeContext

OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"
_NEW_HEADER = 48
_NEW_ENTRY = 24
_OLD_ENTRY = 12
#: The header's byte-order field (glibc 2.33+): 0 unset (the machine's), 2 little, 3 big.
_ORDERS = {0: "=", 2: "<", 3: ">"}
#: Larger than any real cache (a distribution with every library: a few MiB).
MAX_BYTES = 64 << 20
#: Where glibc's loader and ``ldconfig -p`` read the cache.
CACHE_PATH = "/etc/ld.so.cache"


def cache_entries(data: bytes) -> list[tuple[str, str]] | None:
    """``(soname, path)`` for each entry, in the file's order; None where not understood."""
    start = _new_format_start(data)
    if start is None or len(data) < start + _NEW_HEADER:
        return None
    order = _ORDERS.get(data[start + 28])
    if order is None:
        return None
    (count,) = struct.unpack_from(order + "I", data, start + 20)
    end = start + _NEW_HEADER + count * _NEW_ENTRY
    if end > len(data):
        return None
    entries = []
    layout = struct.Struct(order + "iII")  # flags, key, value (the rest is not needed)
    for offset in range(start + _NEW_HEADER, end, _NEW_ENTRY):
        _, key, value = layout.unpack_from(data, offset)
        soname, path = _string(data, start + key), _string(data, start + value)
        if soname is None or path is None:
            return None
        entries.append((soname, path))
    return entries


def loader_entries(ctx: ProbeContext, timeout: float) -> list[tuple[str, str]] | Unavailable:
    """``(soname, path)`` as ``ldconfig -p`` lists them: from the cache file, else from the
    program itself (run with ``timeout``), else why neither could be read."""
    entries = read_loader_cache(ctx)
    if entries is not None:
        return entries
    program = "/sbin/ldconfig" if ctx.exists("/sbin/ldconfig") else ctx.which("ldconfig")
    if not program:
        return Unavailable("ldconfig not found")
    result = ctx.run_or_unavailable([program, "-p"], timeout)
    if isinstance(result, Unavailable):
        return result
    return parse_ldconfig_output(result.stdout)


def parse_ldconfig_output(text: str) -> list[tuple[str, str]]:
    """``(soname, path)`` of each ``NAME (FLAGS) => PATH`` line ``ldconfig -p`` prints."""
    entries = []
    for line in text.splitlines():
        name, _, target = line.strip().partition(" => ")
        if target:
            entries.append((name.split(" (", 1)[0].strip(), target.strip()))
    return entries


def read_loader_cache(ctx: ProbeContext) -> list[tuple[str, str]] | None:
    """The entries of ``/etc/ld.so.cache`` under the context's root; None where the file is
    missing, not a regular file, too large or not understood."""
    try:
        # Non-blocking: a FIFO in its place must not hang the probe.
        fd = os.open(ctx.path(CACHE_PATH), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_BYTES:
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    return cache_entries(b"".join(chunks))


def _new_format_start(data: bytes) -> int | None:
    if data.startswith(NEW_MAGIC):
        return 0
    if not data.startswith(OLD_MAGIC) or len(data) < 16:
        return None
    old_count: int = struct.unpack_from("=I", data, 12)[0]
    after = 16 + old_count * _OLD_ENTRY
    # The new header follows, aligned as the machine aligns a 64-bit field: 8, or 4 on
    # 32-bit x86.
    for align in (8, 4):
        start = (after + align - 1) & ~(align - 1)
        if data.startswith(NEW_MAGIC, start):
            return start
    return None


def _string(data: bytes, offset: int) -> str | None:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        return None
    return data[offset:end].decode("utf-8", errors="replace")


__all__ = [
    "CACHE_PATH",
    "MAX_BYTES",
    "NEW_MAGIC",
    "OLD_MAGIC",
    "cache_entries",
    "loader_entries",
    "parse_ldconfig_output",
    "read_loader_cache",
]
