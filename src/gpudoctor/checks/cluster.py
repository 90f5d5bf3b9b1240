"""Checks across the nodes of a cluster (GD0xx): differences that break or slow a distributed run.

These cannot be ordinary ``@check`` functions, which see one machine. Each one here is a
pure function of every node's facts (:class:`NodeFacts`) and returns verdicts like any check;
:func:`run_cluster_checks` stamps them into :class:`~gpudoctor.model.Finding` objects so the
usual renderers print them. A verdict's ``subject`` names the nodes it is about.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Callable

from gpudoctor.api import Facts
from gpudoctor.api import Finding
from gpudoctor.api import GiB
from gpudoctor.api import Severity
from gpudoctor.api import Verdict
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import fmt_bytes
from gpudoctor.api import info
from gpudoctor.api import is_available
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.checks.gpu import SLOWDOWN_REASONS
from gpudoctor.checks.staleness import stale_holders
from gpudoctor.declare import CheckSpec


@dataclass(frozen=True)
class NodeFacts:
    """One node as the cluster checks see it: a label that names it in findings, its facts.

    ``clock_offset_s`` is this node's wall clock minus rank 0's, read right after a barrier
    (only ``gpudoctor cluster`` can measure it; ``None`` otherwise). ``extra`` holds what
    only the cluster command collects: ``comms_env`` (NCCL environment) and ``comms``
    (all-reduce results), ``missing_ranks`` on rank 0's node.
    """

    label: str
    facts: Facts
    clock_offset_s: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


ClusterFunc = Callable[[Sequence[NodeFacts]], "Verdict | list[Verdict] | None"]


@dataclass(frozen=True)
class ClusterCheck:
    spec: CheckSpec
    func: ClusterFunc


#: Every cluster check, in id order; ``registry`` lists their specs for list/explain.
CLUSTER_CHECKS: list[ClusterCheck] = []


def cluster_check(id: str, name: str, *, summary: str) -> Callable[[ClusterFunc], ClusterFunc]:
    """Declare a cluster check (a function of all nodes' facts)."""

    def decorate(func: ClusterFunc) -> ClusterFunc:
        spec = CheckSpec(
            id=id,
            name=name,
            summary=summary,
            func=None,
            tags=("cluster",),
            reference=f"checks/{id}.md",
            doc=(func.__doc__ or "").strip(),
        )
        CLUSTER_CHECKS.append(ClusterCheck(spec, func))
        return func

    return decorate


def cluster_specs() -> list[CheckSpec]:
    """The specs of every cluster check, for ``gpudoctor list`` and ``explain``."""
    import gpudoctor.checks.cluster_comms  # noqa: F401 - registers the communication checks

    return sorted((c.spec for c in CLUSTER_CHECKS), key=lambda s: s.id)


def run_cluster_checks(nodes: Sequence[NodeFacts]) -> list[Finding]:
    """Every cluster check on ``nodes``; a check that raises becomes an error finding."""
    import gpudoctor.checks.cluster_comms  # noqa: F401 - registers the communication checks

    findings: list[Finding] = []
    for item in sorted(CLUSTER_CHECKS, key=lambda c: c.spec.id):
        spec = item.spec
        try:
            result = item.func(nodes)
        except Exception as exc:  # noqa: BLE001 - one broken check must not stop the rest
            result = Verdict(Severity.ERROR, f"cluster check crashed: {type(exc).__name__}: {exc}")
        verdicts = [result] if isinstance(result, Verdict) else list(result or ())
        if not verdicts:
            verdicts = [passed(spec.summary)]
        findings.extend(spec.finding(v) for v in verdicts)
    return findings


# -- helpers ----------------------------------------------------------------------------


def _value(node: NodeFacts, path: str) -> Any:
    value = node.facts.get(path)
    return value if is_available(value) else None


def _groups(nodes: Sequence[NodeFacts], read: Callable[[NodeFacts], Any]) -> dict[str, list[str]]:
    """Node labels by the value ``read`` returns; nodes where it is None are left out."""
    groups: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        value = read(node)
        if value is not None:
            groups[str(value)].append(node.label)
    return dict(groups)


def _labels(labels: Iterable[str]) -> str:
    return ", ".join(labels)


def _odd_ones(groups: Mapping[str, list[str]]) -> list[str]:
    """Labels outside the largest group (the majority sets what is normal)."""
    majority = max(groups.values(), key=len)
    return [label for members in groups.values() if members is not majority for label in members]


def _skew(
    nodes: Sequence[NodeFacts],
    read: Callable[[NodeFacts], Any],
    what: str,
    source: str,
    severity: Severity,
    remedies: Sequence[Any],
) -> Verdict | None:
    groups = _groups(nodes, read)
    if len(nodes) < 2:
        return skip(f"one node only: nothing to compare {what} with")
    if not groups:
        return skip(f"no node reported its {what}")
    unknown = [n.label for n in nodes if read(n) is None]
    if len(groups) == 1:
        value = next(iter(groups))
        if unknown:
            return info(
                f"{what} is {value} where known; unknown on {_labels(unknown)}",
                subject=_labels(unknown),
            )
        return passed(f"every node has {what} {value}")
    odd = _odd_ones(groups)
    return Verdict(
        severity,
        f"{what} differs between nodes: "
        + "; ".join(f"{value} on {_labels(labels)}" for value, labels in groups.items()),
        subject=_labels(odd),
        evidence=tuple(
            evidence(what, value, f"{source} on {_labels(labels)}")
            for value, labels in groups.items()
        ),
        remedies=tuple(remedies),
    )


def _torch_value(node: NodeFacts, key: str) -> Any:
    return _value(node, f"torch.{key}")


def _nccl_version(node: NodeFacts) -> str | None:
    bundled = _value(node, "torch.bundled_libraries")
    if isinstance(bundled, Mapping):
        for name, version in bundled.items():
            if str(name).startswith("nvidia-nccl"):
                return str(version)
    comms = node.extra.get("comms_env")
    if isinstance(comms, Mapping) and comms.get("nccl_version"):
        return str(comms["nccl_version"])
    return None


def _devices(node: NodeFacts) -> list[Mapping[str, Any]]:
    devices = _value(node, "gpu.devices")
    return [d for d in devices or () if isinstance(d, Mapping)]


_SAME_IMAGE = remedy(
    "Run every node from the same image or environment; a distributed job needs the same "
    "driver, CUDA, torch and NCCL on every rank. Re-run 'gpudoctor cluster' after the update."
)


# -- the checks -------------------------------------------------------------------------


@cluster_check(
    "GD001",
    "driver-versions-differ",
    summary="Every node runs the same NVIDIA driver version",
)
def driver_versions_differ(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """Mixed drivers give ranks different CUDA behaviour and are a classic source of NCCL hangs."""
    return _skew(
        nodes,
        lambda n: _value(n, "gpu.driver_version"),
        "NVIDIA driver",
        "NVML",
        Severity.WARN,
        (
            remedy(
                "Install the same driver on every node (drain the odd ones and update them).",
                "nvidia-smi --query-gpu=driver_version --format=csv,noheader",
            ),
            _SAME_IMAGE,
        ),
    )


@cluster_check(
    "GD002",
    "cuda-versions-differ",
    summary="Every node has the same CUDA driver API version and torch CUDA build",
)
def cuda_versions_differ(nodes: Sequence[NodeFacts]) -> list[Verdict]:
    """Different CUDA builds of torch on different ranks compute and communicate differently."""
    results = [
        _skew(
            nodes,
            lambda n: _value(n, "gpu.cuda_driver_version"),
            "CUDA driver API version",
            "NVML",
            Severity.WARN,
            (_SAME_IMAGE,),
        ),
        _skew(
            nodes,
            lambda n: _torch_value(n, "cuda"),
            "torch CUDA build",
            "torch.version.cuda",
            Severity.FAIL,
            (_SAME_IMAGE,),
        ),
    ]
    return [v for v in results if v is not None and v.severity is not Severity.PASS] or [
        passed("every node has the same CUDA driver and torch CUDA build")
    ]


@cluster_check(
    "GD003",
    "torch-versions-differ",
    summary="Every node runs the same torch version",
)
def torch_versions_differ(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """Ranks on different torch versions disagree on collectives and pickled objects."""
    return _skew(
        nodes,
        lambda n: _torch_value(n, "version"),
        "torch",
        "torch metadata",
        Severity.FAIL,
        (_SAME_IMAGE,),
    )


@cluster_check(
    "GD004",
    "nccl-versions-differ",
    summary="Every node uses the same NCCL version",
)
def nccl_versions_differ(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """Different NCCL versions on different ranks can hang or fail the first collective."""
    return _skew(
        nodes,
        _nccl_version,
        "NCCL",
        "nvidia-nccl wheel bundled with torch",
        Severity.FAIL,
        (_SAME_IMAGE,),
    )


@cluster_check(
    "GD005",
    "gpu-inventory-differs",
    summary="Every node has the same number and model of GPUs",
)
def gpu_inventory_differs(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """A node with fewer or slower GPUs makes a rank fail to start or paces the whole job."""

    def inventory(node: NodeFacts) -> str | None:
        devices = _devices(node)
        if _value(node, "gpu.devices") is None:
            return None
        models = sorted({str(d.get("name")) for d in devices})
        return f"{len(devices)} x {' + '.join(models) or 'no GPU'}"

    return _skew(
        nodes,
        inventory,
        "GPUs",
        "NVML",
        Severity.WARN,
        (
            remedy(
                "Schedule the job on identical nodes (a Slurm constraint or a Kubernetes node "
                "selector), or set --nproc-per-node to the GPUs every node has."
            ),
        ),
    )


def _hot_reasons(node: NodeFacts) -> list[str]:
    found = []
    for device in _devices(node):
        reasons = device.get("clock_event_reasons")
        active = reasons.get("active") if isinstance(reasons, Mapping) else None
        slowed = [r for r in active or () if r in SLOWDOWN_REASONS]
        if slowed:
            found.append(f"GPU{device.get('index')}: {', '.join(slowed)}")
    return found


def _max_temperature(node: NodeFacts) -> float | None:
    temps = []
    for device in _devices(node):
        temp = device.get("temperature")
        current = temp.get("current_c") if isinstance(temp, Mapping) else None
        if isinstance(current, (int, float)):
            temps.append(float(current))
    return max(temps) if temps else None


#: A node this much hotter than the median node is the one to look at.
HOTTER_BY_C = 15.0


@cluster_check(
    "GD006",
    "straggler-node",
    summary="No node is throttled or much hotter than the others",
)
def straggler_node(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """A synchronous job runs at the pace of its slowest rank: one throttled node slows all."""
    import statistics  # clusters only: not on check's path

    if not any(_devices(n) for n in nodes):
        return skip("no node reported GPUs")
    slow = {n.label: _hot_reasons(n) for n in nodes}
    slow = {label: reasons for label, reasons in slow.items() if reasons}
    temps = {n.label: t for n in nodes if (t := _max_temperature(n)) is not None}
    median = statistics.median(temps.values()) if temps else None
    hotter = {
        label: t
        for label, t in temps.items()
        if median is not None and len(temps) >= 3 and t >= median + HOTTER_BY_C
    }
    labels = sorted(set(slow) | set(hotter))
    if not labels:
        return passed("no node is throttled or much hotter than the others")
    if len(labels) == len(nodes) and len(nodes) > 1:
        title = "every node is being slowed down"
    else:
        verb = "is" if len(labels) == 1 else "are"
        title = f"{_labels(labels)} {verb} slowed down, pacing the whole job"
    ev = [
        evidence(f"{label} slowdown", "; ".join(r), "clock-event reasons, NVML")
        for label, r in slow.items()
    ]
    ev += [
        evidence(f"{label} hottest GPU", f"{t:.0f} °C (median node {median:.0f} °C)", "NVML")
        for label, t in hotter.items()
    ]
    return warn(
        title,
        subject=_labels(labels),
        evidence=ev,
        remedies=[
            remedy(
                "Fix the cooling or power of that node, or leave it out of the job (Slurm: "
                "--exclude; Kubernetes: cordon it) until it is fixed.",
                "nvidia-smi -q -d PERFORMANCE,TEMPERATURE",
            )
        ],
    )


def _error_signs(node: NodeFacts) -> list[str]:
    signs = []
    for device in _devices(node):
        ecc = device.get("ecc")
        if isinstance(ecc, Mapping) and (ecc.get("volatile_uncorrected") or 0) > 0:
            signs.append(
                f"GPU{device.get('index')}: "
                f"{ecc.get('volatile_uncorrected')} uncorrectable ECC errors"
            )
        rows = device.get("remapped_rows")
        if isinstance(rows, Mapping) and (rows.get("failure") or rows.get("pending")):
            signs.append(f"GPU{device.get('index')}: row remapping pending or failed")
    events = _value(node, "kernel_log.xid_events")
    codes = sorted(
        {
            e["code"]
            for e in events or ()
            if isinstance(e, Mapping) and isinstance(e.get("code"), int)
        }
    )
    if codes:
        signs.append("Xid " + ", ".join(str(c) for c in codes) + " in the kernel log")
    return signs


@cluster_check(
    "GD007",
    "node-gpu-errors",
    summary="No node reports ECC errors or Xid events",
)
def node_gpu_errors(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """A node with memory errors or Xid events crashes or hangs every rank of the job."""
    bad = {n.label: s for n in nodes if (s := _error_signs(n))}
    if not bad:
        return passed("no node reports ECC errors or Xid events")
    return fail(
        f"GPU errors on {_labels(bad)}: the job will crash or hang there",
        subject=_labels(bad),
        evidence=[
            evidence(label, "; ".join(signs), "NVML, kernel log") for label, signs in bad.items()
        ],
        remedies=[
            remedy(
                "Drain the node and have its GPUs checked (gpudoctor explain GD106 lists what "
                "each Xid means); restart the job without it.",
                "scontrol update nodename=<node> state=drain reason=gpu-errors",
            )
        ],
    )


def _stale_count(node: NodeFacts) -> int:
    section = _value(node, "gpu_processes")
    if not isinstance(section, Mapping) or not section.get("applicable", True):
        return 0
    rows = [
        r
        for r in section.get("processes") or ()
        if isinstance(r, Mapping)
        and not (r.get("is_caller") or r.get("is_caller_ancestor") or r.get("in_caller_group"))
    ]
    settings = section.get("settings") or {}
    idle = float(settings.get("idle_minutes") or 30.0)
    return len(stale_holders({"processes": rows, "settings": settings}, idle_minutes=idle))


def _min_free(node: NodeFacts) -> int | None:
    free = [
        int(d["memory_total_bytes"]) - int(d["memory_used_bytes"])
        for d in _devices(node)
        if isinstance(d.get("memory_total_bytes"), int)
        and isinstance(d.get("memory_used_bytes"), int)
    ]
    return min(free) if free else None


@cluster_check(
    "GD008",
    "gpu-memory-uneven",
    summary="No node has stale GPU holders or much less free GPU memory than the others",
)
def gpu_memory_uneven(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """One node short of GPU memory runs out first and takes the whole job down with it."""
    stale = {n.label: c for n in nodes if (c := _stale_count(n))}
    free = {n.label: f for n in nodes if (f := _min_free(n)) is not None}
    best = max(free.values()) if free else 0
    short = {
        label: f
        for label, f in free.items()
        if len(free) > 1 and f < best / 2 and best - f > 2 * GiB
    }
    labels = sorted(set(stale) | set(short))
    if not labels:
        return passed("GPU memory is free alike on every node")
    ev = [
        evidence(f"{label} stale holders", count, "gpu_processes") for label, count in stale.items()
    ]
    ev += [
        evidence(
            f"{label} least free GPU memory",
            f"{fmt_bytes(f)} (best node {fmt_bytes(best)})",
            "NVML",
        )
        for label, f in short.items()
    ]
    return warn(
        f"GPU memory is taken on {_labels(labels)}: ranks there run out of memory first",
        subject=_labels(labels),
        evidence=ev,
        remedies=[
            remedy(
                "On each named node, stop what holds the GPU (it asks first).",
                "gpudoctor fix --kill-stale --dry-run",
            )
        ],
    )


def _limits(node: NodeFacts) -> dict[str, int]:
    values: dict[str, int] = {}
    shm = _value(node, "shm.total_bytes")
    if isinstance(shm, int):
        values["/dev/shm"] = shm
    nofile = _value(node, "limits.nofile.soft")
    if isinstance(nofile, int):
        values["open files"] = nofile
    ram = _value(node, "memory.cgroup.limit_bytes") or _value(node, "memory.total_bytes")
    if isinstance(ram, int):
        values["RAM"] = ram
    return values


@cluster_check(
    "GD009",
    "host-limits-differ",
    summary="/dev/shm, open-files and RAM limits are alike on every node",
)
def host_limits_differ(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """A DataLoader tuned on one node dies on the node with a smaller /dev/shm or fd limit."""
    per_node = {n.label: _limits(n) for n in nodes}
    problems = []
    odd: set[str] = set()
    for what in ("/dev/shm", "open files", "RAM"):
        values = {label: v[what] for label, v in per_node.items() if what in v}
        if len(values) < 2:
            continue
        top = max(values.values())
        # RAM differs a little between identical nodes (firmware reservations): allow 10 %.
        low = {label: v for label, v in values.items() if v < top * (0.9 if what == "RAM" else 1)}
        if not low:
            continue
        odd.update(low)
        shown = (lambda x: str(x)) if what == "open files" else fmt_bytes
        problems.append(
            evidence(
                what, "; ".join(f"{shown(v)} on {label}" for label, v in values.items()), "facts"
            )
        )
    if not problems:
        return passed("/dev/shm, open-files and RAM limits are alike on every node")
    return warn(
        f"limits differ between nodes: {', '.join(e.label for e in problems)} lower on "
        f"{_labels(sorted(odd))}",
        subject=_labels(sorted(odd)),
        evidence=problems,
        remedies=[
            remedy(
                "Give every node the same container options and limits (docker --shm-size, "
                "ulimit -n, the job's memory request); gpudoctor explain GD301 and GD303 say how."
            )
        ],
    )


#: Clocks further apart than this confuse logs, timeouts and certificate checks.
CLOCK_SKEW_S = 2.0


@cluster_check(
    "GD010",
    "clock-skew",
    summary="Node clocks agree (measured right after a barrier)",
)
def clock_skew(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """Skewed clocks misorder logs and trip timeouts; only a barrier-synchronised read shows it."""
    offsets = {n.label: n.clock_offset_s for n in nodes if n.clock_offset_s is not None}
    if len(offsets) < 2:
        return skip(
            "no synchronised timestamps: only 'gpudoctor cluster' under torchrun measures them"
        )
    spread = max(offsets.values()) - min(offsets.values())
    if spread <= CLOCK_SKEW_S:
        return passed(f"node clocks agree within {spread:.2f} s")
    off = sorted(label for label, o in offsets.items() if abs(o) > CLOCK_SKEW_S)
    return warn(
        f"node clocks are {spread:.1f} s apart",
        subject=_labels(off),
        evidence=[
            evidence(label, f"{o:+.2f} s from rank 0", "wall clock after a barrier")
            for label, o in offsets.items()
        ],
        remedies=[remedy("Run NTP (chrony) on every node.", "chronyc tracking")],
    )
