"""Training setup: the user's DataLoader settings held against this machine (GD601-GD610).

The machine checks (GD303 /dev/shm, GD304 open files) look at the box alone; these relate it
to the loaders the user's script, config or live DataLoader will create. Each source (one
file, or one DataLoader given to ``gpudoctor.preflight``) is a subject of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gpudoctor.api import (
    GiB,
    check,
    evidence,
    fail,
    fmt_bytes,
    info,
    passed,
    remedy,
    skip,
    warn,
)
from gpudoctor.facts.model import Facts
from gpudoctor.model import Verdict

#: Start methods that re-import the main module and pickle everything sent to workers.
SPAWN_LIKE = frozenset({"spawn", "forkserver"})
#: Commit each spawned worker adds on Windows when it imports a CUDA build of torch
#: (CUDA, cuBLAS and cuDNN DLL sections are charged per process), and without CUDA.
WORKER_COMMIT_CUDA = 2 * GiB
WORKER_COMMIT_CPU = 512 * 1024**2
#: Commit kept free for the training process itself and the rest of the system.
COMMIT_HEADROOM = 2 * GiB
#: Size of one sample when the config does not say (a 3x224x224 float32 image).
DEFAULT_SAMPLE_BYTES = 3 * 224 * 224 * 4
DEFAULT_PREFETCH = 2
#: ultralytics keeps RAM-cached images as uint8 HxWx3 arrays resized to imgsz.
DEFAULT_IMGSZ = 640

_SOURCE = "training probe"


# -- reading the training facts ---------------------------------------------------------------


def _sources(facts: Facts, *, understood: bool = True) -> Iterator[Any]:
    for source in facts["training"].get("sources") or ():
        if bool(source.get("understood")) == understood:
            yield source


def _setting(loader: Any, name: str) -> Any:
    return (loader.get("settings") or {}).get(name)


def workers_of(loader: Any) -> int | None:
    """num_workers: 0 when absent (DataLoader's default), None when it cannot be read."""
    setting = _setting(loader, "num_workers")
    if setting is None:
        return 0
    value = setting.get("value")
    if setting.get("known") and isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _known(loader: Any, name: str) -> Any:
    setting = _setting(loader, name)
    return setting.get("value") if setting is not None and setting.get("known") else None


def start_method(facts: Facts, source: Any, loader: Any | None) -> tuple[str, str]:
    """The start method a loader will use, and where that comes from."""
    context = _known(loader, "multiprocessing_context") if loader is not None else None
    if isinstance(context, str):
        line = _setting(loader, "multiprocessing_context")["line"]
        return context, f"multiprocessing_context at line {line}"
    default = facts["training"]["start_method"]
    on_windows = str(default.get("platform", "")).startswith("win")
    for override in reversed(source.get("start_methods") or ()):
        method = override.get("method")
        if method and not (on_windows and method != "spawn"):
            return method, f"{override.get('call')} at line {override['line']}"
    return default["default"], f"default: {default.get('why', '')}"


def _where(source: Any, line: Any) -> str:
    return f"{source['path']}:{line}" if line else str(source["path"])


def _loader_evidence(source: Any, loader: Any, name: str = "num_workers") -> Any:
    setting = _setting(loader, name)
    if setting is None:
        return evidence(
            f"{loader['label']} {name}", "not set (default)", _where(source, loader["line"])
        )
    value, text = setting.get("value"), setting.get("text")
    shown = text or value
    if setting.get("known") and text and text != repr(value) and text != str(value):
        shown = f"{value} ({text})"
    return evidence(f"{loader['label']} {name}", shown, _where(source, setting.get("line")))


def _usable_cpus(facts: Facts) -> int | None:
    cpus = facts.get("host.cpus")
    if not cpus:
        return None
    usable = cpus.get("usable") or cpus.get("logical")
    quota = cpus.get("cgroup_quota")
    if usable and quota:
        usable = min(usable, max(1, int(quota)))
    return usable


def _by_start_method(
    method: str, title: str, consequence: str, subject: str, ev: list, remedies: list
) -> Verdict:
    """Fail where this run's start method breaks it; elsewhere warn for the other platforms."""
    if method in SPAWN_LIKE:
        return fail(title + consequence, subject=subject, evidence=ev, remedies=remedies)
    return warn(title + _platform_note(method), subject=subject, evidence=ev, remedies=remedies)


def _platform_note(method: str) -> str:
    if method in SPAWN_LIKE:
        return ""
    return " (works here with fork; breaks on Windows, macOS and Linux with Python 3.14+)"


# -- checks -----------------------------------------------------------------------------------


@check(
    "GD601",
    "spawn-main-guard",
    summary="DataLoader workers are not started while the script is being imported",
    requires=("training",),
    tags=("training", "windows", "macos"),
)
def spawn_main_guard(facts: Facts) -> list[Verdict]:
    """Spawned workers re-import the script; unguarded training code starts workers again."""
    verdicts = []
    for source in _sources(facts):
        if source.get("kind") != "script":
            continue
        with_workers = [ld for ld in source["loaders"] if workers_of(ld) != 0]
        starts = source.get("worker_starts") or []
        if not with_workers or not starts:
            verdicts.append(passed("No worker start at import time", subject=source["path"]))
            continue
        method, why = start_method(facts, source, with_workers[0])
        span = source.get("unguarded_code") or {
            "first_line": starts[0]["line"],
            "last_line": starts[-1]["end_line"],
        }
        ev = [
            evidence("starts workers on import", s["text"], _where(source, s["line"]))
            for s in starts
        ]
        ev += [_loader_evidence(source, ld) for ld in with_workers]
        ev.append(evidence("start method", method, why))
        guard = source.get("main_guard") or {}
        ev.append(
            evidence(
                "__main__ guard",
                f"at line {guard['line']}" if guard.get("present") else "none",
                source["path"],
            )
        )
        lines = f"lines {span['first_line']}-{span['last_line']}"
        remedies = [
            remedy(
                f"Move {lines} of {source['path']} into a function and call it only under "
                "the __main__ guard, so a worker that re-imports the script does not train.",
                "def main():",
                f"    ...  # {lines}, indented",
                'if __name__ == "__main__":',
                "    main()",
            ),
            remedy("Or, until then, use num_workers=0 on spawn platforms."),
        ]
        title = (
            f"{source['path']} starts DataLoader workers at import time ({lines} are not under "
            f'if __name__ == "__main__")'
        )
        consequence = (
            f": with {method} each worker re-runs them and the run stops with "
            "'An attempt has been made to start a new process before the current "
            "process has finished its bootstrapping phase'"
        )
        verdicts.append(_by_start_method(method, title, consequence, source["path"], ev, remedies))
    return verdicts or [skip("No training script was given (--script)")]


@check(
    "GD602",
    "unpicklable-loader-argument",
    summary="Dataset, sampler and callables given to DataLoader can be sent to spawned workers",
    requires=("training",),
    tags=("training", "windows", "macos"),
)
def unpicklable_loader_argument(facts: Facts) -> list[Verdict]:
    """Spawn pickles the dataset, sampler, collate_fn and worker_init_fn for every worker."""
    verdicts = []
    for source in _sources(facts):
        loaders = {ld["line"]: ld for ld in source["loaders"]}
        problems = [
            p
            for p in source.get("unpicklable") or ()
            if workers_of(loaders.get(p.get("loader_line"), {})) != 0
        ]
        if not problems:
            if source["loaders"]:
                verdicts.append(passed("Loader arguments can be pickled", subject=source["path"]))
            continue
        first_loader = loaders.get(problems[0].get("loader_line"))
        method, why = start_method(facts, source, first_loader)
        ev = [
            evidence(
                f"{p['argument']}: {p['kind']}",
                p.get("text") or p.get("name"),
                _where({"path": p.get("file") or source["path"]}, p.get("line")),
            )
            for p in problems
        ]
        ev.append(evidence("start method", method, why))
        remedies = [
            remedy(
                "Define the dataset class, collate_fn and worker_init_fn at module level of an "
                "importable .py file (not inside a function, a notebook or the __main__ guard); "
                "use functools.partial instead of a lambda or closure to bind arguments."
            ),
            remedy("Open files and connections lazily inside each worker, not in __init__."),
            remedy("In a notebook, use num_workers=0."),
        ]
        named = ", ".join(
            f"{p['argument']} ({p['kind']}, line {p['line']})"
            if p.get("line")
            else f"{p['argument']} ({p['kind']})"
            for p in problems
        )
        title = f"{source['path']}: DataLoader workers cannot receive {named}"
        consequence = f' under {method}: "Can\'t pickle local object" or a hang'
        verdicts.append(_by_start_method(method, title, consequence, source["path"], ev, remedies))
    return verdicts or [skip("No DataLoader found in the training setup")]


@check(
    "GD603",
    "worker-options-without-workers",
    summary="persistent_workers and prefetch_factor are only set together with workers",
    requires=("training",),
    tags=("training",),
)
def worker_options_without_workers(facts: Facts) -> list[Verdict]:
    """DataLoader raises ValueError for persistent_workers/prefetch_factor with 0 workers."""
    verdicts = []
    for source in _sources(facts):
        bad = []
        for loader in source["loaders"]:
            if workers_of(loader) != 0:
                continue
            if _known(loader, "persistent_workers") is True:
                bad.append((loader, "persistent_workers"))
            prefetch = _setting(loader, "prefetch_factor")
            if prefetch is not None and not (prefetch.get("known") and prefetch["value"] is None):
                bad.append((loader, "prefetch_factor"))
        if not bad:
            if source["loaders"]:
                verdicts.append(passed("Worker options match num_workers", subject=source["path"]))
            continue
        ev = []
        for loader, name in bad:
            ev += [_loader_evidence(source, loader), _loader_evidence(source, loader, name)]
        names = sorted({f"{ld['label']}: {name}" for ld, name in bad})
        verdicts.append(
            fail(
                f"{source['path']}: {'; '.join(names)} set with num_workers=0; DataLoader "
                "refuses this with ValueError",
                subject=source["path"],
                evidence=ev,
                remedies=[
                    remedy(
                        "Remove persistent_workers / prefetch_factor from loaders that use no "
                        "workers, or give them num_workers >= 1."
                    )
                ],
            )
        )
    return verdicts or [skip("No DataLoader settings found in the training setup")]


@check(
    "GD604",
    "workers-above-cpus",
    summary="num_workers is not larger than the CPUs this process may use",
    requires=("training", "host.cpus"),
    tags=("training", "cpu"),
)
def workers_above_cpus(facts: Facts) -> list[Verdict]:
    """More workers than CPUs only adds processes, memory and contention."""
    cpus = _usable_cpus(facts)
    if not cpus:
        return [skip("CPU count unknown")]
    verdicts = []
    for source in _sources(facts):
        too_many = [ld for ld in source["loaders"] if (workers_of(ld) or 0) > cpus]
        if not too_many:
            if source["loaders"]:
                verdicts.append(passed(f"Workers fit in {cpus} CPUs", subject=source["path"]))
            continue
        worst = max(workers_of(ld) or 0 for ld in too_many)
        suggested = max(1, min(cpus - 1, 8))
        verdicts.append(
            warn(
                f"{source['path']}: {worst} DataLoader workers on {cpus} usable CPUs",
                subject=source["path"],
                evidence=[_loader_evidence(source, ld) for ld in too_many]
                + [evidence("usable CPUs", cpus, "host.cpus (affinity, cgroup quota)")],
                remedies=[remedy(f"Use at most {suggested} workers on this machine.")],
            )
        )
    return verdicts or [skip("No DataLoader settings found in the training setup")]


def _concurrent_workers(loaders: list[Any]) -> int:
    """Workers alive at once: persistent loaders add up, the others take turns."""
    persistent = sum(workers_of(ld) or 0 for ld in loaders if _known(ld, "persistent_workers"))
    others = [workers_of(ld) or 0 for ld in loaders if not _known(ld, "persistent_workers")]
    return persistent + max(others, default=0)


@check(
    "GD605",
    "windows-commit-budget",
    summary="Windows can commit memory for every spawned DataLoader worker",
    requires=("training", "host.kind"),
    uses=("gpu.devices",),
    tags=("training", "windows", "memory"),
)
def windows_commit_budget(facts: Facts) -> list[Verdict]:
    """No overcommit on Windows: each worker's CUDA DLLs are charged to RAM + paging file."""
    if facts["host"]["kind"] != "windows":
        return [skip("Not applicable: only Windows charges every worker's DLLs to commit")]
    commit = facts.get("training.machine.commit")
    if not commit:
        return [skip("Commit limit unknown (GlobalMemoryStatusEx not read)")]
    devices = facts.get("gpu.devices")
    cuda = bool(devices)
    per_worker = WORKER_COMMIT_CUDA if cuda else WORKER_COMMIT_CPU
    limit, available = commit["limit_bytes"], commit["available_bytes"]
    budget = available - per_worker - COMMIT_HEADROOM  # the training process loads CUDA too
    safe = max(0, int(budget // per_worker))
    verdicts = []
    for source in _sources(facts):
        workers = _concurrent_workers(source["loaders"])
        if workers == 0:
            continue
        needed = workers * per_worker
        ev = [_loader_evidence(source, ld) for ld in source["loaders"] if workers_of(ld)]
        ev += [
            _loader_evidence(source, ld, "persistent_workers")
            for ld in source["loaders"]
            if _known(ld, "persistent_workers")
        ]
        ev += [
            evidence("workers alive at once", workers, "persistent loaders add up"),
            evidence(
                "estimated commit per worker",
                fmt_bytes(per_worker),
                "CUDA build (a GPU is present)" if cuda else "CPU-only estimate",
            ),
            evidence("commit limit (RAM + paging file)", fmt_bytes(limit), commit.get("source")),
            evidence("commit available", fmt_bytes(available), commit.get("source")),
            evidence("largest safe worker count", safe, "available - training process - 2 GiB"),
        ]
        remedies = [
            remedy(
                f"Use at most {safe} workers in total across loaders that are alive together "
                "(persistent_workers keeps the val loader's workers alive during training)."
            ),
            remedy(
                "Let Windows manage the paging file size (or set a larger one on an SSD); "
                "needs an administrator and a restart.",
                "SystemPropertiesPerformance.exe  (Advanced > Virtual memory > Change)",
                "Get-CimInstance Win32_ComputerSystem | Set-CimInstance -Property "
                "@{AutomaticManagedPagefile=$true}",
                platforms=("windows",),
            ),
        ]
        title = (
            f"{source['path']}: {workers} workers need about {fmt_bytes(needed)} of commit, "
            f"{fmt_bytes(max(0, budget))} is left after the training process"
        )
        if workers > safe:
            verdicts.append(
                fail(
                    title + ": expect 'OSError: [WinError 1455] The paging file is too small'",
                    subject=source["path"],
                    evidence=ev,
                    remedies=remedies,
                )
            )
        else:
            verdicts.append(passed(title, subject=source["path"], evidence=ev))
    return verdicts or [skip("No loader uses workers")]


@check(
    "GD606",
    "shm-for-loader",
    summary="/dev/shm holds the batches the loaders keep in flight",
    requires=("training", "shm"),
    uses=("host.container",),
    tags=("training", "memory", "containers"),
)
def shm_for_loader(facts: Facts) -> list[Verdict]:
    """Every batch in flight (workers x prefetch_factor) sits in /dev/shm."""
    shm = facts["shm"]
    if not shm.get("present"):
        return [skip("Not applicable: no /dev/shm here")]
    total = shm["total_bytes"]
    container = facts.get("host.container.runtime") or "none detected"
    verdicts = []
    for source in _sources(facts):
        worst, worst_loader, sample = 0, None, DEFAULT_SAMPLE_BYTES
        imgsz = (source.get("cache") or {}).get("imgsz")
        if imgsz:
            sample = 3 * imgsz * imgsz * 4
        for loader in source["loaders"]:
            workers, batch = workers_of(loader), _known(loader, "batch_size")
            if not workers or not isinstance(batch, int):
                continue
            prefetch = _known(loader, "prefetch_factor") or DEFAULT_PREFETCH
            need = workers * prefetch * batch * sample * 2
            if need > worst:
                worst, worst_loader = need, loader
        if worst_loader is None:
            continue
        ev = [
            _loader_evidence(source, worst_loader),
            _loader_evidence(source, worst_loader, "batch_size"),
            evidence("assumed sample size", fmt_bytes(sample), "float32 3xHxW image"),
            evidence("estimated /dev/shm need", fmt_bytes(worst), "workers x prefetch x batch x 2"),
            evidence("/dev/shm size", fmt_bytes(total), shm.get("source", "statvfs")),
            evidence("container", container, "host.container"),
        ]
        remedies = [
            remedy(
                "Give the container more shared memory.",
                "docker run --shm-size=8g ...",
                "docker run --ipc=host ...",
                platforms=("docker",),
            ),
            remedy(
                "Or keep fewer batches in flight: fewer workers, prefetch_factor=1, smaller "
                "batches."
            ),
        ]
        title = (
            f"{source['path']}: {worst_loader['label']} may keep about {fmt_bytes(worst)} "
            f"in /dev/shm, which is {fmt_bytes(total)}"
        )
        if worst > total:
            verdicts.append(
                fail(
                    title + ": expect 'DataLoader worker ... killed by signal: Bus error'",
                    subject=source["path"],
                    evidence=ev,
                    remedies=remedies,
                )
            )
        elif worst > total // 2:
            verdicts.append(warn(title, subject=source["path"], evidence=ev, remedies=remedies))
        else:
            verdicts.append(passed(title, subject=source["path"], evidence=ev))
    return verdicts or [skip("No loader with workers and a known batch size")]


@check(
    "GD607",
    "fd-limit-for-loader",
    summary="The open-files limit covers the tensors workers share by file descriptor",
    requires=("training", "limits", "host.kind"),
    tags=("training", "limits"),
)
def fd_limit_for_loader(facts: Facts) -> list[Verdict]:
    """Linux shares each worker tensor through one file descriptor by default."""
    if facts["host"]["kind"] not in ("linux", "wsl2", "wsl1"):
        return [skip("Not applicable: only Linux uses the file_descriptor sharing strategy")]
    limits = facts["limits"]
    soft = (limits.get("nofile") or {}).get("soft")
    if soft is None:
        return [skip("No finite open-files limit")]
    verdicts = []
    for source in _sources(facts):
        need, worst = 0, None
        for loader in source["loaders"]:
            workers, batch = workers_of(loader), _known(loader, "batch_size")
            if workers and isinstance(batch, int):
                prefetch = _known(loader, "prefetch_factor") or DEFAULT_PREFETCH
                if workers * prefetch * batch > need:
                    need, worst = workers * prefetch * batch, loader
        if worst is None:
            continue
        need += 256  # the process's own files, sockets and libraries
        ev = [
            _loader_evidence(source, worst),
            _loader_evidence(source, worst, "batch_size"),
            evidence("descriptors in flight (one tensor per sample)", need, "estimate"),
            evidence("soft RLIMIT_NOFILE", soft, "limits.nofile"),
        ]
        if soft < need:
            verdicts.append(
                warn(
                    f"{source['path']}: up to {need} open descriptors for batches in flight, "
                    f"the soft limit is {soft}: expect 'Too many open files'",
                    subject=source["path"],
                    evidence=ev,
                    remedies=[
                        remedy(
                            "Raise the soft limit before training.",
                            f"ulimit -n {max(need * 2, 4096)}",
                            platforms=("linux", "wsl"),
                        ),
                        remedy(
                            "Or share through files in /dev/shm instead of descriptors.",
                            "torch.multiprocessing.set_sharing_strategy('file_system')",
                        ),
                    ],
                )
            )
        else:
            verdicts.append(
                passed(
                    f"Open-files limit {soft} covers ~{need}", subject=source["path"], evidence=ev
                )
            )
    return verdicts or [skip("No loader with workers and a known batch size")]


@check(
    "GD608",
    "loader-thread-oversubscription",
    summary="Workers times threads per worker fits the CPU cores",
    requires=("training", "host.cpus", "env.variables"),
    tags=("training", "cpu"),
)
def loader_thread_oversubscription(facts: Facts) -> list[Verdict]:
    """OpenCV and BLAS start one thread per core in every worker unless told otherwise."""
    cpus = _usable_cpus(facts)
    if not cpus:
        return [skip("CPU count unknown")]
    omp_text = facts["env"]["variables"].get("OMP_NUM_THREADS")
    try:
        omp = int(omp_text) if omp_text else None
    except ValueError:
        omp = None
    verdicts = []
    for source in _sources(facts):
        workers = max((workers_of(ld) or 0 for ld in source["loaders"]), default=0)
        if workers < 2:
            continue
        per_process, origin = omp, "OMP_NUM_THREADS"
        if per_process is None and source.get("format") == "mmengine-python":
            per_process, origin = 1, "mmengine sets OMP_NUM_THREADS=1 when it is unset"
        threads = (workers + 1) * (per_process or cpus)
        ev = [
            evidence("workers", workers, source["path"]),
            evidence("OMP_NUM_THREADS", omp_text or "not set", "env"),
            evidence("usable CPUs", cpus, "host.cpus"),
            evidence("threads that may run", threads, "(workers + 1) x threads per process"),
        ]
        if threads <= cpus or (per_process == 1):
            verdicts.append(
                passed(
                    f"{threads} threads on {cpus} CPUs ({origin})",
                    subject=source["path"],
                    evidence=ev,
                )
            )
            continue
        verdicts.append(
            warn(
                f"{source['path']}: {workers} workers with "
                f"{'OMP_NUM_THREADS unset' if omp is None else f'OMP_NUM_THREADS={omp}'} can "
                f"run {threads} threads on {cpus} CPUs; throughput drops as workers are added",
                subject=source["path"],
                evidence=ev,
                remedies=[
                    remedy(
                        "Limit math-library threads for the run.",
                        "export OMP_NUM_THREADS=1",
                        platforms=("linux", "wsl", "macos"),
                    ),
                    remedy(
                        "Windows PowerShell.", "$env:OMP_NUM_THREADS = 1", platforms=("windows",)
                    ),
                    remedy(
                        "In worker_init_fn call cv2.setNumThreads(0) if the dataset uses "
                        "OpenCV; in the main process torch.set_num_threads(cores - workers)."
                    ),
                ],
            )
        )
    return verdicts or [skip("No loader with two or more workers")]


@check(
    "GD609",
    "ram-cache-vs-memory",
    summary="A dataset cached in RAM fits the memory available",
    requires=("training", "memory.available_bytes"),
    tags=("training", "memory"),
)
def ram_cache_vs_memory(facts: Facts) -> list[Verdict]:
    """'cache: ram' decodes every image into RAM before the first epoch."""
    available = facts["memory"]["available_bytes"]
    data = facts["training"].get("data")
    verdicts = []
    for source in _sources(facts):
        cache = source.get("cache") or {}
        if cache.get("mode") != "ram":
            continue
        imgsz = cache.get("imgsz") or DEFAULT_IMGSZ
        per_image = imgsz * imgsz * 3
        ev = [
            evidence("cache", cache.get("text"), _where(source, cache.get("line"))),
            evidence("RAM per cached image", fmt_bytes(per_image), f"uint8 {imgsz}x{imgsz}x3"),
            evidence("memory available", fmt_bytes(available), "memory.available_bytes"),
        ]
        fits = int(available // per_image)
        if not data or not data.get("images"):
            verdicts.append(
                info(
                    f"{source['path']}: cache: ram holds about {fmt_bytes(per_image)} per image; "
                    f"the {fmt_bytes(available)} available fit about {fits} images "
                    "(pass --data DATASET_DIR to compare with the dataset)",
                    subject=source["path"],
                    evidence=ev,
                )
            )
            continue
        images = data["images"]
        need = images * per_image
        ev.append(
            evidence(
                "images under --data",
                images if data.get("complete") else f"at least {images}",
                data.get("path"),
            )
        )
        ev.append(evidence("estimated cache size", fmt_bytes(need), "images x per image"))
        remedies = [remedy("Use cache: disk (or cache: false), or a smaller imgsz.")]
        title = (
            f"{source['path']}: cache: ram needs about {fmt_bytes(need)}, "
            f"{fmt_bytes(available)} is available"
        )
        if need > available:
            verdicts.append(
                fail(
                    title + ": the run will swap or be killed by the OOM killer",
                    subject=source["path"],
                    evidence=ev,
                    remedies=remedies,
                )
            )
        elif need > available * 0.7:
            verdicts.append(warn(title, subject=source["path"], evidence=ev, remedies=remedies))
        else:
            verdicts.append(passed(title, subject=source["path"], evidence=ev))
    return verdicts or [skip("No RAM cache configured")]


@check(
    "GD610",
    "training-file-not-understood",
    summary="Every --script and --config file could be read",
    requires=("training",),
    tags=("training",),
)
def training_file_not_understood(facts: Facts) -> list[Verdict]:
    """A file that could not be analysed is said so, instead of silently passing."""
    verdicts = [
        warn(
            f"{source['path']} was not analysed: {source.get('reason')}",
            subject=source["path"],
            evidence=[evidence("reason", source.get("reason"), source["path"])],
            remedies=[
                remedy(
                    "Pass a Python training script with --script, and an mmengine/mmcv .py "
                    "or a YAML config with --config."
                )
            ],
        )
        for source in _sources(facts, understood=False)
    ]
    return verdicts or [passed("All training files were analysed")]
