"""Reading the user's files with bounds, and writing ours without destroying anything.

Writes: a regular file (or a new one) is replaced atomically, through a temporary file in
the same folder, with the existing file's mode and owner, or ``0666 & ~umask`` (0644 by
default) for a new one. Anything else (``/dev/null``, ``/dev/stdout``, a FIFO, a socket, a
symlink to one of those) is opened and written the way the shell's ``>`` does, never
replaced. A symlink to a regular file has its target replaced, and stays a link.

Reads: only regular files (a FIFO would block forever, ``/dev/zero`` never ends) no larger
than the limit the caller documents; anything else is a one-line :class:`BadInputError`
(exit 2).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from gpudoctor.errors import BadInputError

#: Documented input limits (bytes), also listed in ``docs/snapshot-format.md``.
REPLAY_MAX_BYTES = 64 * 1024 * 1024
WSLCONFIG_MAX_BYTES = 1024 * 1024
SOURCE_MAX_BYTES = 2 * 1024 * 1024


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bounded(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; else BadInputError.

    The file is checked before it is opened (a FIFO is never opened, so nothing blocks)
    and again on the open descriptor, and at most ``limit + 1`` bytes are ever read.
    """
    where = os.fspath(path)
    try:
        before = os.stat(where)
    except FileNotFoundError:
        raise BadInputError(f"{where}: no such file") from None
    except (OSError, ValueError) as exc:
        reason = _why(exc) if isinstance(exc, OSError) else str(exc)
        raise BadInputError(f"{where}: cannot read: {reason}") from None
    if not stat.S_ISREG(before.st_mode):
        raise BadInputError(f"{where}: is {_kind(before.st_mode)}, expected a {what}")
    if before.st_size > limit:
        raise BadInputError(
            f"{where}: {before.st_size:,} bytes is larger than the {limit:,} bytes a {what} "
            "may have"
        )
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise BadInputError(f"{where}: cannot read: {_why(exc)}") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise BadInputError(f"{where}: changed while being opened; not a regular file")
        chunks: list[bytes] = []
        total = 0
        # The whole file in one read where it can (a 50 MB replay: no second copy made by
        # joining 1 MiB pieces); one byte more than its size, to see that it ended.
        step = max(opened.st_size + 1, 1 << 20)
        while total <= limit:
            chunk = os.read(fd, min(step, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise BadInputError(f"{where}: cannot read: {_why(exc)}") from None
    finally:
        os.close(fd)
    if total > limit:
        raise BadInputError(f"{where}: larger than the {limit:,} bytes a {what} may have")
    return b"".join(chunks)


def check_readable(path: str | os.PathLike[str], limit: int, what: str = "file") -> None:
    """Fail early, with a one-line reason, when :func:`read_bounded` would refuse ``path``."""
    read_bounded(path, limit, what)


def _is_special(target: Path) -> bool:
    """True for an existing target that must be written in place: not a regular file."""
    if str(target).startswith(("/dev/", "/proc/")):
        return True
    try:
        return not stat.S_ISREG(os.stat(target).st_mode)
    except OSError:
        return False


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail early, with a one-line reason, if ``path`` cannot be written as a file."""
    target = Path(path)
    try:
        if target.is_dir():
            raise BadInputError(f"cannot write {target}: it is a directory")
        if _is_special(target):
            if not os.access(target, os.W_OK):
                raise BadInputError(f"cannot write {target}: permission denied")
            return target
        real = Path(os.path.realpath(target))
        parent = real.parent if str(real.parent) else Path(".")
        if not parent.is_dir():
            raise BadInputError(f"cannot write {target}: folder {target.parent} does not exist")
        exists = real.exists()
        if not os.access(parent, os.W_OK) or (exists and not os.access(real, os.W_OK)):
            raise BadInputError(f"cannot write {target}: permission denied")
        if len(real.name.encode("utf-8", "surrogateescape")) > 255:
            raise BadInputError(f"cannot write {target}: the file name is too long")
    except OSError as exc:
        raise BadInputError(f"cannot write {target}: {_why(exc)}") from None
    return target


def _new_file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _write_in_place(target: Path, data: bytes) -> None:
    """Open and write like the shell's ``>`` (devices, FIFOs, sockets); never replace.

    A FIFO waits :data:`FIFO_WAIT` seconds at most for a process to read it (see
    :func:`_open_fifo`); a reader that is there gets the report as a stream.
    """
    flags = os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOCTTY", 0)
    fd = _open_fifo(target, flags) if _is_fifo(target) else os.open(target, flags)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


#: Seconds an output FIFO may wait for its reader (``mkfifo p; gpudoctor check -o p &``,
#: then ``cat p``) before the write fails with one line instead of waiting forever.
FIFO_WAIT = 10.0


def _open_fifo(target: Path, flags: int) -> int:
    """Open a FIFO for writing once a process reads it, or fail after :data:`FIFO_WAIT` s.

    A plain blocking open waits forever when no one ever reads; opening without blocking
    fails at once (ENXIO) while there is no reader yet, so it is retried until one comes.
    """
    if sys.platform == "win32":  # no FIFOs there
        return os.open(target, flags)
    deadline = time.monotonic() + FIFO_WAIT
    while True:
        try:
            fd = os.open(target, flags | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            if time.monotonic() >= deadline:
                why = f"it is a FIFO (named pipe) that no process read within {FIFO_WAIT:g} s"
                raise OSError(errno.ENXIO, why) from None
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)  # the reader is there: wait for it as a pipe does
        return fd


def _is_fifo(target: Path) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(target).st_mode)
    except OSError:
        return False


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` without leaving half a file, and without replacing a device.

    Raises OSError (ENOSPC, EROFS ...) with the target left exactly as it was.
    """
    target = Path(path)
    if _is_special(target):
        _write_in_place(target, data)
        return
    real = Path(os.path.realpath(target)) if target.is_symlink() else target
    try:
        old = os.stat(real)
    except FileNotFoundError:
        old = None
    folder = real.parent if str(real.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:100]}.", suffix=".tmp", dir=folder)

    def keep_mode_and_owner(fresh: str) -> None:
        if old is None:
            os.chmod(fresh, _new_file_mode())
            return
        os.chmod(fresh, stat.S_IMODE(old.st_mode))
        if hasattr(os, "chown") and (old.st_uid, old.st_gid) != _owner(fresh):
            try:
                os.chown(fresh, old.st_uid, old.st_gid)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EACCES):
                    raise

    replace_through_temp(fd, tmp, real, data, keep_mode_and_owner)


def replace_through_temp(
    fd: int,
    tmp: str | os.PathLike[str],
    target: str | os.PathLike[str],
    data: bytes,
    prepare: Callable[[str], None],
) -> None:
    """Write ``data`` into the new temporary file ``tmp`` (open as ``fd``) and flush it to
    disk, let ``prepare(tmp)`` give it its mode and owner, then rename it over ``target``.

    On any failure ``tmp`` is removed and ``target`` is left exactly as it was.
    """
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        prepare(os.fspath(tmp))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _owner(path: str) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text (UTF-8) safely; an OS refusal becomes a one-line BadInputError."""
    try:
        atomic_write_bytes(path, text.encode("utf-8", errors="replace"))
    except OSError as exc:
        raise BadInputError(f"cannot write {path}: {_why(exc)}") from None
