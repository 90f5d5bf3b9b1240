"""Crash output as PyTorch, NCCL, the DataLoader and the kernel print it, one line at a time.

Each pattern names a ``kind`` that one check in ``gpudoctor.checks.run_log`` explains. The
OOM message is parsed into the caching allocator's numbers, in both wordings: PyTorch >= 2.1
("GPU 0 has a total capacity of ... Process N has ...") and older ("(GPU 0; X total capacity;
Y already allocated; Z free; W reserved in total by PyTorch)").
"""

from __future__ import annotations

import re
from typing import Any

#: Cheap byte test run on every line that is not a metrics line.
HINT = re.compile(
    rb"rror|NCCL|Xid|[Kk]illed|bootstrapping|out of memory|STATUS_|verflow|[Cc]heckpoint"
    rb"|Bus error|bus error|shared memory|open files|kernel image|Watchdog|ancdata|Exception"
)

_SIZE = r"([\d.]+ ?(?:bytes|[KMGT]iB|B))"
_UNITS = {"bytes": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def parse_size(text: str) -> int | None:
    """``"7.79 GiB"`` -> bytes; ``"0 bytes"`` -> 0."""
    match = re.fullmatch(r"([\d.]+) ?(bytes|[KMGT]iB|B)", text.strip())
    if not match:
        return None
    try:
        return int(float(match.group(1)) * _UNITS[match.group(2)])
    except ValueError:
        return None


_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError: CUDA")
_OOM_NEW = re.compile(
    rf"Tried to allocate {_SIZE}\. GPU (\d+) has a total capac\w* of {_SIZE} "
    rf"of which {_SIZE} is free"
)
_OOM_OLD = re.compile(
    rf"Tried to allocate {_SIZE} \(GPU (\d+); {_SIZE} total capacity; {_SIZE} already allocated;"
    rf" {_SIZE} free; {_SIZE} reserved in total by PyTorch\)"
)
#: The two wordings of the allocator's message, and the field each group of it fills.
_OOM_WORDINGS = (
    (_OOM_NEW, "2.1+", ("tried_bytes", "gpu", "capacity_bytes", "free_bytes")),
    (
        _OOM_OLD,
        "pre-2.1",
        ("tried_bytes", "gpu", "capacity_bytes", "allocated_bytes", "free_bytes", "reserved_bytes"),
    ),
)
_OOM_PROC = re.compile(rf"Process (\d+) has {_SIZE} memory in use")
_OOM_SELF = re.compile(rf"this process has {_SIZE} memory in use")
_OOM_SPLIT = re.compile(
    rf"Of the allocated memory {_SIZE} is allocated by PyTorch, and {_SIZE} is reserved by "
    r"PyTorch but unallocated"
)


def parse_oom(text: str) -> dict[str, Any]:
    """The allocator's numbers in one OOM message; missing ones are absent."""
    out: dict[str, Any] = {}
    for pattern, wording, fields in _OOM_WORDINGS:
        match = pattern.search(text)
        if match:
            out["wording"] = wording
            for name, value in zip(fields, match.groups()):
                out[name] = int(value) if name == "gpu" else parse_size(value)
            allocated, reserved = out.get("allocated_bytes"), out.get("reserved_bytes")
            if allocated is not None and reserved is not None:
                out["unallocated_bytes"] = max(0, reserved - allocated)
            break
    else:
        tried = re.search(rf"Tried to allocate {_SIZE}", text)
        if tried:
            out["tried_bytes"] = parse_size(tried.group(1))
    processes = [
        {"pid": int(pid), "bytes": parse_size(size)} for pid, size in _OOM_PROC.findall(text)
    ]
    if processes:
        out["processes"] = processes
    own = _OOM_SELF.search(text)
    if own:
        out["self_bytes"] = parse_size(own.group(1))
    split = _OOM_SPLIT.search(text)
    if split:
        out["allocated_bytes"] = parse_size(split.group(1))
        out["unallocated_bytes"] = parse_size(split.group(2))
    return out


_NCCL_TIMEOUT = re.compile(
    r"Watchdog caught collective operation timeout|collective operation timeout"
)
_NCCL_ERROR = re.compile(
    r"NCCL error|ncclUnhandledCudaError|ncclSystemError|ncclInternalError"
    r"|ncclRemoteError|NCCL communicator was aborted"
)
_WORKER = re.compile(
    r"DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\) (?:is killed by signal: ([^.\n]+)|exited "
    r"unexpectedly)"
)
_XID = re.compile(r"NVRM: Xid \(([^)]*)\): (\d+)(?:, pid=([^,\s]+))?")

#: (kind, pattern) tried in order; the first that matches names the line.
_SIMPLE: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "shm",
        re.compile(
            r"insufficient shared memory \(shm\)|out of shared memory|"
            r"unexpected bus error encountered in worker",
            re.I,
        ),
    ),
    ("windows_paging_file", re.compile(r"WinError 1455|paging file is too small")),
    (
        "spawn_main_guard",
        re.compile(
            r"start a new process before the\s*$|before the\s+current "
            r"process has finished its bootstrapping phase|current process "
            r"has finished its bootstrapping phase"
        ),
    ),
    ("too_many_open_files", re.compile(r"Too many open files|received 0 items of ancdata")),
    ("no_kernel_image", re.compile(r"no kernel image is available for execution on the device")),
    ("cudnn_cublas", re.compile(r"(?:CUDNN|CUBLAS)_STATUS_[A-Z_]+|cuDNN error: [A-Z_]+")),
    ("cuda_unknown", re.compile(r"CUDA error: unknown error|CUDA unknown error")),
    ("host_oom_kill", re.compile(r"Out of memory: Kill(?:ed)? process (\d+)|oom-kill:.*task=")),
)
_AMP = re.compile(r"Gradient overflow|OVERFLOW!|reducing loss scale|loss scale.*(?:reduc|to)\s")
_EXCEPTION = re.compile(
    r"^(?:\[rank\d+\]: ?)?((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)): ?(.*)$"
)


def classify(text: str) -> tuple[str, dict[str, Any]] | None:
    """The crash kind of one line and its numbers, or None for an ordinary line."""
    if _OOM.search(text):
        return "cuda_oom", parse_oom(text)
    worker = _WORKER.search(text)
    if worker:
        signal = (worker.group(2) or "").strip()
        pids = [int(p) for p in re.findall(r"\d+", worker.group(1))]
        kind = "shm" if "bus error" in signal.lower() else "worker_killed"
        return kind, {"pids": pids, "signal": signal or "exited unexpectedly"}
    if _NCCL_TIMEOUT.search(text):
        fields: dict[str, Any] = {"timeout": True}
        for key, field_pattern in (
            ("rank", r"\[Rank (\d+)\]"),
            ("op", r"OpType=(\w+)"),
            ("seq", r"SeqNum=(\d+)"),
            ("timeout_ms", r"Timeout\(ms\)=(\d+)"),
            ("ran_ms", r"ran for (\d+) milliseconds"),
        ):
            found = re.search(field_pattern, text)
            if found:
                fields[key] = found.group(1) if key == "op" else int(found.group(1))
        return "nccl", fields
    if _NCCL_ERROR.search(text):
        return "nccl", {"timeout": False}
    xid = _XID.search(text)
    if xid:
        return "xid", {"pci": xid.group(1), "code": int(xid.group(2)), "pid": xid.group(3) or ""}
    for simple_kind, pattern in _SIMPLE:
        simple = pattern.search(text)
        if simple:
            return simple_kind, {"match": simple.group(0)}
    return None


def is_amp_overflow(text: str) -> bool:
    return bool(_AMP.search(text))


def exception_line(text: str) -> tuple[str, str] | None:
    """``("torch.OutOfMemoryError", "CUDA out of ...")`` for the last line of a traceback."""
    found = _EXCEPTION.match(text.strip("\r\n"))
    return (found.group(1), found.group(2)) if found else None
