"""Crash output found in logs (GD810-GD821): one check per kind of crash.

The records come from :mod:`gpudoctor.readers.logs.crashes`; each carries the line it was
read from and the numbers in it. A crash from an earlier run in the same file is ``info``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

from gpudoctor.api import Evidence
from gpudoctor.api import Facts
from gpudoctor.api import GiB
from gpudoctor.api import MiB
from gpudoctor.api import Remedy
from gpudoctor.api import Severity
from gpudoctor.api import Verdict
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fmt_bytes
from gpudoctor.api import remedy
from gpudoctor.api import verdict
from gpudoctor.checks.xid_codes import describe_xid

#: Memory held by other processes at OOM time that is worth naming.
HOLDER_MIN = 256 * MiB
#: What a CUDA context and non-PyTorch allocations add to a process's own reserved memory.
CONTEXT_SLACK = 2 * GiB
_TAGS = ("run", "log", "crash")


def records(facts: Facts, kind: str) -> Iterator[tuple[Any, Any]]:
    """(file, crash record) for every record of ``kind``."""
    for item in facts["run_log"].get("files") or ():
        if not item.get("understood"):
            continue
        for crash in item.get("crashes") or ():
            if crash["kind"] == kind:
                yield item, crash


def _where(item: Any, line: int) -> str:
    return f"{item['name']}:{line}"


def _printed(item: Any, crash: Any) -> Evidence:
    """The crash's own line, as evidence that names the file and line it was read from."""
    return evidence("printed", crash["text"], _where(item, crash["line"]))


def _crash_verdict(
    item: Any,
    crash: Any,
    title: str,
    *,
    evidence: list[Evidence],
    remedies: list[Remedy],
    current: Severity = Severity.FAIL,
    offer_fix: bool = True,
) -> Verdict:
    """A crash's finding about its file: ``current`` for the last run, info for an earlier one."""
    runs = item.get("runs", 1)
    latest = crash.get("run", 1) == runs
    return verdict(
        current if latest else Severity.INFO,
        title + ("" if latest else f" (in run {crash['run']} of {runs})"),
        subject=item["name"],
        evidence=evidence,
        remedies=remedies,
        offer_fix=offer_fix,
    )


def _printed_crash_check(
    id: str,
    name: str,
    *,
    summary: str,
    why: str,
    kind: str,
    title: str,
    remedies: list[Remedy],
    tags: tuple[str, ...] = _TAGS,
) -> Callable[[Facts], list[Verdict]]:
    """Declare the check of a crash kind whose finding needs nothing but the printed line.

    Each finding says ``title`` (what happened) and offers ``remedies`` (what to do); ``why``
    is the check's docstring.
    """

    def judge(facts: Facts) -> list[Verdict]:
        out = []
        for item, crash in records(facts, kind):
            ev = [_printed(item, crash)]
            if crash.get("count", 1) > 1:
                ev.append(evidence("times in this file", crash["count"]))
            out.append(_crash_verdict(item, crash, title, evidence=ev, remedies=remedies))
        return out

    judge.__name__ = judge.__qualname__ = name.replace("-", "_")
    judge.__doc__ = why
    return check(id, name, summary=summary, requires=("run_log",), tags=tags)(judge)


# -- GD810: CUDA out of memory -----------------------------------------------------------------

_KILL_STALE = remedy(
    "Stop the processes that still hold GPU memory (gpudoctor shows them and asks first).",
    "gpudoctor fix --kill-stale --dry-run",
    "gpudoctor fix --kill-stale",
)
_EXPANDABLE = remedy(
    "Let the allocator grow segments instead of splitting fixed blocks (PyTorch 2.1 or "
    "newer, Linux and WSL; Windows builds ignore it with a warning; before 2.1 use "
    "max_split_size_mb:128 instead).",
    "export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True",
)
_SMALLER = remedy(
    "Make the step fit: a smaller batch (with gradient accumulation to keep the effective "
    "batch), mixed precision (bf16/fp16), activation checkpointing, or a smaller input size."
)


def _reserved(fields: Any) -> int | None:
    if fields.get("reserved_bytes") is not None:
        return int(fields["reserved_bytes"])
    allocated, unallocated = fields.get("allocated_bytes"), fields.get("unallocated_bytes")
    if allocated is None or unallocated is None:
        return None
    return int(allocated) + int(unallocated)


def split_holders(fields: Any) -> tuple[list[Any], Any | None]:
    """(other processes, the failing process itself if it appears as "Process N").

    In a container, PyTorch cannot match its own PID to the host PID NVML reports, so it
    prints itself as "Process N has X in use" instead of "this process has". A single such
    process whose memory is what this process reserved plus at most a CUDA context is
    the failing process itself.
    """
    processes = list(fields.get("processes") or ())
    reserved = _reserved(fields)
    if fields.get("self_bytes") is None and reserved is not None:
        for proc in processes:
            used = proc.get("bytes")
            if used is not None and reserved <= used <= reserved + CONTEXT_SLACK:
                return [p for p in processes if p is not proc], proc
    return processes, None


def oom_verdict(item: Any, crash: Any) -> Verdict:
    fields = crash["fields"]
    others, itself = split_holders(fields)
    tried = fields.get("tried_bytes")
    capacity = fields.get("capacity_bytes")
    free = fields.get("free_bytes")
    unallocated = fields.get("unallocated_bytes")
    reserved = _reserved(fields)
    ev = [_printed(item, crash)]
    for label, value in (
        ("tried to allocate", tried),
        ("GPU capacity", capacity),
        ("free on the GPU", free),
        ("reserved by PyTorch", reserved),
        ("allocated by PyTorch", fields.get("allocated_bytes")),
        ("reserved but unallocated", unallocated),
    ):
        if value is not None:
            ev.append(evidence(label, fmt_bytes(value)))
    if itself is not None:
        ev.append(
            evidence(
                f"process {itself['pid']}",
                f"{fmt_bytes(itself['bytes'])}: the failing process itself, seen under its host "
                "PID from inside a container (it matches what PyTorch reserved plus its CUDA "
                "context)",
            )
        )
    held = sum(int(p.get("bytes") or 0) for p in others)
    where = f" on GPU {fields['gpu']}" if fields.get("gpu") is not None else ""
    if others and held >= HOLDER_MIN:
        for proc in others:
            ev.append(evidence(f"process {proc['pid']}", f"{fmt_bytes(proc.get('bytes'))} in use"))
        pids = ", ".join(str(p["pid"]) for p in others)
        return _crash_verdict(
            item,
            crash,
            f"CUDA out of memory{where}: other processes held {fmt_bytes(held)} (PID {pids})",
            evidence=ev,
            remedies=[
                _KILL_STALE,
                remedy("Or run on a GPU nobody else uses (CUDA_VISIBLE_DEVICES)."),
            ],
        )
    if (
        unallocated is not None
        and tried is not None
        and unallocated >= tried
        and unallocated >= (64 * MiB)
    ):
        return _crash_verdict(
            item,
            crash,
            f"CUDA out of memory{where} from fragmentation: {fmt_bytes(unallocated)} reserved "
            f"but unallocated, yet {fmt_bytes(tried)} did not fit in one piece",
            evidence=ev,
            remedies=[_EXPANDABLE, _SMALLER],
            offer_fix=False,
        )
    need = f"{fmt_bytes(tried)} more" if tried is not None else "more"
    return _crash_verdict(
        item,
        crash,
        f"CUDA out of memory{where}: the step needed {need} than the GPU had left"
        + (f" ({fmt_bytes(free)} free of {fmt_bytes(capacity)})" if capacity else ""),
        evidence=ev,
        remedies=[_SMALLER],
        offer_fix=False,
    )


@check(
    "GD810",
    "cuda-out-of-memory",
    summary="No CUDA out-of-memory error in the log",
    requires=("run_log",),
    fix="kill-stale",
    tags=_TAGS,
)
def cuda_out_of_memory(facts: Facts) -> list[Verdict]:
    """Which of three causes the allocator's own numbers point to."""
    return [oom_verdict(item, crash) for item, crash in records(facts, "cuda_oom")]


# -- GD811 - GD821: the other crashes ----------------------------------------------------------


@check(
    "GD811",
    "dataloader-worker-killed",
    summary="No DataLoader worker was killed",
    requires=("run_log",),
    tags=_TAGS,
)
def dataloader_worker_killed(facts: Facts) -> list[Verdict]:
    """A worker killed by a signal: usually the kernel's OOM killer (RAM, not GPU)."""
    out = []
    for kind in ("worker_killed", "host_oom_kill"):
        for item, crash in records(facts, kind):
            fields = crash["fields"]
            signal = fields.get("signal", "killed by the kernel's OOM killer")
            pids = ", ".join(str(p) for p in fields.get("pids") or ()) or "?"
            title = (
                f"DataLoader worker (pid {pids}) died: {signal}"
                if kind == "worker_killed"
                else "the kernel's OOM killer killed a process"
            )
            out.append(
                _crash_verdict(
                    item,
                    crash,
                    title,
                    evidence=[_printed(item, crash)],
                    remedies=[
                        remedy(
                            '"Killed" means the system ran out of RAM: each worker holds a '
                            "copy of what the dataset keeps in memory. Use fewer workers, a "
                            "smaller prefetch_factor, or keep the dataset's data in numpy "
                            "arrays instead of Python lists.",
                            "gpudoctor check --select GD3,GD6",
                        ),
                        remedy(
                            "Confirm in the kernel log.",
                            "sudo dmesg -T | grep -i 'killed process'",
                            platforms=("linux", "wsl"),
                        ),
                    ],
                )
            )
    return out


shm_bus_error = _printed_crash_check(
    "GD812",
    "shm-bus-error",
    summary="No DataLoader bus error from a too-small /dev/shm",
    why="Workers pass batches through /dev/shm; a full one kills them with SIGBUS.",
    kind="shm",
    title="a DataLoader worker ran out of shared memory (/dev/shm)",
    remedies=[
        remedy(
            "Give the container more shared memory.",
            "docker run --shm-size=16g ...   # or --ipc=host",
            platforms=("docker",),
        ),
        remedy(
            "On Kubernetes mount an emptyDir with medium: Memory at /dev/shm; otherwise use "
            "fewer workers or a smaller batch. gpudoctor check --select GD303 measures it."
        ),
    ],
)


windows_paging_file = _printed_crash_check(
    "GD813",
    "windows-paging-file",
    summary="No WinError 1455 (paging file too small)",
    why="Each spawned worker loads the CUDA DLLs and commits gigabytes of virtual memory.",
    kind="windows_paging_file",
    title="Windows ran out of commit (WinError 1455, paging file too small) loading DLLs",
    remedies=[
        remedy(
            "Use fewer DataLoader workers, or let Windows grow the paging file (System > "
            "Advanced system settings > Performance > Virtual memory; system managed size).",
            platforms=("windows",),
        ),
        remedy("gpudoctor check --script train.py estimates the commit per worker (GD605)."),
    ],
    tags=(*_TAGS, "windows"),
)


spawn_bootstrap_error = _printed_crash_check(
    "GD814",
    "spawn-bootstrap-error",
    summary="No 'bootstrapping phase' RuntimeError from a missing main guard",
    why="Spawned workers re-import the script; unguarded code starts workers again.",
    kind="spawn_main_guard",
    title="workers were started while the script was being imported (no main guard)",
    remedies=[
        remedy(
            "Put the training code under a main guard.",
            "if __name__ == '__main__':\n    main()",
        ),
        remedy("gpudoctor check --script train.py points at the unguarded lines (GD601)."),
    ],
    tags=(*_TAGS, "windows", "macos"),
)


@check(
    "GD815",
    "nccl-timeout",
    summary="No NCCL watchdog timeout or NCCL error",
    requires=("run_log",),
    tags=(*_TAGS, "cluster"),
)
def nccl_timeout(facts: Facts) -> list[Verdict]:
    """A collective that one rank never joined, or an NCCL failure."""
    out = []
    for item, crash in records(facts, "nccl"):
        fields = crash["fields"]
        ev = [_printed(item, crash)]
        for key, label in (
            ("rank", "rank"),
            ("op", "collective"),
            ("seq", "sequence number"),
            ("timeout_ms", "timeout (ms)"),
            ("ran_ms", "ran for (ms)"),
        ):
            if key in fields:
                ev.append(evidence(label, fields[key]))
        if fields.get("timeout"):
            title = (
                f"NCCL watchdog timeout: {fields.get('op', 'a collective')} waited "
                f"{int(fields.get('ran_ms', 0)) / 1000:.0f} s for the other ranks"
            )
            remedies = [
                remedy(
                    "One rank did not reach the collective: it crashed, hung, or was busy "
                    "alone (evaluation or checkpoint saving on rank 0 only). Find that rank's "
                    "own error first; the NCCL flight recorder names it.",
                    "TORCH_NCCL_DUMP_ON_TIMEOUT=1 TORCH_NCCL_TRACE_BUFFER_SIZE=2000 torchrun ...",
                ),
                remedy(
                    "If the long phase is legitimate, raise the timeout: "
                    "init_process_group(timeout=datetime.timedelta(minutes=60))."
                ),
            ]
        else:
            title = "NCCL error"
            remedies = [
                remedy("Re-run with NCCL's own diagnostics.", "NCCL_DEBUG=INFO torchrun ...")
            ]
        out.append(_crash_verdict(item, crash, title, evidence=ev, remedies=remedies))
    return out


too_many_open_files = _printed_crash_check(
    "GD816",
    "too-many-open-files",
    summary="No 'Too many open files' error",
    why="Tensors shared between workers cost one file descriptor each.",
    kind="too_many_open_files",
    title="the process ran out of file descriptors",
    remedies=[
        remedy(
            "Raise the limit for the shell that starts training.",
            "ulimit -n 65536",
            platforms=("linux", "macos"),
        ),
        remedy(
            "Or share tensors through files instead of descriptors: "
            "torch.multiprocessing.set_sharing_strategy('file_system'). "
            "gpudoctor check --select GD304 shows the limit."
        ),
    ],
)


no_kernel_image = _printed_crash_check(
    "GD817",
    "no-kernel-image",
    summary="No 'no kernel image is available' error",
    why="The installed PyTorch was not compiled for this GPU's architecture.",
    kind="no_kernel_image",
    title="PyTorch has no GPU code for this GPU's architecture",
    remedies=[
        remedy(
            "Install a PyTorch build whose CUDA version supports the GPU (new GPUs such as "
            "the RTX 50 series need CUDA 12.8 builds); gpudoctor check --select GD2 "
            "compares the GPU with the build.",
            "pip install --upgrade torch --index-url https://download.pytorch.org/whl/cu128",
        )
    ],
)


@check(
    "GD818",
    "cudnn-cublas-error",
    summary="No cuDNN or cuBLAS status error",
    requires=("run_log",),
    tags=_TAGS,
)
def cudnn_cublas_error(facts: Facts) -> list[Verdict]:
    """Library status errors: mostly memory at handle creation, or an earlier async error."""
    out = []
    for item, crash in records(facts, "cudnn_cublas"):
        status = crash["fields"].get("match", "")
        memory = "ALLOC_FAILED" in status or "NOT_INITIALIZED" in status
        out.append(
            _crash_verdict(
                item,
                crash,
                f"{status}" + (" (usually out of GPU memory)" if memory else ""),
                evidence=[_printed(item, crash)],
                remedies=[
                    remedy(
                        "ALLOC_FAILED / NOT_INITIALIZED: the library could not get memory; "
                        "treat it like an out-of-memory error (smaller batch, free the GPU)."
                    ),
                    remedy(
                        "EXECUTION_FAILED / INTERNAL_ERROR: an earlier kernel may have failed; "
                        "re-run synchronously to find the real op.",
                        "CUDA_LAUNCH_BLOCKING=1 python train.py",
                    ),
                ],
            )
        )
    return out


cuda_unknown_error = _printed_crash_check(
    "GD819",
    "cuda-unknown-error",
    summary="No 'CUDA error: unknown error'",
    why="The driver could not be reached: often after suspend/resume or a driver update.",
    kind="cuda_unknown",
    title="CUDA reported 'unknown error' (the driver or GPU was not usable)",
    remedies=[
        remedy(
            "After a suspend/resume or driver update, reload the unified-memory module or reboot.",
            "sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm",
            platforms=("linux",),
        ),
        remedy(
            "On WSL, update the Windows NVIDIA driver and run: wsl --shutdown",
            platforms=("wsl",),
        ),
        remedy("Do not change CUDA_VISIBLE_DEVICES after CUDA has been initialised."),
    ],
)


@check(
    "GD820",
    "xid-in-log",
    summary="No NVIDIA Xid error in the kernel log lines given",
    requires=("run_log",),
    tags=_TAGS,
)
def xid_in_log(facts: Facts) -> list[Verdict]:
    """Xid codes are the driver's own report of a GPU fault."""
    out = []
    for item, crash in records(facts, "xid"):
        fields = crash["fields"]
        meaning = describe_xid(int(fields["code"]))
        severity = Severity.parse(meaning.severity)
        out.append(
            _crash_verdict(
                item,
                crash,
                f"Xid {fields['code']} on {fields['pci']}: {meaning.meaning}",
                current=severity,
                evidence=[
                    _printed(item, crash),
                    evidence("times", crash.get("count", 1)),
                ],
                remedies=[remedy(meaning.remedy)],
            )
        )
    return out


@check(
    "GD821",
    "run-raised",
    summary="The run did not end with a Python exception that no other check explains",
    requires=("run_log",),
    tags=_TAGS,
)
def run_raised(facts: Facts) -> list[Verdict]:
    """The last exception of a run, when no specific crash check matched it."""
    out = []
    for item in facts["run_log"].get("files") or ():
        exc = item.get("exception") if item.get("understood") else None
        if not exc or any(c.get("run") == exc.get("run") for c in item.get("crashes") or ()):
            continue
        current = exc.get("run") == item.get("runs", 1)
        out.append(
            verdict(
                Severity.WARN if current else Severity.INFO,
                f"the run raised {exc['type']}: {exc['message']}",
                subject=item["name"],
                evidence=[evidence("exception", exc["type"], _where(item, exc["line"]))],
                remedies=[
                    remedy(
                        "Read the traceback above this line; the last frame in your own code "
                        "is usually where to start. CUDA errors are reported late: re-run with "
                        "CUDA_LAUNCH_BLOCKING=1 to see the op that failed."
                    )
                ],
            )
        )
    return out
