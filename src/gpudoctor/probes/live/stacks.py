"""Python stacks of a stuck run, taken from outside with py-spy (``py-spy dump --json``).

py-spy reads the target's memory with ptrace, so it needs the same user plus a permissive
``kernel.yama.ptrace_scope`` (or root, or ``CAP_SYS_PTRACE`` in a container). Every way that
fails becomes a plain reason and the command that allows it; nothing here raises.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from gpudoctor.probes.live.timeline import ProcStacks
from gpudoctor.probes.live.timeline import StackCapture
from gpudoctor.probes.live.timeline import ThreadStack

DUMP_TIMEOUT_S = 10.0
YAMA_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"

INSTALL_REMEDY = "Install py-spy to see where the run is stuck: pip install py-spy"
PERMISSION_REMEDY = (
    "py-spy needs ptrace permission over the training: run gpudoctor as the same user as the "
    "training, and allow ptrace with 'sudo sysctl kernel.yama.ptrace_scope=0' (or run "
    "'sudo gpudoctor watch ...'); in Docker start the container with --cap-add SYS_PTRACE"
)


def find_py_spy() -> str | None:
    """py-spy on PATH, or installed beside this Python (a venv that is not activated)."""
    found = shutil.which("py-spy")
    if found:
        return found
    candidate = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return candidate if os.access(candidate, os.X_OK) else None


def ptrace_scope() -> int | None:
    try:
        with open(YAMA_SCOPE, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def parse_dump(data: Any) -> tuple[ThreadStack, ...]:
    """Threads from ``py-spy dump --json`` output (a list of thread objects; pure)."""
    threads = []
    if not isinstance(data, list):
        return ()
    for item in data:
        if not isinstance(item, dict):
            continue
        frames = []
        for frame in item.get("frames") or ():
            if not isinstance(frame, dict):
                continue
            where = frame.get("short_filename") or frame.get("filename") or "?"
            frames.append(f"{frame.get('name', '?')} ({where}:{frame.get('line', '?')})")
        name = str(item.get("thread_name") or item.get("thread_id") or "thread")
        threads.append(ThreadStack(name, tuple(frames), idle=not item.get("active", True)))
    return tuple(threads)


def _classify_error(text: str) -> str:
    lowered = text.lower()
    if "permission" in lowered or "operation not permitted" in lowered or "ptrace" in lowered:
        scope = ptrace_scope()
        extra = f" (kernel.yama.ptrace_scope is {scope})" if scope is not None else ""
        return f"permission denied reading the process{extra}"
    if "no such process" in lowered or "failed to find process" in lowered:
        return "the process exited before its stack was read"
    first = text.strip().splitlines()[-1] if text.strip() else "no output"
    return f"py-spy failed: {first[:200]}"


def capture(
    targets: Sequence[tuple[int, str]],
    *,
    t: float,
    reason: str,
    binary: str | None = None,
    timeout: float = DUMP_TIMEOUT_S,
) -> StackCapture:
    """Dump every target at once (in parallel), each bounded by ``timeout`` seconds."""
    exe = binary or find_py_spy()
    if exe is None:
        return StackCapture(
            t=t, reason=reason, error="py-spy is not installed", remedy=INSTALL_REMEDY
        )
    running: list[tuple[int, str, subprocess.Popen[bytes]]] = []
    for pid, role in targets:
        try:
            proc = subprocess.Popen(
                [exe, "dump", "--pid", str(pid), "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            return StackCapture(
                t=t, reason=reason, error=f"cannot run py-spy: {exc}", remedy=INSTALL_REMEDY
            )
        running.append((pid, role, proc))
    deadline = time.monotonic() + timeout
    results = []
    for pid, role, proc in running:
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results.append(ProcStacks(pid, role, error=f"py-spy took longer than {timeout:g} s"))
            continue
        if proc.returncode != 0:
            message = err.decode("utf-8", "replace") + out.decode("utf-8", "replace")
            results.append(ProcStacks(pid, role, error=_classify_error(message)))
            continue
        try:
            threads = parse_dump(json.loads(out.decode("utf-8", "replace")))
        except ValueError:
            results.append(ProcStacks(pid, role, error="py-spy printed no JSON"))
            continue
        results.append(ProcStacks(pid, role, threads=threads))
    if results and all(r.error.startswith("permission denied") for r in results):
        return StackCapture(
            t=t,
            reason=reason,
            procs=tuple(results),
            error=results[0].error,
            remedy=PERMISSION_REMEDY,
        )
    return StackCapture(t=t, reason=reason, procs=tuple(results))
