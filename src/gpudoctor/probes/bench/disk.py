"""How fast can training read this dataset folder? Sequential and small-file reads, cold.

Training reads a dataset in one of two ways: big shards front to back, or many small files
(one image each) in shuffled order. We time both on the user's own files, keeping the page
cache out of the way so the figure is what the first epoch sees:

1. ``O_DIRECT`` with page-aligned buffers (Linux), which reads from the device;
2. else ``posix_fadvise(DONTNEED)`` before reading, which drops the file's cached pages (not
   guaranteed for files we may not write, so those figures are labelled "maybe warm");
3. else nothing can be done and the figure is labelled warm-cache.

Only read permission is needed; nothing is ever written into the folder. The run is bounded
by a time and a byte budget.
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import random
import re
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpudoctor.errors import BadInputError
from gpudoctor.probes.procfs import mount_of
from gpudoctor.probes.procfs import parse_mountinfo

MB = 1_000_000
MiB = 1 << 20
#: Files at least this big are read as shards (front to back); smaller ones as samples.
LARGE_FILE_BYTES = 16 * MiB
BLOCK_BYTES = 1 * MiB
#: Direct reads must cover whole blocks: requests are rounded up to a page.
PAGE_BYTES = 4096
DEFAULT_SECONDS = 3.0
DEFAULT_BYTE_BUDGET = 1024 * MiB
#: Files the folder scan may list before it stops (huge datasets are sampled, not walked).
MAX_SCAN_FILES = 200_000

#: Cache labels, from most to least trustworthy.
CACHE_DIRECT = "cold (O_DIRECT)"
CACHE_DROPPED = "cold (page cache dropped)"
CACHE_MAYBE = "maybe warm (could not verify the page cache was dropped)"
CACHE_WARM = "warm-cache (the page cache could not be bypassed)"
CACHE_MEMORY = "memory (RAM-backed filesystem)"
_CACHE_RANK = {CACHE_DIRECT: 0, CACHE_DROPPED: 1, CACHE_MEMORY: 2, CACHE_MAYBE: 3, CACHE_WARM: 4}

ProgressFunc = Callable[[str, float], None]

NETWORK_FSTYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ncpfs",
        "afs",
        "ceph",
        "lustre",
        "glusterfs",
        "gpfs",
        "beegfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.rclone",
        "fuse.glusterfs",
        "fuse.juicefs",
        "fuse.goofys",
        "fuse.mountpoint-s3",
        "virtiofs",
    }
)
WSL_DRIVE_FSTYPES = frozenset({"9p", "v9fs", "drvfs"})
MEMORY_FSTYPES = frozenset({"tmpfs", "ramfs"})
OVERLAY_FSTYPES = frozenset(
    {"overlay", "overlayfs", "aufs", "fuse-overlayfs", "fuse.fuse-overlayfs"}
)

MEANINGS = {
    "local-ssd": "Local SSD/NVMe: fast enough for most training; millions of tiny files "
    "still cost one open() each.",
    "local-hdd": "Spinning disk: every small file costs a seek (~5-10 ms), so shuffled "
    "small-file datasets read at ~100-200 files/s. Copy to an SSD or pack into shards.",
    "local-disk": "Local or virtual disk of unknown media (VM and cloud disks do not say): "
    "trust the measured figures below.",
    "network": "Network filesystem: every open and stat crosses the network, so many small "
    "files read slowly. Copy the dataset to local disk or pack it into shards "
    "(tar/WebDataset, LMDB, HDF5).",
    "wsl-drive": "Windows drive seen from WSL2 (9p/drvfs): per-file cost is many times "
    "that of the Linux filesystem. Copy the dataset into the Linux side (e.g. ~/data).",
    "overlay": "Container overlay layer: reads pay copy-on-write lookups. Mount the dataset "
    "as a volume (docker run -v) instead of baking it into the image.",
    "memory": "RAM-backed (tmpfs): as fast as reads get, but the dataset occupies RAM.",
    "fuse": "FUSE filesystem: every read goes through a user-space daemon; expect high "
    "per-file cost.",
    "unknown": "Filesystem type could not be determined.",
}


# -- filesystem classification ------------------------------------------------------------


def _media(device: str, sys_path: Callable[[str], str | os.PathLike[str]]) -> dict[str, Any]:
    """SSD or HDD for block device ``MAJ:MIN``, following partitions and device-mapper."""
    try:
        node = Path(os.path.realpath(sys_path(f"/sys/dev/block/{device}")))
    except OSError:
        return {"media": "unknown", "block_device": None, "reason": "no /sys/dev/block entry"}
    if not node.exists():
        return {"media": "unknown", "block_device": None, "reason": "no /sys/dev/block entry"}
    if (node / "partition").exists():
        node = node.parent
    slaves = node / "slaves"
    if slaves.is_dir():
        inner = sorted(slaves.iterdir())
        if inner:
            node = Path(os.path.realpath(inner[0]))
            if (node / "partition").exists():
                node = node.parent
    name = node.name
    rotational = None
    try:
        rotational = (node / "queue" / "rotational").read_text().strip() == "1"
    except OSError:
        pass
    if name.startswith(("zram", "ram")):
        media = "memory"
    elif name.startswith("nvme"):
        media = "ssd"
    elif name.startswith(("vd", "xvd")) or "/virtio" in str(node):
        media = "virtual"
    elif name.startswith("loop"):
        media = "loop"
    elif rotational is None:
        media = "unknown"
    else:
        media = "hdd" if rotational else "ssd"
    return {"media": media, "block_device": name, "rotational": rotational}


def classify_filesystem(
    path: str,
    mountinfo_text: str,
    *,
    sys_path: Callable[[str], str | os.PathLike[str]] = Path,
    is_wsl: bool = False,
) -> dict[str, Any]:
    """What kind of storage holds ``path``, and what that means for training."""
    mount = mount_of(path, parse_mountinfo(mountinfo_text))
    if mount is None:
        return {"kind": "unknown", "fstype": None, "meaning": MEANINGS["unknown"]}
    fstype = mount.fstype
    info: dict[str, Any] = {
        "fstype": fstype,
        "mount_point": mount.mount_point,
        "source": mount.source,
    }
    drive_path = bool(re.match(r"^/mnt/[a-zA-Z](/|$)", path))
    drvfs_mount = fstype == "drvfs" or (
        fstype in WSL_DRIVE_FSTYPES and ("drvfs" in mount.super_options or is_wsl)
    )
    drive_share = is_wsl and drive_path and fstype in ({"virtiofs"} | WSL_DRIVE_FSTYPES)
    if drvfs_mount or drive_share:
        kind = "wsl-drive"
    elif fstype in NETWORK_FSTYPES or fstype in WSL_DRIVE_FSTYPES:
        kind = "network"
    elif fstype in OVERLAY_FSTYPES:
        kind = "overlay"
    elif fstype in MEMORY_FSTYPES:
        kind = "memory"
    elif fstype.startswith("fuse"):
        kind = "fuse"
    else:
        media = _media(mount.device, sys_path)
        info.update(media)
        kind = {
            "ssd": "local-ssd",
            "hdd": "local-hdd",
            "memory": "memory",
        }.get(media["media"], "local-disk")
    info["kind"] = kind
    info["meaning"] = MEANINGS[kind]
    return info


def classify_local_path(path: str) -> dict[str, Any]:
    """:func:`classify_filesystem` for this machine (Linux ``/proc``; elsewhere unknown)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return {"kind": "unknown", "fstype": None, "meaning": MEANINGS["unknown"]}
    from gpudoctor.probes import ProbeContext

    is_wsl = ProbeContext().identity.is_wsl
    return classify_filesystem(os.path.realpath(path), text, is_wsl=is_wsl)


# -- reading without the page cache -------------------------------------------------------


class _Reader:
    """Reads whole files through one aligned buffer, bypassing the page cache if it can."""

    def __init__(self, fs_kind: str, *, bypass_cache: bool = True) -> None:
        self.buffer = mmap.mmap(-1, BLOCK_BYTES)  # anonymous mmap: page-aligned
        self.view = memoryview(self.buffer)
        self.fs_kind = fs_kind
        self.bypass_cache = bypass_cache
        self.direct_ok = bypass_cache and hasattr(os, "O_DIRECT") and fs_kind != "memory"
        # Worked out once: the per-file path stays short, as a C reader's would.
        self.flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        self.direct_flags = self.flags | getattr(os, "O_DIRECT", 0)

    def close(self) -> None:
        self.view.release()
        self.buffer.close()

    def _open(self, path: str) -> tuple[int, str]:
        if self.direct_ok:
            try:
                return os.open(path, self.direct_flags), CACHE_DIRECT
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                self.direct_ok = False
        fd = os.open(path, self.flags)
        if self.fs_kind == "memory":
            return fd, CACHE_MEMORY
        if not self.bypass_cache:
            return fd, CACHE_WARM
        if sys.platform != "win32" and sys.platform != "darwin":
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                return fd, CACHE_WARM
            # Dropping pages of a file we may not write is not honoured everywhere.
            return fd, CACHE_DROPPED if os.access(path, os.W_OK) else CACHE_MAYBE
        if sys.platform == "darwin":  # pragma: no cover - macOS only
            import fcntl

            try:
                fcntl.fcntl(fd, fcntl.F_NOCACHE, 1)
                return fd, CACHE_MAYBE
            except OSError:
                pass
        return fd, CACHE_WARM

    def read_file(self, path: str, limit: int, deadline: float = math.inf) -> tuple[int, str]:
        """Read up to ``limit`` bytes of ``path`` front to back, stopping at ``deadline``.

        Each request asks for what is left of ``limit`` (rounded up to whole pages), at
        most a block: as fio and a data loader do. Asking a small file for a whole block
        past its end costs the kernel more per file (~10% fewer files/s here).

        Returns (bytes read, cache label).
        """
        fd, cache = self._open(path)
        total = 0
        try:
            while total < limit and time.perf_counter() < deadline:
                want = min(BLOCK_BYTES, -(-(limit - total) // PAGE_BYTES) * PAGE_BYTES)
                try:
                    got = _read_into(fd, self.view[:want])
                except OSError as exc:
                    if cache != CACHE_DIRECT or exc.errno != errno.EINVAL or total:
                        raise
                    # The filesystem accepted O_DIRECT at open but not at read: fall back.
                    os.close(fd)
                    self.direct_ok = False
                    fd, cache = self._open(path)
                    continue
                total += got
                if got < want:
                    break
        finally:
            os.close(fd)
        return total, cache


def _read_into(fd: int, view: memoryview) -> int:
    if sys.platform != "win32":
        read: int = os.readv(fd, [view])
        return read
    data = os.read(fd, len(view))  # pragma: no cover - Windows
    view[: len(data)] = data
    return len(data)


# -- the benchmark -------------------------------------------------------------------------


def validate_folder(
    path: str,
    *,
    label: str = "",
    kind: str = "a dataset folder (give its directory)",
    denied: str = "permission denied (need read access to the folder)",
) -> Path:
    """The folder to read, or a one-line BadInputError (``label: why``, label defaulting to
    ``path``) saying why it cannot be."""
    folder = Path(path).expanduser()
    label = label or path
    if not folder.exists():
        raise BadInputError(f"{label}: no such file or directory")
    if not folder.is_dir():
        raise BadInputError(f"{label}: is a file, not {kind}")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise BadInputError(f"{label}: {denied}")
    return folder


def scan_files(
    folder: Path, *, deadline: float, max_files: int = MAX_SCAN_FILES
) -> tuple[list[tuple[str, int]], bool, int]:
    """Regular non-empty files under ``folder``: (files, truncated, unreadable entries)."""
    found: list[tuple[str, int]] = []
    unreadable = 0
    stack = [str(folder)]
    truncated = False
    while stack:
        if len(found) >= max_files or time.monotonic() > deadline:
            truncated = True
            break
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                            continue
                        info = entry.stat()
                    except OSError:
                        unreadable += 1
                        continue
                    if stat.S_ISREG(info.st_mode) and info.st_size > 0:
                        found.append((entry.path, info.st_size))
        except OSError:
            unreadable += 1
    return found, truncated, unreadable


def _weakest(labels: set[str]) -> str:
    return max(labels, key=lambda label: _CACHE_RANK[label]) if labels else CACHE_WARM


def _phase(
    reader: _Reader,
    files: list[tuple[str, int]],
    *,
    seconds: float,
    byte_budget: int,
    per_file_limit: int,
    on_progress: Callable[[float], None],
) -> dict[str, Any] | None:
    if not files or seconds <= 0:
        return None
    done_files = 0
    done_bytes = 0
    failed = 0
    labels: set[str] = set()
    # Progress goes out ~50 times a phase, not once a file: a redrawn bar per small file
    # would cost more CPU than the read it reports.
    report_every = seconds / 50
    next_report = 0.0
    start = time.perf_counter()
    deadline = start + seconds
    for path, size in files:
        elapsed = time.perf_counter() - start
        if elapsed >= seconds or done_bytes >= byte_budget:
            break
        try:
            got, label = reader.read_file(
                path, min(size, per_file_limit, byte_budget - done_bytes), deadline
            )
        except OSError:
            failed += 1
            continue
        labels.add(label)
        done_files += 1
        done_bytes += got
        if elapsed >= next_report:
            next_report = elapsed + report_every
            on_progress(max(elapsed / seconds, done_bytes / byte_budget))
    took = time.perf_counter() - start
    if done_files == 0:
        return None
    return {
        "files": done_files,
        "bytes": done_bytes,
        "seconds": round(took, 4),
        "mb_per_s": round(done_bytes / MB / took, 1) if took > 0 else None,
        "files_per_s": round(done_files / took, 1) if took > 0 else None,
        "mean_file_bytes": done_bytes // done_files,
        "unreadable_files": failed,
        "cache": _weakest(labels),
    }


def bench_disk(
    path: str,
    *,
    seconds: float = DEFAULT_SECONDS,
    byte_budget: int = DEFAULT_BYTE_BUDGET,
    seed: int | None = None,
    progress: ProgressFunc | None = None,
    filesystem: dict[str, Any] | None = None,
    bypass_cache: bool = True,
) -> dict[str, Any]:
    """Measure how fast training can read the folder ``path``; returns JSON-ready results.

    ``bypass_cache=False`` measures what a later epoch sees (labelled warm-cache).

    Raises :class:`BadInputError` when the folder does not exist, is a file, cannot be read
    or holds no readable data.
    """
    folder = validate_folder(path)
    started = time.monotonic()
    report = progress or (lambda _phase, _fraction: None)
    fs = filesystem if filesystem is not None else classify_local_path(str(folder))
    report("scan", 0.0)
    files, truncated, unreadable = scan_files(folder, deadline=started + max(0.2, seconds * 0.3))
    if not files:
        if unreadable:
            raise BadInputError(f"{path}: permission denied (no file in it could be read)")
        raise BadInputError(f"{path}: the folder holds no files with data to measure")
    report("scan", 1.0)
    rng = random.Random(seed)
    large = [f for f in files if f[1] >= LARGE_FILE_BYTES]
    small = [f for f in files if f[1] < LARGE_FILE_BYTES]
    rng.shuffle(large)
    rng.shuffle(small)
    remaining = max(0.1, seconds - (time.monotonic() - started))
    share = 0.5 if large and small else 1.0
    reader = _Reader(fs.get("kind", "unknown"), bypass_cache=bypass_cache)
    try:
        sequential = _phase(
            reader,
            large,
            seconds=remaining * share if large else 0,
            byte_budget=int(byte_budget * share),
            per_file_limit=byte_budget,
            on_progress=lambda f: report("sequential", min(1.0, f)),
        )
        left = max(0.05, seconds - (time.monotonic() - started))
        small_files = _phase(
            reader,
            small,
            seconds=left if small else 0,
            byte_budget=byte_budget - (sequential["bytes"] if sequential else 0),
            per_file_limit=LARGE_FILE_BYTES,
            on_progress=lambda f: report("small files", min(1.0, f)),
        )
    finally:
        reader.close()
    if sequential is None and small_files is None:
        raise BadInputError(f"{path}: permission denied (no file in it could be read)")
    return {
        "path": str(folder),
        "filesystem": fs,
        "files_seen": len(files),
        "bytes_seen": sum(size for _p, size in files),
        "large_files_seen": len(large),
        "scan_truncated": truncated,
        "unreadable_entries": unreadable,
        "sequential": sequential,
        "small_files": small_files,
        "budget": {"seconds": seconds, "bytes": byte_budget},
        "elapsed_s": round(time.monotonic() - started, 3),
    }
