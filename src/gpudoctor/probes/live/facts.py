"""Turn a timeline into the ``watch`` facts section: aligned per-tick series, plain JSON.

Pure. The live watcher and ``--replay`` both go through here, so the checks in
:mod:`gpudoctor.checks.run_live` see exactly the same facts either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from gpudoctor.probes.live.timeline import Sample
from gpudoctor.probes.live.timeline import Timeline


def _sum(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known)) if known else None


def _max(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(max(known)) if known else None


def _mean(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known)) / len(known) if known else None


def _or_bits(values: Sequence[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    result = 0
    for v in known:
        result |= v
    return result if known else None


def _io_delta(prev: Sample | None, cur: Sample, attr: str) -> int | None:
    """Bytes the tree read or wrote since the previous sample (new processes from zero)."""
    before = {p.pid: getattr(p, attr) for p in prev.procs} if prev else {}
    total, known = 0, False
    for proc in cur.procs:
        value = getattr(proc, attr)
        if value is None:
            continue
        known = True
        total += max(0, value - (before.get(proc.pid) or 0)) if prev else 0
    return total if known else None


def timeline_facts(timeline: Timeline) -> dict[str, Any]:
    """The facts section the live checks read (series are aligned on ``t``)."""
    header = timeline.header
    s = timeline.samples
    series: dict[str, list[Any]] = {}
    prev: Sample | None = None
    for cur in s:
        main = [p for p in cur.procs if p.role == "main"]
        workers = [p for p in cur.procs if p.role != "main"]
        row = {
            "t": round(cur.t, 3),
            "gpu_util": _mean([g.util for g in cur.gpus]),
            "gpu_mem_used": _max([g.mem_used for g in cur.gpus]),
            "gpu_mem_total": _max([g.mem_total for g in cur.gpus]),
            "gpu_temp": _max([g.temp_c for g in cur.gpus]),
            "gpu_power": _sum([g.power_w for g in cur.gpus]),
            "gpu_reasons": _or_bits([g.clock_reasons for g in cur.gpus]),
            "main_cpu": main[0].cpu if main else None,
            "main_user_cpu": main[0].user_cpu if main else None,
            "main_status": main[0].status if main else None,
            "main_rss": main[0].rss if main else None,
            "tree_rss": _sum([p.rss for p in cur.procs]),
            "tree_cpu": _sum([p.cpu for p in cur.procs]) if cur.procs else None,
            "workers": len([p for p in workers if p.role == "worker"]),
            "workers_cpu": _sum([p.cpu for p in workers if p.role == "worker"]),
            "worker_cpu_max": _max([p.cpu for p in workers if p.role == "worker"]),
            "write_delta": _io_delta(prev, cur, "write_bytes"),
            "read_delta": _io_delta(prev, cur, "read_bytes"),
            "log_lines": cur.log_lines,
            "steps": cur.steps,
            "eval": cur.eval_phase,
            "mem_available": cur.host.mem_available,
            "swap_in": cur.host.swap_in_bps,
            "swap_out": cur.host.swap_out_bps,
            "shm_used": cur.host.shm_used,
            "psi_some": cur.host.psi_some_avg10,
            "watcher_cpu": cur.watcher_cpu,
        }
        for key, value in row.items():
            series.setdefault(key, []).append(value)
        prev = cur
    last_host = s[-1].host if s else None
    gpus = s[-1].gpus if s else ()
    return {
        "interval": header.interval,
        "target": header.target,
        "command": header.command,
        "platform": header.platform,
        "wsl": header.wsl,
        "gpu_note": header.gpu_note,
        "thresholds": dict(header.thresholds),
        "samples": len(s),
        "duration": round(s[-1].t - s[0].t, 3) if len(s) > 1 else 0.0,
        "mem_total": last_host.mem_total if last_host else None,
        "shm_total": last_host.shm_total if last_host else None,
        "gpu_slowdown_c": _max([g.temp_slowdown_c for g in gpus]),
        "gpu_power_cap": _sum([g.power_cap_w for g in gpus]),
        "gpu_count": len(gpus),
        "series": series,
        "stacks": [asdict(c) for c in timeline.stacks],
        "end": asdict(timeline.end) if timeline.end else None,
    }
