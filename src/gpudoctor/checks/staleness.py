"""Which GPU memory holders are stale, and why: a pure function of one inventory row.

Every verdict carries its reasons in words and a confidence, because a guess must never read
like a fact: "parent is gone and it used no CPU in the sample" is evidence, "this is a dead
DataLoader worker" is a conclusion. ``gpudoctor check`` reports all of them;
``gpudoctor fix --kill-stale`` stops only those of at least medium confidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HIGH, MEDIUM, LOW = "high", "medium", "low"
CONFIDENCE_RANK = {LOW: 0, MEDIUM: 1, HIGH: 2}

#: Below this many CPU seconds in the sample a process counts as idle (one clock tick is 0.01).
IDLE_CPU_SECONDS = 0.011
#: Command-line fragments of multiprocessing children (DataLoader workers and friends).
WORKER_MARKERS = ("multiprocessing", "spawn_main", "forkserver", "torch.utils.data")
KERNEL_MARKERS = ("ipykernel", "ipykernel_launcher", "jupyter-kernel", "ipython kernel")
PYTHON_MARKERS = ("python", "ipython", "jupyter", "torchrun", "accelerate", "deepspeed")
#: Holders that are never stale: display servers, the persistence daemon, monitors.
PROTECTED_NAMES = frozenset(
    {
        "Xorg",
        "Xwayland",
        "X",
        "gnome-shell",
        "kwin_wayland",
        "kwin_x11",
        "sway",
        "nvidia-persistenced",
        "nvidia-smi",
        "nvidia-powerd",
        "nv-hostengine",
        "nvtop",
        "nvitop",
        "systemd",
        "init",
        "dwm.exe",
        "explorer.exe",
    }
)


@dataclass(frozen=True)
class Staleness:
    """A holder judged stale: what kind, why, how sure, and whether stopping it can help."""

    kind: str
    reasons: tuple[str, ...]
    confidence: str
    killable: bool = True
    advice: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reasons": list(self.reasons),
            "confidence": self.confidence,
            "killable": self.killable,
            "advice": self.advice,
        }


def classify(row: Mapping[str, Any], *, idle_minutes: float) -> Staleness | None:
    """Stale or not; None for a holder that looks alive, or one we know too little about."""
    if not row.get("visible") or row.get("pid") in (0, 1):
        return None
    name = str(row.get("name") or "")
    if name in PROTECTED_NAMES:
        return None
    state = row.get("state")
    if state == "zombie":
        return Staleness(
            "zombie",
            (
                f"it has exited but its parent (pid {row.get('ppid')}, "
                f"{row.get('parent_name') or 'unknown'}) has not collected it",
            ),
            HIGH,
            killable=False,
            advice="a zombie cannot be signalled; its memory is freed once the driver finishes "
            "tearing it down or its parent exits",
        )
    if state in ("stopped", "tracing-stop"):
        return Staleness(
            "stopped",
            (
                "it is stopped (Ctrl-Z or SIGSTOP) and keeps its GPU memory while suspended",
                *_memory_reason(row),
            ),
            HIGH,
        )
    idle, idle_reason = _cpu_idle(row)
    if not idle:
        return None
    text = f"{name} {row.get('cmdline') or ''}".lower()
    pythonish = any(marker in text for marker in PYTHON_MARKERS)
    age_min = _age_minutes(row)
    if row.get("parent_gone") and pythonish:
        marker = next((m for m in WORKER_MARKERS if m in text), None)
        reasons = [
            f"its parent is gone (adopted by pid {row.get('ppid')}, "
            f"{row.get('parent_name') or 'unknown'})",
            idle_reason,
        ]
        if marker:
            reasons.append(f"its command line names {marker!r}, as worker processes do")
        return Staleness(
            "orphaned-worker", (*reasons, *_memory_reason(row)), HIGH if marker else MEDIUM
        )
    old_enough = age_min is not None and age_min >= idle_minutes
    gpu_util = row.get("gpu_util_percent")
    gpu_reason = (
        "GPU utilisation is not reported here"
        if gpu_util is None
        else f"GPU utilisation {gpu_util}% in the last seconds"
    )
    if gpu_util not in (None, 0) or not old_enough:
        return None
    age_reason = f"running for {age_min:.0f} min (threshold {idle_minutes:g} min)"
    if any(marker in text for marker in KERNEL_MARKERS):
        return Staleness(
            "idle-kernel",
            (
                "it is a Jupyter/IPython kernel",
                idle_reason,
                gpu_reason,
                age_reason,
                *_memory_reason(row),
            ),
            MEDIUM,
            advice="stopping it loses the notebook's variables; shut it down from Jupyter "
            "if you still need them",
        )
    if pythonish:
        return Staleness(
            "finished-run",
            (idle_reason, gpu_reason, age_reason, *_memory_reason(row)),
            MEDIUM if gpu_util == 0 else LOW,
            advice="" if gpu_util == 0 else "without GPU utilisation figures this is a guess",
        )
    return None


def _cpu_idle(row: Mapping[str, Any]) -> tuple[bool, str]:
    recent = row.get("recent_cpu_seconds")
    window = row.get("sample_seconds")
    if recent is None or not window:
        return False, "CPU use was not sampled"
    if recent > IDLE_CPU_SECONDS:
        return False, f"used {recent:.2f} s CPU in a {window:g} s sample"
    return True, f"used no CPU in a {window:g} s sample"


def _age_minutes(row: Mapping[str, Any]) -> float | None:
    age = row.get("age_seconds")
    return None if age is None else float(age) / 60.0


def _memory_reason(row: Mapping[str, Any]) -> tuple[str, ...]:
    held = row.get("gpu_memory_bytes")
    if isinstance(held, int) and held > 0:
        return (f"holds {held / 1024**2:.0f} MiB of GPU memory",)
    return ()


def stale_holders(
    inventory: Mapping[str, Any], *, idle_minutes: float | None = None
) -> list[tuple[Mapping[str, Any], Staleness]]:
    """Every stale row of an inventory, with its verdict, biggest memory holders first."""
    threshold = idle_minutes
    if threshold is None:
        threshold = float((inventory.get("settings") or {}).get("idle_minutes") or 30.0)
    found = []
    for row in inventory.get("processes") or ():
        verdict = classify(row, idle_minutes=threshold)
        if verdict is not None:
            found.append((row, verdict))
    found.sort(key=lambda pair: -(pair[0].get("gpu_memory_bytes") or 0))
    return found


def protected(row: Mapping[str, Any]) -> str | None:
    """Why a row must never be signalled (the caller, its ancestors, its group), or None."""
    if row.get("is_caller"):
        return "it is gpudoctor itself"
    if row.get("is_caller_ancestor"):
        return "it is an ancestor of gpudoctor (the shell or program that started it)"
    if row.get("in_caller_group"):
        return "it is in gpudoctor's own process group"
    return None
