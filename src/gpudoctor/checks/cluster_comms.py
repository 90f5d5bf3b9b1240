"""Cluster communication checks (GD011-GD013): ranks that never arrived, all-reduce figures,
and NCCL settings known to hang or slow a job.

Their inputs come only from ``gpudoctor cluster --comms`` under torchrun: rank 0's node
carries ``missing`` (ranks that never reached a phase) and ``comms`` (all-reduce results);
every node carries ``comms_env`` (NCCL variables, network interfaces, InfiniBand devices,
IOMMU state, GPU peer-to-peer status).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from gpudoctor.api import Verdict
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.checks.cluster import NodeFacts
from gpudoctor.checks.cluster import cluster_check


def _run_level(nodes: Sequence[NodeFacts], key: str) -> Any:
    for node in nodes:
        if key in node.extra:
            return node.extra[key]
    return None


@cluster_check(
    "GD011",
    "ranks-missing",
    summary="Every rank arrived at each step of the cluster run within the timeout",
)
def ranks_missing(nodes: Sequence[NodeFacts]) -> Verdict | None:
    """A rank that never arrives is the rank that hangs the job; naming it is the first step."""
    missing = _run_level(nodes, "missing")
    if missing is None:
        return skip("not measured: only 'gpudoctor cluster' under torchrun sees the ranks")
    if not missing:
        return passed("every rank arrived")
    ev = [
        evidence(
            str(m.get("phase")),
            f"{_who(m)} never arrived within {m.get('timeout_s')} s",
            "rendezvous store",
        )
        for m in missing
        if isinstance(m, Mapping)
    ]
    who = "; ".join(_who(m) for m in missing if isinstance(m, Mapping))
    return fail(
        f"{who} never arrived: the job would hang there",
        subject=who,
        evidence=ev,
        remedies=[
            remedy(
                "Look at that rank's node: is the process stuck (py-spy dump --pid), did it "
                "crash, can it reach MASTER_ADDR:MASTER_PORT? Run 'gpudoctor check' there."
            )
        ],
    )


def _who(entry: Mapping[str, Any]) -> str:
    """``rank 3 (node-d)`` for each rank of a missing-ranks entry."""
    ranks = list(entry.get("ranks") or ())
    nodes = list(entry.get("nodes") or ())
    return ", ".join(
        f"rank {r}" + (f" ({nodes[i]})" if i < len(nodes) and nodes[i] != "unknown" else "")
        for i, r in enumerate(ranks)
    )


@cluster_check(
    "GD012",
    "allreduce-bandwidth",
    summary="A short all-reduce completes on each available backend; bandwidth and latency",
)
def allreduce_bandwidth(nodes: Sequence[NodeFacts]) -> Verdict | list[Verdict] | None:
    """Measured all-reduce speed per backend, and a failure when one could not complete."""
    results = _run_level(nodes, "comms")
    if results is None:
        return skip("not measured: run 'gpudoctor cluster --comms' under torchrun")
    verdicts: list[Verdict] = []
    for result in results:
        if not isinstance(result, Mapping):
            continue
        backend = str(result.get("backend"))
        if result.get("skipped"):
            verdicts.append(
                skip(f"{backend} all-reduce not run: {result['skipped']}", subject=backend)
            )
            continue
        if result.get("error"):
            verdicts.append(
                fail(
                    f"{backend} all-reduce did not complete: {result.get('error')}",
                    subject=backend,
                    evidence=[
                        evidence("world size", result.get("world_size"), "torch.distributed")
                    ],
                    remedies=[
                        remedy(
                            "Re-run with NCCL_DEBUG=INFO (for nccl) and read which rank and "
                            "interface it stops at; see gpudoctor explain GD013.",
                        )
                    ],
                )
            )
            continue
        verdicts.append(
            info(
                f"{backend} all-reduce across {result.get('world_size')} ranks: bus bandwidth "
                f"{float(result.get('busbw_gbps') or 0):.2f} GB/s at "
                f"{_mib(result.get('bytes'))}, "
                f"latency {float(result.get('latency_us') or 0):.0f} us",
                subject=backend,
                evidence=[
                    evidence("message size", _mib(result.get("bytes")), "all_reduce, float32"),
                    evidence(
                        "algorithm bandwidth",
                        f"{float(result.get('algbw_gbps') or 0):.3f} GB/s",
                        "timed",
                    ),
                    evidence(
                        "bus bandwidth",
                        f"{float(result.get('busbw_gbps') or 0):.3f} GB/s",
                        "algbw x 2(n-1)/n",
                    ),
                    evidence(
                        "latency (4 bytes)",
                        f"{float(result.get('latency_us') or 0):.1f} us",
                        "timed",
                    ),
                    evidence("iterations", result.get("iterations"), "timed"),
                ],
            )
        )
    return verdicts or skip("no backend was measured")


def _mib(value: Any) -> str:
    return f"{float(value or 0) / 2**20:.0f} MiB"


def _hazards(node: NodeFacts) -> list[tuple[str, str]]:
    env = node.extra.get("comms_env")
    if not isinstance(env, Mapping):
        return []
    found: list[tuple[str, str]] = []
    nccl = env.get("nccl_vars") or {}
    interfaces = [str(i) for i in env.get("interfaces") or ()]
    ifname = nccl.get("NCCL_SOCKET_IFNAME")
    if ifname and interfaces:
        wanted = [p.strip() for p in str(ifname).lstrip("^=").split(",") if p.strip()]
        exclude = str(ifname).startswith("^")
        exact = str(ifname).lstrip("^").startswith("=")

        def matches(prefix: str) -> bool:
            return any(i == prefix if exact else i.startswith(prefix) for i in interfaces)

        if not exclude and not any(matches(p) for p in wanted):
            found.append(
                (
                    "NCCL_SOCKET_IFNAME",
                    f"{ifname} matches no interface here ({', '.join(interfaces)}): NCCL "
                    "cannot open its sockets and the job hangs or fails at init",
                )
            )
    ib = [str(d) for d in env.get("ib_devices") or ()]
    if ib and str(nccl.get("NCCL_IB_DISABLE", "0")) == "1":
        found.append(
            (
                "NCCL_IB_DISABLE",
                f"is 1 although InfiniBand devices exist ({', '.join(ib)}): "
                "NCCL falls back to TCP sockets, many times slower",
            )
        )
    p2p = env.get("p2p")
    if (
        env.get("iommu_groups")
        and isinstance(p2p, Mapping)
        and p2p.get("supported_pairs")
        and str(nccl.get("NCCL_P2P_DISABLE", "0")) != "1"
        and not env.get("virtualized")
    ):
        found.append(
            (
                "IOMMU",
                f"is on ({env.get('iommu_groups')} IOMMU groups) with GPU peer-to-peer "
                "enabled: on bare metal, IOMMU/ACS redirect P2P traffic and NCCL hangs or "
                "crawls in intra-node transfers",
            )
        )
    return found


@cluster_check(
    "GD013",
    "nccl-environment",
    summary="No NCCL setting or node setup known to hang or slow NCCL",
)
def nccl_environment(nodes: Sequence[NodeFacts]) -> Verdict | list[Verdict] | None:
    """NCCL hangs are often one wrong variable or a BIOS setting on one node."""
    envs = {n.label: n.extra.get("comms_env") for n in nodes}
    if not any(isinstance(e, Mapping) for e in envs.values()):
        return skip("not collected: run 'gpudoctor cluster --comms' under torchrun")
    verdicts: list[Verdict] = []
    for node in nodes:
        for what, text in _hazards(node):
            verdicts.append(
                warn(
                    f"{what} on {node.label} {text}",
                    subject=node.label,
                    evidence=[evidence(what, text.split(":")[0], "environment, sysfs")],
                    remedies=[
                        remedy(
                            "Set NCCL_SOCKET_IFNAME to an interface every node has, keep "
                            "InfiniBand on when it exists, and disable ACS (BIOS) or set "
                            "NCCL_P2P_DISABLE=1 on bare-metal nodes with an IOMMU.",
                            "ip -br link",
                        )
                    ],
                )
            )
    ib_nodes = {
        label for label, e in envs.items() if isinstance(e, Mapping) and e.get("ib_devices")
    }
    if ib_nodes and len(ib_nodes) < len(envs):
        without = sorted(set(envs) - ib_nodes)
        verdicts.append(
            warn(
                f"InfiniBand on {', '.join(sorted(ib_nodes))} but not on {', '.join(without)}: "
                "NCCL uses the slowest transport for all",
                subject=", ".join(without),
                remedies=[
                    remedy("Check the HCA driver (ibstat) on the nodes without it.", "ibstat")
                ],
            )
        )
    return verdicts or passed("no known NCCL hazard in the environment of any node")
