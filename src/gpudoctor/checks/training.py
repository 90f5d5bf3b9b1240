"""Training setup: the user's DataLoader settings held against this machine (GD601-GD610).

The machine checks (GD303 /dev/shm, GD304 open files) look at the box alone; these relate it
to the loaders the user's script, config or live DataLoader will create. Each source (one
file, or one DataLoader given to ``gpudoctor.preflight``) is a subject of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gpudoctor.api import GiB
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import fmt_bytes
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.facts.model import Facts
from gpudoctor.model import Verdict
from gpudoctor.readers.script_values import evaluate_formula

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


def workers_of(loader: Any, machine: Any = None) -> int | None:
    """num_workers: 0 when absent (DataLoader's default), None when it cannot be read.

    A count that depends on the CPU count (``os.cpu_count()``, ``min(8, os.cpu_count())``)
    is computed for ``machine`` (the training section's machine record) when it is known.
    A loader whose arguments could not all be read (``**kwargs`` from elsewhere) has an
    unknown count, never 0.
    """
    setting = _setting(loader, "num_workers")
    if setting is None:
        return None if loader.get("incomplete") else 0
    value = setting.get("value")
    if setting.get("known") and isinstance(value, int) and not isinstance(value, bool):
        return value
    formula = setting.get("formula")
    if formula is not None and machine:
        return evaluate_formula(formula, machine.get("cpus_logical"), machine.get("cpus_usable"))
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
    if setting.get("formula") is not None:
        from gpudoctor.readers.script_values import describe_formula

        shown = f"{text} = {describe_formula(setting['formula'])}: depends on the CPU count"
    elif setting.get("via") and setting.get("via") not in str(shown):
        shown = f"{shown}: {setting['via']}"
    return evidence(f"{loader['label']} {name}", shown, _where(source, setting.get("line")))


def _usable_cpus(facts: Facts) -> int | None:
    cpus = facts.get("host.cpus")
    if not cpus:
        return None
    usable = cpus.get("usable") or cpus.get("logical")
    quota = cpus.get("cgroup_quota")
    if usable and quota:
        usable = min(usable, max(1, int(quota)))
    return int(usable) if usable else None


def _by_start_method(
    method: str,
    title: str,
    consequence: str,
    subject: str,
    ev: list[Any],
    remedies: list[Any],
) -> Verdict:
    """Fail where this run's start method breaks it; elsewhere warn for the other platforms."""
    if method in SPAWN_LIKE:
        return fail(title + consequence, subject=subject, evidence=ev, remedies=remedies)
    return warn(title + _platform_note(method), subject=subject, evidence=ev, remedies=remedies)


def _estimate_verdict(
    source: Any,
    title: str,
    *,
    over: bool,
    near: bool = False,
    consequence: str,
    ev: list[Any],
    remedies: list[Any],
) -> Verdict:
    """Fail, saying what follows, when the estimate does not fit; warn when it comes near."""
    subject = source["path"]
    if over:
        return fail(title + consequence, subject=subject, evidence=ev, remedies=remedies)
    if near:
        return warn(title, subject=subject, evidence=ev, remedies=remedies)
    return passed(title, subject=subject, evidence=ev)


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
        lines = (
            f"line {span['first_line']}"
            if span["first_line"] == span["last_line"]
            else f"lines {span['first_line']}-{span['last_line']}"
        )
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
        verb = "is" if lines.startswith("line ") else "are"
        title = (
            f"{source['path']} starts DataLoader workers at import time ({lines} {verb} not "
            f'under if __name__ == "__main__")'
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
    machine = facts["training"].get("machine") or {}
    verdicts = []
    for source in _sources(facts):
        loaders = source["loaders"]
        counts = [(ld, workers_of(ld, machine)) for ld in loaders]
        too_many = [(ld, n) for ld, n in counts if n is not None and n > cpus]
        unknown = [ld for ld, n in counts if n is None]
        ev = [_loader_evidence(source, ld) for ld in loaders]
        ev.append(evidence("usable CPUs", cpus, "host.cpus (affinity, cgroup quota)"))
        if too_many:
            worst = max(n for _, n in too_many)
            suggested = max(1, min(cpus - 1, 8))
            verdicts.append(
                warn(
                    f"{source['path']}: {worst} DataLoader workers on {cpus} usable CPUs",
                    subject=source["path"],
                    evidence=ev,
                    remedies=[remedy(f"Use at most {suggested} workers on this machine.")],
                )
            )
        elif unknown:
            names = ", ".join(ld["label"] for ld in unknown)
            verdicts.append(
                info(
                    f"{source['path']}: the worker count of {names} could not be read, so it "
                    f"was not compared with the {cpus} usable CPUs",
                    subject=source["path"],
                    evidence=ev,
                )
            )
        elif loaders:
            verdicts.append(
                passed(f"Workers fit in {cpus} CPUs", subject=source["path"], evidence=ev)
            )
    return verdicts or [skip("No DataLoader settings found in the training setup")]


def _keeps_workers(loader: Any) -> bool:
    """persistent_workers=True, or a framework loader that keeps its workers (ultralytics)."""
    return bool(_known(loader, "persistent_workers") or loader.get("keeps_workers"))


def _concurrent_workers(loaders: list[Any], machine: Any = None) -> int:
    """Workers alive at once: persistent loaders add up, the others take turns.

    Config test loaders (mmengine ``test_dataloader``) are built only by ``runner.test()``,
    after training, so they do not run next to the train and val loaders.
    """
    loaders = [
        ld for ld in loaders if not str(ld.get("label", "")).split(".")[-1].startswith("test")
    ]
    persistent = sum(workers_of(ld, machine) or 0 for ld in loaders if _keeps_workers(ld))
    others = [workers_of(ld, machine) or 0 for ld in loaders if not _keeps_workers(ld)]
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
        workers = _concurrent_workers(source["loaders"], facts["training"].get("machine") or {})
        if workers == 0:
            continue
        needed = workers * per_worker
        ev = [_loader_evidence(source, ld) for ld in source["loaders"]]  # 0-worker ones too
        ev += [
            _loader_evidence(source, ld, "persistent_workers")
            for ld in source["loaders"]
            if _known(ld, "persistent_workers")
        ]
        ev += [
            evidence(f"{ld['label']} keeps its workers", "yes", ld["keeps_workers"])
            for ld in source["loaders"]
            if ld.get("keeps_workers")
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
        verdicts.append(
            _estimate_verdict(
                source,
                title,
                over=workers > safe,
                consequence=": expect 'OSError: [WinError 1455] The paging file is too small'",
                ev=ev,
                remedies=remedies,
            )
        )
    return verdicts or [skip("No loader uses workers")]


def _shared_dataset_verdicts(facts: Facts, source: Any, shm: Any) -> list[Verdict]:
    """Live loaders (preflight): dataset tensors spawn moves into /dev/shm, ENOSPC seen."""
    found = []
    free = shm.get("free_bytes")
    remedies = [
        remedy(
            "Give the container more shared memory.",
            "docker run --shm-size=8g ...",
            platforms=("docker",),
        ),
        remedy(
            "Or keep large tensors out of the dataset object (load them lazily in each "
            "worker, or memory-map a file), or use the fork start method on Linux."
        ),
    ]
    for loader in source["loaders"]:
        errors = loader.get("shm_errors") or []
        size = loader.get("shared_tensor_bytes") or 0
        method, why = start_method(facts, source, loader)
        ev = [
            evidence("dataset tensors spawn would share", fmt_bytes(size), "preflight pickling"),
            evidence("/dev/shm free", fmt_bytes(free) if free is not None else "unknown", "shm"),
            evidence("start method", method, why),
        ]
        if errors:
            ev += [evidence("error", e, "preflight pickling") for e in errors]
            found.append(
                fail(
                    f"{source['path']}: no room in /dev/shm to share the dataset with workers "
                    "(No space left on device); the data can be pickled",
                    subject=source["path"],
                    evidence=ev,
                    remedies=remedies,
                )
            )
        elif (
            size
            and method in SPAWN_LIKE
            and workers_of(loader) != 0
            and free is not None
            and size > free
        ):
            found.append(
                fail(
                    f"{source['path']}: {method} moves {fmt_bytes(size)} of dataset tensors "
                    f"into /dev/shm, which has {fmt_bytes(free)} free: expect 'No space left "
                    "on device' when workers start",
                    subject=source["path"],
                    evidence=ev,
                    remedies=remedies,
                )
            )
    return found


def _sample_bytes(source: Any, loader: Any) -> tuple[int, str]:
    """Bytes of one sample in a batch, and what that assumes.

    ultralytics batches hold uint8 images (ultralytics/data/base.py loads them with
    cv2.imread; the trainer's preprocess_batch makes floats on the GPU); other loaders are
    assumed to send float32 3x224x224 images.
    """
    cache = source.get("cache") or {}
    ultralytics = str(loader.get("framework", "")).startswith("ultralytics") or (
        source.get("format") == "yaml" and cache.get("imgsz")
    )
    if ultralytics:
        imgsz = cache.get("imgsz") or DEFAULT_IMGSZ
        return 3 * imgsz * imgsz, f"uint8 3x{imgsz}x{imgsz} image (ultralytics)"
    return DEFAULT_SAMPLE_BYTES, "float32 3x224x224 image"


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
        verdicts += _shared_dataset_verdicts(facts, source, shm)
        worst, worst_loader, sample, sample_text = 0, None, 0, ""
        for loader in source["loaders"]:
            workers = workers_of(loader, facts["training"].get("machine") or {})
            batch = _known(loader, "batch_size")
            if not workers or not isinstance(batch, int):
                continue
            size, size_text = _sample_bytes(source, loader)
            prefetch = _known(loader, "prefetch_factor") or DEFAULT_PREFETCH
            # default_collate stacks a worker's batch straight into shared memory
            # (torch/utils/data/_utils/collate.py, _new_shared), so one copy per batch
            need = workers * prefetch * batch * size
            if need > worst:
                worst, worst_loader, sample, sample_text = need, loader, size, size_text
        if worst_loader is None:
            continue
        ev = [
            _loader_evidence(source, worst_loader),
            _loader_evidence(source, worst_loader, "batch_size"),
            evidence("assumed sample size", fmt_bytes(sample), sample_text),
            evidence(
                "estimated /dev/shm need", fmt_bytes(worst), "workers x prefetch x batch x sample"
            ),
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
        verdicts.append(
            _estimate_verdict(
                source,
                title,
                over=worst > total,
                near=worst > total // 2,
                consequence=": expect 'DataLoader worker ... killed by signal: Bus error'",
                ev=ev,
                remedies=remedies,
            )
        )
    return verdicts or [skip("No loader with workers and a known batch size")]


#: Descriptors the training process holds besides shared tensors (libraries, CUDA device
#: files, logs): a CUDA training process typically has a few dozen open.
FD_BASELINE = 64
#: Shared storages in one batch built by default_collate: one per tensor field of a sample
#: (images, labels, a few extras), however many samples the batch has.
DEFAULT_COLLATE_STORAGES = 4
#: Batches the training loop itself still references (the current and the previous one).
BATCHES_HELD = 2


def _fd_need(loader: Any, machine: Any) -> tuple[int, int, bool] | None:
    """(descriptors with default_collate, with one tensor per sample, custom collate_fn?)."""
    workers, batch = workers_of(loader, machine), _known(loader, "batch_size")
    if not workers:
        return None
    prefetch = _known(loader, "prefetch_factor") or DEFAULT_PREFETCH
    in_flight = workers * prefetch + BATCHES_HELD
    custom = _setting(loader, "collate_fn") is not None and not (
        _known(loader, "collate_fn") is None and _setting(loader, "collate_fn").get("known")
    )
    per_sample = in_flight * batch if isinstance(batch, int) else 0
    return in_flight * DEFAULT_COLLATE_STORAGES + FD_BASELINE, per_sample + FD_BASELINE, custom


@check(
    "GD607",
    "fd-limit-for-loader",
    summary="The open-files limit covers the tensors workers share by file descriptor",
    requires=("training", "limits", "host.kind"),
    tags=("training", "limits"),
)
def fd_limit_for_loader(facts: Facts) -> list[Verdict]:
    """Each shared storage a batch carries holds one descriptor while the batch is alive.

    torch/multiprocessing/reductions.py (file_descriptor strategy, Linux default): the
    worker shares each storage with ``_share_fd_cpu_``; ``rebuild_storage_fd`` in the main
    process maps it and closes the received descriptor, but the mapping keeps a duplicate
    open until the storage is freed. torch/utils/data/dataloader.py keeps
    ``prefetch_factor * num_workers`` batches in flight. default_collate stacks samples, so
    a batch is a few storages, not one per sample.
    """
    if facts["host"]["kind"] not in ("linux", "wsl2", "wsl1"):
        return [skip("Not applicable: only Linux uses the file_descriptor sharing strategy")]
    limits = facts["limits"]
    soft = (limits.get("nofile") or {}).get("soft")
    if soft is None:
        return [skip("No finite open-files limit")]
    machine = facts["training"].get("machine") or {}
    verdicts = []
    for source in _sources(facts):
        for loader in source["loaders"]:
            need = _fd_need(loader, machine)
            if need is None:
                continue
            stacked, per_sample, custom = need
            ev = [
                _loader_evidence(source, loader),
                _loader_evidence(source, loader, "batch_size"),
                _loader_evidence(source, loader, "collate_fn"),
                evidence(
                    "descriptors with stacked batches",
                    stacked,
                    f"(workers x prefetch + {BATCHES_HELD} held) x {DEFAULT_COLLATE_STORAGES} "
                    f"storages + {FD_BASELINE}",
                ),
                evidence("soft RLIMIT_NOFILE", soft, "limits.nofile"),
            ]
            remedies = [
                remedy(
                    "Raise the soft limit before training.",
                    f"ulimit -n {min(max(per_sample, stacked) * 2, 65536)}",
                    platforms=("linux", "wsl"),
                ),
                remedy(
                    "Or share through files in /dev/shm instead of descriptors.",
                    "torch.multiprocessing.set_sharing_strategy('file_system')",
                ),
            ]
            subject = source["path"]
            if stacked > soft:
                verdicts.append(
                    warn(
                        f"{subject}: {loader['label']} keeps about {stacked} descriptors open, "
                        f"the soft limit is {soft}: expect 'Too many open files'",
                        subject=subject,
                        evidence=ev,
                        remedies=remedies,
                    )
                )
            elif custom and per_sample > soft:
                ev.append(evidence("descriptors if one tensor per sample", per_sample, "estimate"))
                verdicts.append(
                    info(
                        f"{subject}: {loader['label']} uses its own collate_fn; if it returns a "
                        f"list of per-sample tensors, about {per_sample} descriptors stay open "
                        f"(soft limit {soft})",
                        subject=subject,
                        evidence=ev,
                        remedies=remedies,
                    )
                )
            else:
                verdicts.append(
                    passed(
                        f"Open-files limit {soft} covers ~{stacked} for {loader['label']}",
                        subject=subject,
                        evidence=ev,
                    )
                )
    return verdicts or [skip("No loader with a known number of workers")]


@check(
    "GD608",
    "loader-thread-oversubscription",
    summary="Workers and the training process's threads fit the CPU cores",
    requires=("training", "host.cpus", "env.variables"),
    tags=("training", "cpu"),
)
def loader_thread_oversubscription(facts: Facts) -> list[Verdict]:
    """torch runs each worker with one thread; the training process keeps one per core.

    torch/utils/data/_utils/worker.py calls ``torch.set_num_threads(1)`` in every worker,
    so OMP_NUM_THREADS being unset does not multiply threads by workers. What remains is
    the training process's intra-op pool (OMP_NUM_THREADS, else one thread per core)
    competing with the workers; that is worth a note only when it is far above the cores.
    """
    cpus = _usable_cpus(facts)
    if not cpus:
        return [skip("CPU count unknown")]
    machine = facts["training"].get("machine") or {}
    omp_text = facts["env"]["variables"].get("OMP_NUM_THREADS")
    try:
        omp = int(omp_text) if omp_text else None
    except ValueError:
        omp = None
    verdicts = []
    for source in _sources(facts):
        counts = [workers_of(ld, machine) for ld in source["loaders"]]
        workers = max((n for n in counts if n is not None), default=0)
        if workers < 2:
            continue
        main_threads = omp or cpus
        threads = workers + main_threads
        ev = [
            evidence("workers", workers, source["path"]),
            evidence(
                "threads per worker",
                1,
                "torch.set_num_threads(1) in torch/utils/data/_utils/worker.py",
            ),
            evidence(
                "training-process threads",
                main_threads,
                "OMP_NUM_THREADS" if omp else "OMP_NUM_THREADS not set: one per core",
            ),
            evidence("usable CPUs", cpus, "host.cpus"),
        ]
        if threads <= 2 * cpus:
            verdicts.append(
                passed(
                    f"{workers} single-threaded workers + {main_threads} training threads "
                    f"on {cpus} CPUs",
                    subject=source["path"],
                    evidence=ev,
                )
            )
            continue
        verdicts.append(
            info(
                f"{source['path']}: {workers} workers and {main_threads} training-process "
                f"threads share {cpus} CPUs; CPU-side work in the training loop competes with "
                "data loading",
                subject=source["path"],
                evidence=ev,
                remedies=[
                    remedy(
                        "If the training loop does CPU work, give it the cores the workers "
                        "leave: torch.set_num_threads(max(1, cores - num_workers))."
                    ),
                    remedy(
                        "In worker_init_fn call cv2.setNumThreads(0) if the dataset uses "
                        "OpenCV (torch limits only its own threads)."
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
        verdicts.append(
            _estimate_verdict(
                source,
                title,
                over=need > available,
                near=need > available * 0.7,
                consequence=": the run will swap or be killed by the OOM killer",
                ev=ev,
                remedies=remedies,
            )
        )
    return verdicts or [skip("No RAM cache configured")]


@check(
    "GD610",
    "training-file-not-understood",
    summary="Every --script and --config file could be read",
    requires=("training",),
    tags=("training",),
)
def training_file_not_understood(facts: Facts) -> list[Verdict]:
    """A file that could not be analysed, or had nothing we understand, is said so."""
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
    for source in _sources(facts):
        if source.get("kind") != "script":
            ev = [
                evidence("loader", ld["label"], _where(source, ld.get("line")))
                for ld in source["loaders"]
            ]
            verdicts.append(
                passed(f"{source['path']} was analysed", subject=source["path"], evidence=ev)
            )
            continue
        trainers = source.get("trainers") or []
        ev = [
            evidence(
                f"{t['framework']} trainer" if t["framework"] != "unrecognised" else "trainer call",
                t.get("call"),
                _where(source, t.get("line")),
            )
            for t in trainers
        ]
        ev += [
            evidence("loader", ld["label"], _where(source, ld.get("line")))
            for ld in source["loaders"]
        ]
        understands = "; ".join(source.get("understands") or ())
        ev.append(evidence("understood", understands or "DataLoader(...) calls", "script reader"))
        unrecognised = [
            t for t in trainers if t["framework"] in ("unrecognised", "ultralytics-like")
        ]
        if not source["loaders"] and not trainers:
            verdicts.append(
                info(
                    f"{source['path']}: no DataLoader or known trainer found, so the "
                    "worker checks had nothing to check in it",
                    subject=source["path"],
                    evidence=ev,
                    remedies=[
                        remedy(
                            "If the loaders are built in another module, pass that file with "
                            "--script too, or check the live loader with gpudoctor.preflight()."
                        )
                    ],
                )
            )
        elif unrecognised:
            calls = ", ".join(f"line {t['line']}" for t in unrecognised)
            verdicts.append(
                info(
                    f"{source['path']}: training call(s) at {calls} were assumed to start "
                    "DataLoader workers; their framework was not recognised",
                    subject=source["path"],
                    evidence=ev,
                )
            )
        else:
            verdicts.append(
                passed(f"{source['path']} was analysed", subject=source["path"], evidence=ev)
            )
    return verdicts or [skip("No training file was given (--script / --config)")]
