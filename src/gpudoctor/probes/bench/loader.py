"""DataLoader throughput, start-up cost and stutter, measured with the real torch DataLoader.

torch is imported only in a child process (:mod:`gpudoctor.probes.bench._loader_child`), watched
from here: the child reports one JSON line per event on a private pipe, and a child that goes
silent longer than a setting can take (a worker start-up that never finishes, a dataset that
cannot be pickled and blocks) is killed with all its workers and reported as a hang.

The search is deliberately not the full grid. Only ``num_workers`` moves throughput much, so
the worker counts are climbed until throughput stops rising; ``persistent_workers`` only
changes the start-up of the next epoch, so it is timed once, without a steady phase;
``prefetch_factor`` is tried only where batches arrive unevenly; ``pin_memory`` only with CUDA.
"""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from gpudoctor.errors import BadInputError
from gpudoctor.probes.bench.disk import validate_folder

#: Within this fraction of the best throughput, fewer workers win (less RAM, faster start).
TOLERANCE = 0.05
#: A further worker count must beat the best so far by this much or the climb stops.
CLIMB_GAIN = 0.05
#: The search tries prefetch_factor=4 on the best setting when its stutter (p95 gap / mean
#: gap) is above this. Judging the stutter is the check's work (GD704, checks/bench.py); a
#: test keeps this at or below its limit, so the remedy it names has been measured.
PREFETCH_RETRY_STUTTER = 3.0
#: Seconds the child may take to import torch and build the dataset.
STARTUP_GRACE_S = 90.0
#: The pick is confirmed by re-measuring the close candidates in interleaved rounds: at least
#: this many rounds, at most that many, until one setting wins this share of them.
REPEAT_MIN_ROUNDS, REPEAT_MAX_ROUNDS, STABLE_SHARE = 3, 6, 0.8
#: The fastest settings of the climb re-measured, at most this many. No rate band: one noisy
#: climb figure can be 10x off (3 workers: 227 samples/s beside 2 workers: 3132), so a
#: setting is never ruled out by a single measurement.
CONFIRM_MAX = 4
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
PROTOCOL_PREFIX = "GPUDOCTOR-LOADER "

ProgressFunc = Callable[[str, float], None]


# -- pure decisions (unit-tested without torch) -------------------------------------------


def worker_candidates(cpus: int) -> list[int]:
    """0, 1, 2, 4, ... up to the usable cores, and the core count itself."""
    counts = [0]
    n = 1
    while n <= cpus:
        counts.append(n)
        n *= 2
    if cpus > 0 and counts[-1] != cpus:
        counts.append(cpus)
    return counts


def gap_stats(gaps: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 of the gaps between batches (ms) and the stutter score (p95 / mean)."""
    if not gaps:
        return {"gap_p50_ms": None, "gap_p95_ms": None, "gap_p99_ms": None, "stutter": None}
    ordered = sorted(gaps)
    mean = sum(ordered) / len(ordered)

    def pct(q: float) -> float:
        index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[index]

    return {
        "gap_p50_ms": round(pct(0.50) * 1000, 3),
        "gap_p95_ms": round(pct(0.95) * 1000, 3),
        "gap_p99_ms": round(pct(0.99) * 1000, 3),
        "stutter": round(pct(0.95) / mean, 2) if mean > 0 else None,
    }


def setting_key(cfg: dict[str, Any]) -> tuple[Any, ...]:
    return (
        cfg["num_workers"],
        cfg.get("prefetch_factor"),
        bool(cfg.get("persistent_workers")),
        bool(cfg.get("pin_memory")),
    )


def recommend(
    results: Iterable[dict[str, Any]], tolerance: float = TOLERANCE
) -> dict[str, Any] | None:
    """The cheapest measured setting within ``tolerance`` of the best throughput."""
    ok = [r for r in results if r.get("status") == "ok" and r.get("samples_per_s")]
    if not ok:
        return None
    best = max(r["samples_per_s"] for r in ok)
    close = [r for r in ok if r["samples_per_s"] >= (1 - tolerance) * best]
    return min(
        close,
        key=lambda r: (
            r["num_workers"],
            not r.get("persistent_workers", False),
            r.get("prefetch_factor") or 0,
            bool(r.get("pin_memory")),
            -r["samples_per_s"],
        ),
    )


def climb_should_stop(throughputs: Sequence[float], gain: float = CLIMB_GAIN) -> bool:
    """Stop adding workers once the newest count fails to beat the best before it."""
    if len(throughputs) < 3:  # always measure 0 and 1 worker, and one more
        return False
    return throughputs[-1] < (1 + gain) * max(throughputs[:-1])


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def aggregate(configs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per setting: the median of its measurements, with their spread.

    A setting measured once keeps its row as it is (``runs`` 1); repeated ones get
    ``samples_per_s`` = median and ``samples_per_s_min``/``_max`` and ``spread`` (max-min over
    the median), so a reader sees how far a single figure can be trusted.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    order: list[tuple[Any, ...]] = []
    failed: list[dict[str, Any]] = []
    for row in configs:
        if row.get("phase") == "restart":
            continue
        if row.get("status") != "ok" or not row.get("samples_per_s"):
            failed.append(row)
            continue
        key = setting_key(row)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(row)
    rows = []
    for key in order:
        runs = groups[key]
        rates = [float(r["samples_per_s"]) for r in runs]
        median = _median(rates)
        row = dict(runs[0])
        row.pop("round", None)
        row["phase"] = "steady"
        row["runs"] = len(runs)
        row["samples_per_s"] = round(median, 2)
        row["samples_per_s_min"] = round(min(rates), 2)
        row["samples_per_s_max"] = round(max(rates), 2)
        row["spread"] = round((max(rates) - min(rates)) / median, 3) if median else None
        stutters = [r["stutter"] for r in runs if r.get("stutter") is not None]
        row["stutter"] = round(_median(stutters), 2) if stutters else None
        rows.append(row)
    return rows + failed


def pick_stability(configs: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """How often each setting would have been picked, round by round of the repeats.

    None when no repeat rounds were measured. ``stable`` is True when one setting wins at
    least :data:`STABLE_SHARE` of at least :data:`REPEAT_MIN_ROUNDS` rounds.
    """
    rounds: dict[int, list[dict[str, Any]]] = {}
    for row in configs:
        if row.get("phase") == "repeat" and isinstance(row.get("round"), int):
            rounds.setdefault(row["round"], []).append(row)
    if not rounds:
        return None
    picks = []
    for number in sorted(rounds):
        pick = recommend(rounds[number])
        if pick is not None:
            picks.append(setting_key(pick))
    if not picks:
        return {"rounds": len(rounds), "stable": False, "share": 0.0, "picks": []}
    counts = {key: picks.count(key) for key in picks}
    modal = max(counts, key=lambda key: counts[key])
    share = counts[modal] / len(picks)
    return {
        "rounds": len(rounds),
        "picks": [list(key) for key in picks],
        "modal_workers": modal[0],
        "share": round(share, 2),
        "stable": len(picks) >= REPEAT_MIN_ROUNDS and share >= STABLE_SHARE,
    }


def needs_more_rounds(
    configs: Iterable[dict[str, Any]],
    min_rounds: int | None = None,
    max_rounds: int | None = None,
) -> bool:
    """Keep repeating until the pick is stable, or the round budget is spent."""
    low = min_rounds or REPEAT_MIN_ROUNDS
    high = max(low, max_rounds or REPEAT_MAX_ROUNDS)
    state = pick_stability(list(configs))
    done = state["rounds"] if state else 0
    if done < low:
        return True
    return not (state and state["stable"]) and done < high


def confirm_candidates(configs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The settings worth re-measuring: the fastest of the climb, the pick among them."""
    rows = [r for r in aggregate(configs) if r.get("status") == "ok"]
    rows.sort(key=lambda r: -r["samples_per_s"])
    return rows[:CONFIRM_MAX]


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Add the verdict fields: best, recommended, speed-up over 0 workers, loader-bound,
    and how stable the pick is when the close settings were measured again."""
    raw = list(result.get("configs", []))
    result["settings"] = aggregate(raw)
    ok = [c for c in result["settings"] if c.get("status") == "ok" and c.get("samples_per_s")]
    result["stability"] = pick_stability(raw)
    rec = recommend(ok)
    best = max(ok, key=lambda c: c["samples_per_s"]) if ok else None
    zero = next((c for c in ok if c["num_workers"] == 0), None)
    result["best"] = best
    result["recommended"] = rec
    speedup = None
    if rec and zero and zero["samples_per_s"]:
        speedup = round(rec["samples_per_s"] / zero["samples_per_s"], 2)
    result["speedup_vs_main_process"] = speedup
    # Loading in the main process (the DataLoader default) is the bottleneck when workers
    # would make the input pipeline markedly faster.
    result["loader_bound_at_default"] = bool(speedup and speedup >= 1.3)
    target = result.get("target_samples_per_s")
    if target and best:
        result["below_target"] = best["samples_per_s"] < target
    if rec:
        result["stutter"] = rec.get("stutter")
    return result


# -- running the child ---------------------------------------------------------------------


@dataclass
class LoaderBenchRequest:
    """What to load and how long to look; ``source`` is one of three kinds.

    ``{"kind": "synthetic"}``, ``{"kind": "images", "dir": PATH}`` or
    ``{"kind": "factory", "spec": "module:function"}``.
    """

    source: dict[str, Any] = field(default_factory=lambda: {"kind": "synthetic"})
    batch_size: int = 32
    seconds: float = 1.5
    mode: str = "smart"
    workers: list[int] | None = None
    prefetch_factors: list[int] = field(default_factory=lambda: [2, 4])
    persistent: list[bool] = field(default_factory=lambda: [True, False])
    start_method: str | None = None
    startup_timeout: float = 15.0
    worker_init: str | None = None
    target_samples_per_s: float | None = None
    cwd: str | None = None
    #: Silence beyond a setting's own limits before the watchdog kills the child.
    watchdog_margin_s: float = 20.0
    #: Rounds of re-measuring the close candidates: at least, at most.
    confirm_rounds: tuple[int, int] = (REPEAT_MIN_ROUNDS, REPEAT_MAX_ROUNDS)


def parse_target(spec: str, option: str) -> tuple[str, str]:
    """``module:function`` -> its parts, or a one-line error."""
    module, sep, name = spec.partition(":")
    if not sep or not module.strip() or not name.strip() or not name.isidentifier():
        raise BadInputError(
            f"{option} {spec!r}: expected module:function, e.g. mydata:make_dataset"
        )
    return module.strip(), name.strip()


def find_images(folder: str, limit: int = 100_000) -> list[str]:
    root = validate_folder(
        folder, label=f"--images {folder}", kind="a folder of images", denied="permission denied"
    )
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.lower().endswith(IMAGE_SUFFIXES):
                found.append(os.path.join(dirpath, name))
                if len(found) >= limit:
                    return sorted(found)
    if not found:
        raise BadInputError(
            f"--images {folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in it"
        )
    return sorted(found)


def usable_cpus() -> int:
    """CPUs this process may use (affinity and cgroup quota), as the probes decide it."""
    from gpudoctor.probes import ProbeContext

    return max(1, ProbeContext().identity.cpus_usable or 1)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and every worker it started (they share its process group)."""
    if sys.platform != "win32":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    else:  # pragma: no cover - Windows
        try:
            import psutil

            parent = psutil.Process(proc.pid)
            for child in parent.children(recursive=True):
                child.kill()
            parent.kill()
        except Exception:  # noqa: BLE001 - already gone
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


def _reader(stream: Any, out: queue.Queue[dict[str, Any] | None]) -> None:
    for raw in stream:
        line = raw.decode("utf-8", errors="replace").strip()
        if line.startswith(PROTOCOL_PREFIX):
            try:
                out.put(json.loads(line[len(PROTOCOL_PREFIX) :]))
            except json.JSONDecodeError:
                continue
    out.put(None)


def run_loader_bench(
    request: LoaderBenchRequest, *, progress: ProgressFunc | None = None
) -> dict[str, Any]:
    """Run the sweep in a watched child process; returns JSON-ready results.

    Raises :class:`BadInputError` for a dataset that cannot be built (bad ``module:function``,
    a factory that raises or returns something that is not a Dataset, an empty folder).
    """
    source = dict(request.source)
    if source.get("kind") == "factory":
        parse_target(source["spec"], "--dataset")
    elif source.get("kind") == "images":
        source["files"] = find_images(source["dir"])
    if request.worker_init:
        parse_target(request.worker_init, "--worker-init")
    config = asdict(request)
    config["source"] = source
    config["cpus"] = usable_cpus()
    if config["workers"] is None:
        config["workers"] = worker_candidates(config["cpus"])
    report = progress or (lambda _what, _fraction: None)
    started = time.monotonic()
    # The scratch folder (synthetic images) belongs to this process, so it is removed even
    # when the child has to be killed.
    with (
        tempfile.TemporaryFile() as stderr_file,
        tempfile.TemporaryDirectory(prefix="gpudoctor-loader-") as scratch,
    ):
        config["scratch"] = scratch
        result, tail = _watch_child(request, config, stderr_file, report)
    if not result.get("torch") and not result["hang"]:
        raise BadInputError(f"the DataLoader benchmark could not start: {tail or 'no output'}")
    result["elapsed_s"] = round(time.monotonic() - started, 2)
    result["mode"] = request.mode
    result["target_samples_per_s"] = request.target_samples_per_s
    result["source"] = {k: v for k, v in source.items() if k != "files"}
    if source.get("kind") == "images":
        result["source"]["images"] = len(source["files"])
    return summarize(result)


def _watch_child(
    request: LoaderBenchRequest,
    config: dict[str, Any],
    stderr_file: Any,
    report: ProgressFunc,
) -> tuple[dict[str, Any], str]:
    """Start the child, relay its events, kill it when silent; returns (result, stderr tail)."""
    # The child writes its protocol on its stdout; anything the user's code prints goes to
    # stderr there, which we keep for error messages.
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gpudoctor.probes.bench._loader_child import main; main()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        cwd=request.cwd or os.getcwd(),
        env=_child_env(),
        start_new_session=(os.name == "posix"),
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps(config).encode())
    proc.stdin.close()
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, events), daemon=True).start()
    result: dict[str, Any] = {"configs": [], "hang": None}
    current: dict[str, Any] | None = None
    silence_limit = STARTUP_GRACE_S
    last_event = time.monotonic()
    try:
        while True:
            try:
                event = events.get(timeout=max(0.05, last_event + silence_limit - time.monotonic()))
            except queue.Empty:
                result["hang"] = _hang_from_watchdog(current, silence_limit, config)
                break
            if event is None:
                break
            last_event = time.monotonic()
            kind = event.get("event")
            if kind == "bad_input":
                raise BadInputError(event["message"])
            if kind == "ready":
                result.update(event.get("info", {}))
                # A setting waits for a first batch twice (start, next epoch), then measures.
                silence_limit = (
                    2 * request.startup_timeout + request.seconds + request.watchdog_margin_s
                )
            elif kind == "start":
                current = event["setting"]
                report(_describe(current), event.get("fraction", 0.0))
            elif kind == "result":
                result["configs"].append(event["result"])
                current = None
            elif kind == "hang":
                result["hang"] = event["hang"]
            elif kind == "done":
                break
    finally:
        _kill_tree(proc)
    return result, _tail(stderr_file)


def _hang_from_watchdog(
    current: dict[str, Any] | None, waited: float, config: dict[str, Any]
) -> dict[str, Any]:
    if current is None:
        return {
            "num_workers": None,
            "waited_s": round(waited, 1),
            "message": f"the benchmark process went silent for {waited:.0f} s "
            "(importing torch or building the dataset did not finish)",
        }
    return {
        "num_workers": current.get("num_workers"),
        "start_method": config.get("start_method"),
        "waited_s": round(waited, 1),
        "message": f"no batch from {current.get('num_workers')} worker(s) within "
        f"{waited:.0f} s: worker start-up never finished",
    }


def _tail(handle: Any, limit: int = 400) -> str:
    try:
        handle.seek(0)
        text = handle.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def _describe(setting: dict[str, Any]) -> str:
    text = f"workers={setting['num_workers']}"
    if setting["num_workers"]:
        text += f" prefetch={setting.get('prefetch_factor')}"
        text += f" persistent={'yes' if setting.get('persistent_workers') else 'no'}"
    if setting.get("pin_memory"):
        text += " pin"
    if setting.get("phase") == "restart":
        text += " (next-epoch start-up)"
    elif setting.get("phase") == "repeat":
        text += f" (repeat {setting.get('round')})"
    return text
