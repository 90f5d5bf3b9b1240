"""The timeline of a watched run: a typed stream of samples, written as JSON lines.

One header line, then one line per sample, stack capture or log excerpt, then an end line.
``gpudoctor watch --replay FILE`` reads it back into the same objects, so a replay is
analysed exactly like the live run was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from gpudoctor.errors import SnapshotError

TIMELINE_FORMAT = "gpudoctor-timeline"
TIMELINE_VERSION = 1
#: A replay file larger than this is refused rather than read into memory (about 3 days at 1 Hz).
MAX_TIMELINE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ProcSample:
    """One process of the watched tree at one instant (CPU is % of one core since last)."""

    pid: int
    role: str  # "main", "worker" (DataLoader worker or other Python child) or "child"
    name: str
    status: str
    cpu: float
    user_cpu: float
    rss: int
    read_bytes: int | None = None
    write_bytes: int | None = None


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one instant; ``None`` where NVML could not tell."""

    index: int
    util: float | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    temp_c: float | None = None
    temp_slowdown_c: float | None = None
    power_w: float | None = None
    power_cap_w: float | None = None
    clock_reasons: int | None = None
    pcie_rx_kbs: int | None = None
    pcie_tx_kbs: int | None = None


@dataclass(frozen=True)
class HostSample:
    """Host memory at one instant; rates are per second since the last sample."""

    mem_total: int | None = None
    mem_available: int | None = None
    swap_in_bps: float | None = None
    swap_out_bps: float | None = None
    shm_used: int | None = None
    shm_total: int | None = None
    psi_some_avg10: float | None = None
    psi_full_avg10: float | None = None


@dataclass(frozen=True)
class Sample:
    """Everything read at one tick; ``t`` is seconds since the watch started."""

    t: float
    procs: tuple[ProcSample, ...] = ()
    gpus: tuple[GpuSample, ...] = ()
    host: HostSample = field(default_factory=HostSample)
    #: Log lines and training steps seen since the previous sample (None: no log followed).
    log_lines: int | None = None
    steps: int | None = None
    #: gpudoctor's own CPU since the previous sample, % of one core.
    watcher_cpu: float | None = None
    #: True when the log said evaluation/validation is running.
    eval_phase: bool = False


@dataclass(frozen=True)
class ThreadStack:
    """One thread's Python stack, innermost frame first, as ``function (file:line)``."""

    thread: str
    frames: tuple[str, ...]
    idle: bool = False


@dataclass(frozen=True)
class ProcStacks:
    pid: int
    role: str
    threads: tuple[ThreadStack, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class StackCapture:
    """Python stacks of the watched tree, taken when it stopped making progress."""

    t: float
    reason: str
    procs: tuple[ProcStacks, ...] = ()
    #: Why no stacks could be taken at all (py-spy missing, ptrace refused ...), else "".
    error: str = ""
    remedy: str = ""


@dataclass(frozen=True)
class Header:
    """What was watched and how; thresholds are the values the checks used."""

    interval: float
    target: str  # "pid" or "command"
    command: str = ""
    platform: str = ""
    wsl: bool = False
    gpu_note: str = ""
    thresholds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class End:
    t: float
    reason: str  # "exited", "interrupted", "duration", "hang", "target-gone"
    exit_code: int | None = None


@dataclass
class Timeline:
    """A whole watched run (or what a replay file holds)."""

    header: Header
    samples: list[Sample] = field(default_factory=list)
    stacks: list[StackCapture] = field(default_factory=list)
    end: End | None = None


# -- JSON lines ---------------------------------------------------------------------------


def _compact(data: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values: most per-sample fields are missing on most machines."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            out[key] = _compact(value)
        elif isinstance(value, (list, tuple)):
            out[key] = [_compact(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


def encode(record: Header | Sample | StackCapture | End) -> dict[str, Any]:
    """One record as the JSON object of its line, tagged with its kind."""
    kinds = {Header: "header", Sample: "sample", StackCapture: "stacks", End: "end"}
    data = _compact(asdict(record))
    data["kind"] = kinds[type(record)]
    if isinstance(record, Header):
        data["format"] = TIMELINE_FORMAT
        data["version"] = TIMELINE_VERSION
    return data


def _sample(data: Mapping[str, Any]) -> Sample:
    return Sample(
        t=float(data["t"]),
        procs=tuple(ProcSample(**p) for p in data.get("procs", ())),
        gpus=tuple(GpuSample(**g) for g in data.get("gpus", ())),
        host=HostSample(**data.get("host", {})),
        log_lines=data.get("log_lines"),
        steps=data.get("steps"),
        watcher_cpu=data.get("watcher_cpu"),
        eval_phase=bool(data.get("eval_phase", False)),
    )


def _stacks(data: Mapping[str, Any]) -> StackCapture:
    procs = tuple(
        ProcStacks(
            pid=int(p["pid"]),
            role=str(p.get("role", "")),
            threads=tuple(
                ThreadStack(str(t["thread"]), tuple(t.get("frames", ())), bool(t.get("idle")))
                for t in p.get("threads", ())
            ),
            error=str(p.get("error", "")),
        )
        for p in data.get("procs", ())
    )
    return StackCapture(
        t=float(data["t"]),
        reason=str(data.get("reason", "")),
        procs=procs,
        error=str(data.get("error", "")),
        remedy=str(data.get("remedy", "")),
    )


def decode_lines(lines: Iterable[str], source: str = "timeline") -> Timeline:
    """Rebuild a timeline from its lines; a bad file is one SnapshotError naming the line."""
    timeline: Timeline | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            kind = data.pop("kind", None)
            if timeline is None:
                if kind != "header" or data.pop("format", None) != TIMELINE_FORMAT:
                    raise SnapshotError(
                        f"{source}: not a gpudoctor timeline (record it with "
                        "'gpudoctor watch --record FILE')"
                    )
                version = data.pop("version", None)
                if not isinstance(version, int) or version > TIMELINE_VERSION:
                    raise SnapshotError(
                        f"{source}: timeline version {version!r} is newer than this gpudoctor "
                        f"reads ({TIMELINE_VERSION}); upgrade gpudoctor"
                    )
                timeline = Timeline(header=Header(**data))
            elif kind == "sample":
                timeline.samples.append(_sample(data))
            elif kind == "stacks":
                timeline.stacks.append(_stacks(data))
            elif kind == "end":
                timeline.end = End(**data)
        except SnapshotError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            if timeline is not None and timeline.samples and _is_last(lines, number):
                break  # a run killed mid-write leaves a truncated last line
            raise SnapshotError(
                f"{source}: line {number} is not a timeline record: {exc}"
            ) from None
    if timeline is None:
        raise SnapshotError(f"{source}: empty file, not a gpudoctor timeline")
    return timeline


def _is_last(lines: Iterable[str], number: int) -> bool:
    return isinstance(lines, list) and all(not ln.strip() for ln in lines[number:])


def read_timeline(path: str) -> Timeline:
    """Load a ``--record`` file; every way it can be wrong becomes a one-line SnapshotError."""
    import os
    import stat

    try:
        info = os.stat(path)
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SnapshotError(f"cannot read {path}: not a regular file")
    if info.st_size > MAX_TIMELINE_BYTES:
        raise SnapshotError(f"{path}: {info.st_size} bytes is too large for a timeline")
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from None
    if b"\x00" in raw[:4096]:
        raise SnapshotError(f"{path}: binary data, not a gpudoctor timeline")
    text = raw.decode("utf-8", errors="replace")
    return decode_lines(text.splitlines(), source=path)


def iter_lines(timeline: Timeline) -> Iterator[dict[str, Any]]:
    """Every record of ``timeline`` as JSON objects, in file order."""
    yield encode(timeline.header)
    for sample in timeline.samples:
        yield encode(sample)
    for capture in timeline.stacks:
        yield encode(capture)
    if timeline.end is not None:
        yield encode(timeline.end)
