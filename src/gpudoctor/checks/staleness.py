"""Which GPU memory holders are stale, judged from evidence: a pure function of one inventory
row and, for the fix, of what an observation window saw.

Each judgement names a class, the signals behind it and a one-line reason, because a guess must
never read like a fact. A process is stale only on positive evidence: the kernel says it is a
zombie or stopped; its training parent is gone and it is recognisably a worker and idle; its
Jupyter server says the kernel has been idle long enough; or it has not run on a CPU for the
idle threshold and shows no GPU use. Services, supervised children, containers and scheduler
jobs are never stale, whatever they look like. ``gpudoctor check`` judges without observation
(no waiting); ``gpudoctor fix --kill-stale`` proposes only candidates an observation window
saw doing nothing at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

HIGH, MEDIUM, LOW = "high", "medium", "low"
CONFIDENCE_RANK = {LOW: 0, MEDIUM: 1, HIGH: 2}

#: CPU seconds in a window above which a process counts as active (two clock ticks).
ACTIVE_CPU_SECONDS = 0.02
#: Bytes read or written through syscalls in a window above which a process counts as active.
#: Idle event loops (ZeroMQ in a Jupyter kernel) signal themselves through eventfds: a few
#: dozen bytes a second, which is not work; a data loader moves far more.
ACTIVE_IO_BYTES = 4096
DEFAULT_WORKER_IDLE_S = 5.0
#: Command-line fragments of multiprocessing children (DataLoader workers and friends).
WORKER_MARKERS = (
    "multiprocessing.spawn",
    "spawn_main",
    "multiprocessing.forkserver",
    "forkserver",
    "multiprocessing.resource_tracker",
    "torch.utils.data",
    "torch_shm_manager",
)
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
#: Classes that are stale (the rest are reasons to leave a process alone).
STALE_CLASSES = ("zombie", "stopped", "orphaned-worker", "idle-kernel", "finished-run")


class Judgement(NamedTuple):
    """One holder judged: its class, whether it is stale, the evidence, and why."""

    pid: int
    cls: str
    stale: bool
    reason: str
    evidence: tuple[str, ...] = ()
    confidence: str = MEDIUM
    #: False where a signal cannot help (a zombie) or must not be sent (a service).
    killable: bool = True
    #: What to run instead (``systemctl stop UNIT``, ``scancel JOB`` ...), if anything.
    remedy: str = ""
    advice: str = ""
    #: Measured idle time in seconds (scheduler, Jupyter server or observation); None unknown.
    idle_seconds: float | None = None
    #: True when the fix must not act before an observation window confirms the verdict.
    needs_observation: bool = True

    @property
    def kind(self) -> str:
        return self.cls

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason, *self.evidence)

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.cls,
            "stale": self.stale,
            "confidence": self.confidence,
            "reason": self.reason,
            "evidence": list(self.evidence),
            "remedy": self.remedy,
            "advice": self.advice,
            "measured_idle_seconds": self.idle_seconds,
        }


def manager_label(manager: Mapping[str, Any]) -> str:
    """``systemd service vllm.service``, ``supervised by tini`` ... for one manager record."""
    kind, name = str(manager.get("kind") or ""), str(manager.get("name") or "")
    labels = {
        "systemd-service": f"runs as systemd service {name}",
        "systemd-scope": f"runs in systemd scope {name}",
        "container": f"runs in container {name}",
        "container-main": "is a container's main process",
        "kubernetes-pod": f"runs in Kubernetes pod {name}",
        "slurm-job": f"runs in Slurm job {name}",
        "supervised": f"is supervised by {name}",
    }
    return labels.get(kind, f"is managed by {kind} {name}".strip())


def _text(row: Mapping[str, Any]) -> str:
    return f"{row.get('name') or ''} {row.get('cmdline') or ''}".lower()


def _memory(row: Mapping[str, Any]) -> tuple[str, ...]:
    held = row.get("gpu_memory_bytes")
    if isinstance(held, int) and held > 0:
        return (f"holds {held / 1024**2:.0f} MiB of GPU memory",)
    return ()


def _duration(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _first_named(text: str, markers: tuple[str, ...]) -> str | None:
    """The first of ``markers`` that ``text`` contains (a loop: judge runs once per row)."""
    for marker in markers:
        if marker in text:
            return marker
    return None


def _parent(row: Mapping[str, Any]) -> str:
    return f"pid {row.get('ppid')}, {row.get('parent_name') or 'unknown'}"


def worker_signature(row: Mapping[str, Any]) -> str | None:
    """Why this looks like a multiprocessing/DataLoader worker, or None."""
    return _worker_signature(row, _text(row))


def _worker_signature(row: Mapping[str, Any], text: str) -> str | None:
    marker = _first_named(text, WORKER_MARKERS)
    if marker:
        return f"its command line names {marker!r}, as multiprocessing workers' do"
    if row.get("group_leader_gone") and _first_named(text, PYTHON_MARKERS):
        return (
            f"it is not its process group's leader and the leader (pid {row.get('pgid')}, the "
            "process that started it) has exited, as a forked worker's parent has"
        )
    return None


def observed_activity(seen: Mapping[str, Any] | None) -> str | None:
    """The activity an observation (or re-check) saw, in words; None when it saw none."""
    if not seen:
        return None
    if seen.get("exited"):
        return "it exited or its pid was reused during observation"
    found = []
    cpu = seen.get("cpu_seconds") or 0.0
    if cpu > ACTIVE_CPU_SECONDS:
        found.append(f"used {cpu:.2f} s of CPU")
    if (seen.get("io_bytes") or 0) > ACTIVE_IO_BYTES:
        found.append(f"read or wrote {seen['io_bytes']} bytes")
    if (seen.get("children_cpu_seconds") or 0.0) > ACTIVE_CPU_SECONDS:
        found.append(f"its children used {seen['children_cpu_seconds']:.2f} s of CPU")
    if (seen.get("children_io_bytes") or 0) > ACTIVE_IO_BYTES:
        found.append(f"its children read or wrote {seen['children_io_bytes']} bytes")
    if seen.get("new_children"):
        found.append(f"it started {len(seen['new_children'])} new process(es)")
    if seen.get("gpu_active"):
        found.append("NVML sampled it using the GPU")
    if seen.get("state") == "running":
        found.append("it was running on a CPU")
    return "; ".join(found) or None


def _observed_quiet(seen: Mapping[str, Any]) -> str:
    gpu = {
        True: "GPU used",
        False: "no GPU use in NVML's samples",
        None: f"GPU use not attributable ({seen.get('gpu_note') or 'no samples'})",
    }[seen.get("gpu_active")]
    return f"observed {seen.get('window_s', 0):g} s: no CPU, no I/O, no child activity, {gpu}"


def judge(
    row: Mapping[str, Any],
    *,
    idle_minutes: float,
    worker_idle_seconds: float = DEFAULT_WORKER_IDLE_S,
    observation: Mapping[str, Any] | None = None,
) -> Judgement:
    """Judge one inventory row; ``observation`` is what the fix's window saw (None: none)."""
    pid = int(row.get("pid") or 0)
    name = str(row.get("name") or "")
    if not row.get("visible"):
        return Judgement(
            pid, "not-visible", False, "not visible here (another container, namespace or OS)"
        )
    if pid in (0, 1):
        return Judgement(pid, "init", False, "it is the init process of this namespace")
    if name in PROTECTED_NAMES:
        return Judgement(
            pid, "system", False, f"{name} is a display server, driver daemon or GPU monitor"
        )
    state = row.get("state")
    if state == "zombie":
        return Judgement(
            pid,
            "zombie",
            True,
            "it has exited but its parent has not collected it",
            (f"state Z (zombie); parent {_parent(row)}", *_memory(row)),
            HIGH,
            killable=False,
            remedy=f"kill {row.get('ppid')}" if row.get("ppid") not in (None, 0, 1) else "",
            advice="a zombie cannot be signalled; its memory is freed once the driver finishes "
            "tearing it down or its parent collects it or exits",
            needs_observation=False,
        )
    manager = row.get("manager")
    if manager is not None and isinstance(manager, Mapping):
        return Judgement(
            pid,
            "managed",
            False,
            f"{manager_label(manager)}: services, supervised processes, containers and "
            "scheduler jobs are never stopped by gpudoctor",
            (str(manager.get("evidence") or ""),),
            HIGH,
            killable=False,
            remedy=str(manager.get("remedy") or ""),
            advice=str(manager.get("advice") or ""),
        )
    activity = observed_activity(observation) if observation else None
    if state in ("stopped", "tracing-stop"):
        if observation is not None and observation.get("state") not in (None, state):
            return Judgement(pid, "live", False, "it was resumed during observation")
        return Judgement(
            pid,
            "stopped",
            True,
            "it is stopped (Ctrl-Z or SIGSTOP) and keeps its GPU memory while suspended",
            (f"state T ({state})", *_memory(row)),
            HIGH,
            needs_observation=False,
        )
    gpu_ago = row.get("gpu_last_active_seconds")
    if isinstance(gpu_ago, (int, float)):
        return Judgement(
            pid,
            "live",
            False,
            f"NVML sampled it using the GPU {_duration(float(gpu_ago))} ago",
            ("nvmlDeviceGetProcessUtilization",),
        )
    if activity is not None:
        return Judgement(pid, "live", False, f"active during observation: {activity}")
    text = _text(row)
    if row.get("kernel") or _first_named(text, KERNEL_MARKERS):
        return _kernel(pid, row, idle_minutes, observation)
    evidence = _idle_evidence(row, observation)
    idle = _measured_idle(row, observation)
    signature = _worker_signature(row, text)
    if row.get("parent_gone") and signature:
        reasons = (f"its parent is gone (adopted by {_parent(row)})", signature, *evidence)
        if idle is None or idle < worker_idle_seconds:
            return _not_yet(pid, "orphaned-worker", idle, worker_idle_seconds, reasons)
        return Judgement(
            pid,
            "orphaned-worker",
            True,
            "its training parent is gone and it is an idle worker",
            (*reasons, *_memory(row)),
            HIGH if "command line" in signature else MEDIUM,
            idle_seconds=idle,
        )
    if not _first_named(text, PYTHON_MARKERS):
        return Judgement(pid, "other", False, "not a Python/training process gpudoctor judges")
    threshold = idle_minutes * 60.0
    if idle is None or idle < threshold:
        return _not_yet(pid, "finished-run", idle, threshold, tuple(evidence))
    gpu_known = row.get("gpu_samples") == "ok"
    if not gpu_known and row.get("cpu_idle_seconds") is None:
        return Judgement(
            pid,
            "finished-run?",
            False,
            "GPU use cannot be attributed here and the host cannot say how long it has been "
            "idle: not enough evidence to call it finished",
            tuple(evidence),
            LOW,
            idle_seconds=idle,
        )
    if gpu_known:
        reason = f"no CPU use for {_duration(idle)} (threshold {idle_minutes:g} min), no GPU use"
    else:
        # WSL2, WDDM: the GPU side cannot be asked, so the host side must carry the verdict:
        # not one thread of it ran on a CPU for the whole threshold (a run that launches GPU
        # work needs the CPU to do so).
        reason = (
            f"not one of its threads ran on a CPU for {_duration(idle)} (threshold "
            f"{idle_minutes:g} min); GPU use cannot be attributed here"
        )
    return Judgement(
        pid,
        "finished-run",
        True,
        reason,
        (*evidence, *_memory(row)),
        MEDIUM,
        idle_seconds=idle,
    )


def _idle_evidence(row: Mapping[str, Any], observation: Mapping[str, Any] | None) -> list[str]:
    found = []
    sched = row.get("cpu_idle_seconds")
    if isinstance(sched, (int, float)):
        found.append(f"last ran on a CPU {_duration(float(sched))} ago (/proc/<pid>/sched)")
    if row.get("gpu_samples") == "ok":
        found.append("no GPU use in NVML's buffered samples")
    elif row.get("gpu_samples") is None:
        found.append("NVML gives no per-process GPU samples for it here")
    if observation is not None:
        found.append(_observed_quiet(observation))
    return found


def _measured_idle(row: Mapping[str, Any], observation: Mapping[str, Any] | None) -> float | None:
    """Seconds it has certainly been idle: the scheduler's last-ran time, else the window."""
    sched = row.get("cpu_idle_seconds")
    window = float(observation.get("window_s") or 0.0) if observation else None
    if isinstance(sched, (int, float)):
        return float(sched) + (window or 0.0)
    return window


def _not_yet(
    pid: int, cls: str, idle: float | None, needed: float, evidence: tuple[str, ...]
) -> Judgement:
    if idle is None:
        reason = (
            f"possibly a {cls}, but its idle time is not measured yet "
            "(the fix watches it before deciding)"
        )
    else:
        reason = (
            f"idle for {_duration(idle)} only (needs {_duration(needed)}): "
            f"not enough to call it a {cls}"
        )
    return Judgement(
        pid,
        "live" if idle is not None else f"{cls}?",
        False,
        reason,
        evidence,
        LOW,
        idle_seconds=idle,
    )


def _kernel(
    pid: int, row: Mapping[str, Any], idle_minutes: float, observation: Mapping[str, Any] | None
) -> Judgement:
    kernel = row.get("kernel")
    if not isinstance(kernel, Mapping):
        kernel = {}
    if kernel.get("idle_seconds") is None:
        why = kernel.get("unknown") or "it is not known which Jupyter server runs it"
        return Judgement(
            pid,
            "kernel-idle-unknown",
            False,
            f"a Jupyter kernel whose idle time is unknown: {why}",
            ("idle time unknown: listed, never stopped",),
            LOW,
            advice="shut it down from Jupyter if you no longer need it",
        )
    idle = float(kernel["idle_seconds"])
    idle_for = _duration(idle)
    state = kernel.get("execution_state")
    source = f"Jupyter server {kernel.get('server') or ''}".strip()
    evidence = (
        f"execution_state {state} ({source} /api/kernels)",
        f"last_activity {kernel.get('last_activity')}: idle for {idle_for}",
    )
    if state != "idle":
        return Judgement(pid, "live", False, f"the kernel is {state}", evidence)
    threshold = idle_minutes * 60.0
    if idle < threshold:
        return Judgement(
            pid,
            "live",
            False,
            f"the kernel was last active {idle_for} ago (threshold {idle_minutes:g} min)",
            evidence,
            idle_seconds=idle,
        )
    quiet = (_observed_quiet(observation),) if observation is not None else ()
    return Judgement(
        pid,
        "idle-kernel",
        True,
        f"its Jupyter server says it has been idle for {idle_for} (threshold {idle_minutes:g} min)",
        (*evidence, *quiet, *_memory(row)),
        HIGH,
        idle_seconds=idle,
        advice="stopping it loses the notebook's variables; shut it down from Jupyter "
        "if you still need them",
    )


def judge_all(
    inventory: Mapping[str, Any],
    *,
    idle_minutes: float | None = None,
    observations: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[tuple[Mapping[str, Any], Judgement]]:
    """Every row of an inventory with its judgement, biggest memory holders first."""
    settings = inventory.get("settings") or {}
    threshold = idle_minutes
    if threshold is None:
        threshold = float(settings.get("idle_minutes") or 30.0)
    worker_idle = float(settings.get("worker_idle_seconds") or DEFAULT_WORKER_IDLE_S)
    found = []
    for row in inventory.get("processes") or ():
        seen = observations.get(int(row.get("pid") or 0)) if observations else None
        found.append(
            (
                row,
                judge(
                    row,
                    idle_minutes=threshold,
                    worker_idle_seconds=worker_idle,
                    observation=seen,
                ),
            )
        )
    found.sort(key=lambda pair: -(pair[0].get("gpu_memory_bytes") or 0))
    return found


def stale_holders(
    inventory: Mapping[str, Any], *, idle_minutes: float | None = None
) -> list[tuple[Mapping[str, Any], Judgement]]:
    """The rows judged stale (no observation: what ``gpudoctor check`` can say)."""
    return [pair for pair in judge_all(inventory, idle_minutes=idle_minutes) if pair[1].stale]


def protected(row: Mapping[str, Any]) -> str | None:
    """Why a row must never be signalled (the caller, its ancestors, its group), or None."""
    if row.get("is_caller"):
        return "it is gpudoctor itself"
    if row.get("is_caller_ancestor"):
        return "it is an ancestor of gpudoctor (the shell or program that started it)"
    if row.get("in_caller_group"):
        return "it is in gpudoctor's own process group"
    return None
