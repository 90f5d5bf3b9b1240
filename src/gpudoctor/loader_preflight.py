"""``gpudoctor.preflight``: check a real DataLoader (or dataset) before training starts.

This runs inside the user's training process, next to their torch, so it may import torch.
It describes the loader the same way the script reader describes a ``DataLoader(...)`` call,
tries to pickle everything spawn would send to a worker with multiprocessing's own
``ForkingPickler`` (each attempt bounded by a timeout), and runs the same GD6xx checks.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from gpudoctor.model import Finding
from gpudoctor.model import Severity

#: What spawn sends to every worker, as DataLoader attribute names: the arguments of
#: ``_utils.worker._worker_loop`` in torch/utils/data/dataloader.py (the samplers stay in
#: the training process).
_PICKLED_ATTRIBUTES = ("dataset", "collate_fn", "worker_init_fn")


class _CountingSink:
    """A write-only file that keeps only the size, so pickling a dataset holds no copy."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def explain_pickle_error(exc: BaseException) -> str:
    """Why pickling failed, in words that do not depend on the Python version's message.

    Python 3.13 says "Can't get local object" where 3.12 said "Can't pickle local object";
    the finding names the cause instead of passing either text through.
    """
    import re

    message = str(exc)
    local = re.search(r"local object '?([^' ]+)", message)
    if local:
        return (
            f"cannot be pickled: {local.group(1)} is a lambda or a function defined inside "
            "another function, which a spawned worker cannot import"
        )
    held = re.search(r"pickle '([^']+)' object", message)
    if held:
        return (
            f"cannot be pickled: it holds a {held.group(1)} object (open files, locks, "
            "connections and generators cannot be sent to a worker)"
        )
    return f"cannot be pickled ({type(exc).__name__})"


def _size_only(nbytes: int) -> int:
    """Stands in for a tensor storage in the measuring pickle; never unpickled for real."""
    return nbytes


def _measuring_pickler(sink: _CountingSink, shared: dict[int, int]) -> tuple[Any, dict[int, int]]:
    """A ForkingPickler that pickles like spawn but never shares a storage.

    torch registers reducers with ForkingPickler (torch/multiprocessing/reductions.py,
    ``init_reductions``) that move every CPU storage into shared memory
    (``_share_fd_cpu_`` / ``_share_filename_cpu_``) as a side effect of pickling: the
    user's dataset would come back with ``is_shared() == True`` and /dev/shm would hold a
    copy. Here each of those reducers is replaced by one that only records the storage's
    size, so the object is inspected, never changed.
    """
    from multiprocessing.reduction import ForkingPickler

    def measure(obj: Any) -> tuple[Any, tuple[int]]:
        storage = obj.untyped_storage() if hasattr(obj, "untyped_storage") else obj
        storage = getattr(storage, "_untyped_storage", storage)
        try:
            nbytes = int(storage.nbytes())
            key = int(storage.data_ptr())
            on_cpu = getattr(storage, "device", None) is None or storage.device.type == "cpu"
        except Exception:  # noqa: BLE001 - meta or odd storages: size unknown, still no sharing
            nbytes, key, on_cpu = 0, id(storage), True
        if on_cpu and nbytes:
            shared[key] = nbytes
        return _size_only, (nbytes,)

    pickler = ForkingPickler(sink, 4)
    table = dict(pickler.dispatch_table)
    for kind, reducer in list(table.items()):
        if getattr(reducer, "__module__", "").startswith("torch.multiprocessing"):
            table[kind] = measure
    pickler.dispatch_table = table
    return pickler, shared


def try_pickle(
    obj: Any, timeout: float, shared: dict[int, int] | None = None
) -> tuple[str, str, int]:
    """(status, message, bytes of tensors spawn would move to shared memory).

    ``shared`` (storage data pointer -> bytes) collects the storages across several calls,
    so a tensor reached from two arguments is counted once.

    status is "ok", "error" (cannot be pickled), "nospace" (ENOSPC while pickling: no room
    to share, not a pickling problem) or "timeout" (pickling hangs; the attempt runs in a
    daemon thread that is left behind). ``obj`` itself is never modified.
    """
    import errno

    outcome: list[tuple[str, str, int]] = []
    seen: dict[int, int] = {} if shared is None else shared

    def attempt() -> None:
        sink = _CountingSink()
        pickler, shared = _measuring_pickler(sink, seen)
        try:
            pickler.dump(obj)
            outcome.append(("ok", f"{sink.size} bytes", sum(shared.values())))
        except OSError as exc:
            status = "nospace" if exc.errno == errno.ENOSPC else "error"
            outcome.append((status, f"{type(exc).__name__}: {exc}", sum(shared.values())))
        except RuntimeError as exc:
            nospace = "No space left on device" in str(exc)
            status = "nospace" if nospace else "error"
            outcome.append((status, f"{type(exc).__name__}: {exc}", sum(shared.values())))
        except Exception as exc:  # noqa: BLE001 - any pickling failure is the finding
            outcome.append(("error", explain_pickle_error(exc), 0))

    worker = threading.Thread(target=attempt, name="gpudoctor-pickle", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return "timeout", f"pickling did not finish within {timeout:g} s", 0
    return outcome[0]


def _interactive_main_problem(obj: Any) -> str | None:
    """Spawned workers cannot re-import classes and functions defined in a notebook."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__file__", None):
        return None
    target = (
        obj
        if isinstance(obj, type) or callable(obj) and hasattr(obj, "__qualname__")
        else type(obj)
    )
    if getattr(target, "__module__", None) == "__main__":
        name = getattr(target, "__qualname__", repr(target))
        return f"{name} is defined in an interactive session (notebook), workers cannot import it"
    return None


def _code_location(obj: Any) -> tuple[str | None, int | None]:
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_filename, code.co_firstlineno
    return None, None


def describe_loader(
    loader_or_dataset: Any, *, multiprocessing_context: Any = None, timeout: float = 10.0
) -> dict[str, Any]:
    """The training-facts record of a live DataLoader or dataset (see script_analysis)."""
    from torch.utils.data import DataLoader

    if isinstance(loader_or_dataset, DataLoader):
        loader = loader_or_dataset
        label = f"DataLoader({type(loader.dataset).__name__})"
        objects = {name: getattr(loader, name, None) for name in _PICKLED_ATTRIBUTES}
        settings = {
            "num_workers": loader.num_workers,
            "batch_size": loader.batch_size,
            "persistent_workers": loader.persistent_workers,
            "prefetch_factor": loader.prefetch_factor if loader.num_workers else None,
            "pin_memory": loader.pin_memory,
        }
        context = multiprocessing_context or loader.multiprocessing_context
    else:
        label = f"dataset {type(loader_or_dataset).__name__}"
        objects = {"dataset": loader_or_dataset}
        settings = {}
        context = multiprocessing_context
    records = {
        name: {"value": value, "known": True, "text": repr(value), "line": None}
        for name, value in settings.items()
    }
    if "num_workers" not in records:  # a bare dataset: the workers are not chosen yet
        records["num_workers"] = {"value": None, "known": False, "text": "?", "line": None}
    start_methods = _start_methods(context)
    unpicklable: list[dict[str, Any]] = []
    notes: list[str] = []
    storages: dict[int, int] = {}
    shm_errors: list[str] = []
    for argument, obj in objects.items():
        if obj is None:
            continue
        problem = _interactive_main_problem(obj)
        if problem:
            status, message, size = "error", problem, 0
        else:
            status, message, size = try_pickle(obj, timeout, storages)
        if status == "ok":
            continue
        if status == "nospace":
            shm_errors.append(f"{argument}: {message}")
            continue
        filename, line = _code_location(obj)
        kind = (
            f"pickling did not finish within {timeout:g} s (a worker would hang at start)"
            if status == "timeout"
            else "object that cannot be pickled"
        )
        unpicklable.append(
            {
                "argument": argument,
                "kind": kind,
                "name": getattr(obj, "__qualname__", type(obj).__name__),
                "line": line,
                "file": filename,
                "loader_line": None,
                "text": message,
            }
        )
    return {
        "path": label,
        "kind": "dataloader",
        "understood": True,
        "reason": "",
        "loaders": [
            {
                "label": label,
                "line": None,
                "end_line": None,
                "scope": "live object",
                "runs_at_import": False,
                "settings": records,
                "incomplete": False,
                "shared_tensor_bytes": sum(storages.values()),
                "shm_errors": shm_errors,
            }
        ],
        "unpicklable": unpicklable,
        "start_methods": start_methods,
        "main_guard": None,
        "worker_starts": [],
        "unguarded_code": None,
        "cache": None,
        "notes": notes,
    }


def _start_methods(context: Any) -> list[dict[str, Any]]:
    """The start method chosen for this loader, or set process-wide, if any."""
    import torch.multiprocessing as torch_mp

    if context is not None:
        method = context if isinstance(context, str) else context.get_start_method()
        return [
            {
                "method": method,
                "line": None,
                "text": repr(context),
                "call": "multiprocessing_context",
                "guarded": True,
            }
        ]
    chosen = torch_mp.get_start_method(allow_none=True)
    if chosen:
        return [
            {
                "method": chosen,
                "line": None,
                "text": chosen,
                "call": "set_start_method",
                "guarded": True,
            }
        ]
    return []


def preflight(
    dataloader_or_dataset: Any,
    *,
    multiprocessing_context: Any = None,
    timeout: float = 10.0,
    print_report: bool = False,
) -> list[Finding]:
    """Check a DataLoader (or a dataset) against this machine before training with it.

    Returns the GD6xx findings worth attention (info and above), worst first; prints them
    only with ``print_report=True``. ``multiprocessing_context`` ("spawn", "forkserver",
    "fork" or a context) overrides what the loader would use, e.g. to ask "would this work
    on Windows?" from Linux. ``timeout`` bounds each pickling attempt in seconds.
    """
    from gpudoctor.facts.model import Facts
    from gpudoctor.facts.model import thaw
    from gpudoctor.probes.base import ProbeContext
    from gpudoctor.probes.gather import collect
    from gpudoctor.probes.training import default_start_method
    from gpudoctor.probes.training import machine_facts
    from gpudoctor.registry import load_registry
    from gpudoctor.runner import run_checks

    source = describe_loader(
        dataloader_or_dataset, multiprocessing_context=multiprocessing_context, timeout=timeout
    )
    machine = collect({}, deep=False, budget=5.0)
    method, why = default_start_method(sys.platform, sys.version_info[:2])
    sections = {name: thaw(machine[name]) for name in machine}
    sections["training"] = {
        "sources": [source],
        "start_method": {
            "default": method,
            "why": why,
            "python": "{}.{}.{}".format(*sys.version_info[:3]),
            "platform": sys.platform,
        },
        "machine": machine_facts(ProbeContext()),
        "data": None,
    }
    facts = Facts(sections)
    specs = load_registry(plugins=False).select(["GD6"])
    findings = [
        f
        for f in run_checks(facts, specs, probe_errors=False)
        if f.severity.rank >= Severity.INFO.rank
    ]
    if print_report:
        for finding in findings:
            print(f"[{finding.severity.value}] {finding.check_id} {finding.title}")
            for item in finding.evidence:
                print(f"    {item.label}: {item.value}")
    return findings
