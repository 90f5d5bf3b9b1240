"""Opening a log: plain or gzip, regular files only, read in blocks of whole lines.

A physical line longer than ``MAX_LINE`` (tqdm bars joined by carriage returns, a dumped
tensor) is handed on in pieces cut at a carriage return where possible, each with the same
line number, so memory stays flat whatever the file holds.
"""

from __future__ import annotations

import gzip
import os
import stat
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

BLOCK = 1 << 20
MAX_LINE = 1 << 20
HEAD = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class SourceError(Exception):
    """The file cannot be read at all; the message is the one-line reason."""


@dataclass
class Source:
    path: str
    size: int
    mtime: float
    compressed: bool
    head: bytes


def open_source(path: str) -> tuple[Source, IO[bytes]]:
    """Stat, open and sniff ``path``; raises SourceError with a reason a user understands."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SourceError("no such file") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise SourceError("is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise SourceError("not a regular file (a FIFO, socket or device is never read)")
    try:
        raw = open(path, "rb")  # noqa: SIM115 - handed to the caller, who closes it
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    magic = raw.read(2)
    raw.seek(0)
    compressed = magic == GZIP_MAGIC
    handle: IO[bytes] = (
        gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
    )
    try:
        head = handle.read(HEAD)
    except (OSError, EOFError, zlib.error) as exc:
        raw.close()
        raise SourceError(f"damaged gzip data: {exc}") from None
    try:
        handle.seek(0)
    except (OSError, EOFError, zlib.error) as exc:
        raw.close()
        raise SourceError(f"cannot rewind: {exc}") from None
    return Source(path, info.st_size, info.st_mtime, compressed, head), handle


@dataclass
class ReadState:
    """How the reading went: lines, whether it stopped early and why."""

    lines: int = 0
    stopped: str = ""


def iter_blocks(
    handle: IO[bytes], state: ReadState, deadline: float | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """``(number of the first line, lines)`` without newlines, until EOF or the deadline."""
    rest = b""
    number = 1
    while True:
        chunk, error = _read_block(handle)
        if error:
            state.stopped = error
        if not chunk:
            break
        data = rest + chunk if rest else chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        if lines:
            yield number, lines
            number += len(lines)
        while len(rest) > MAX_LINE:
            cut = rest.rfind(b"\r", 0, MAX_LINE)
            cut = MAX_LINE if cut <= 0 else cut + 1
            yield number, [rest[:cut]]
            rest = rest[cut:]
        if error:
            break
        if deadline is not None and len(chunk) >= BLOCK and time.monotonic() > deadline:
            state.stopped = f"time limit reached after {number - 1:,} lines"
            break
    if rest:
        yield number, [rest]
        number += 1
    state.lines = number - 1


def _read_block(handle: IO[bytes]) -> tuple[bytes, str]:
    """About BLOCK bytes; what was read before damaged compressed data is kept."""
    pieces: list[bytes] = []
    size = 0
    read1 = getattr(handle, "read1", handle.read)
    while size < BLOCK:
        try:
            piece = read1(BLOCK - size)
        except (OSError, EOFError, zlib.error) as exc:
            return b"".join(pieces), f"compressed data ends early ({exc})"
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces), ""
