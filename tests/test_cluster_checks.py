"""Cluster checks (GD001-GD013) on nodes built from the recorded cluster corpus.

Each node is a recorded snapshot with one thing changed; every check must fire on the
change and stay quiet on identical nodes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from conftest import REPO
from gpudoctor.checks.cluster import NodeFacts
from gpudoctor.checks.cluster import run_cluster_checks
from gpudoctor.cluster.hostname import expand_node_pattern
from gpudoctor.cluster.merge import build_cluster_report
from gpudoctor.cluster.merge import check_consistent
from gpudoctor.errors import BadInputError
from gpudoctor.facts.model import Facts
from gpudoctor.model import Severity

CORPUS = REPO / "tests" / "corpus" / "cluster"


def sections(name: str = "node-a") -> dict[str, Any]:
    doc = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(doc["facts"])


def node(label: str, base: str = "node-a", **changes: Any) -> NodeFacts:
    """A corpus node with dotted paths changed (``gpu__driver_version="1.0"``)."""
    data = sections(base)
    extra = changes.pop("extra", {})
    offset = changes.pop("clock", None)
    for key, value in changes.items():
        parts = key.split("__")
        target = data
        for part in parts[:-1]:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        target[parts[-1]] = value
    return NodeFacts(label, Facts(data), clock_offset_s=offset, extra=extra)


def results(nodes: list[NodeFacts], check_id: str) -> list[tuple[Severity, str, str]]:
    return [
        (f.severity, f.subject, f.title)
        for f in run_cluster_checks(nodes)
        if f.check_id == check_id
    ]


def worst(nodes: list[NodeFacts], check_id: str) -> Severity:
    return max((s for s, _, _ in results(nodes, check_id)), key=lambda s: s.rank)


def healthy(n: int = 3) -> list[NodeFacts]:
    return [node(f"n{i}") for i in range(n)]


FIRING = {
    "GD001": ([node("n0"), node("n1"), node("n2", gpu__driver_version="550.54.15")], "n2"),
    "GD002": ([node("n0"), node("n1"), node("n2", torch__cuda="12.6")], "n2"),
    "GD003": ([node("n0"), node("n1"), node("n2", torch__version="2.7.1+cu128")], "n2"),
    "GD004": (
        [
            node("n0"),
            node("n1"),
            node("n2", torch__bundled_libraries={"nvidia-nccl-cu12": "2.21.5"}),
        ],
        "n2",
    ),
    "GD005": (
        [node("n0"), node("n1"), node("n2", gpu__devices=sections()["gpu"]["devices"][:4])],
        "n2",
    ),
    "GD006": ([node("n0"), node("n1"), node("n2", base="node-c")], "n2"),
    "GD007": (
        [node("n0"), node("n1"), node("n2", kernel_log__xid_events=[{"code": 79, "message": "x"}])],
        "n2",
    ),
    "GD008": ([node("n0"), node("n1"), node("n2", base="node-d")], "n2"),
    "GD009": ([node("n0"), node("n1"), node("n2", shm__total_bytes=64 * 2**20)], "n2"),
    "GD010": ([node("n0", clock=0.0), node("n1", clock=0.1), node("n2", clock=7.5)], "n2"),
    "GD011": (
        [
            node(
                "n0",
                extra={
                    "missing": [{"phase": "arrive", "ranks": [2], "nodes": ["n2"], "timeout_s": 5}]
                },
            ),
            node("n1"),
        ],
        "rank 2 (n2)",
    ),
    "GD013": (
        [
            node(
                "n0",
                extra={
                    "comms_env": {
                        "nccl_vars": {"NCCL_SOCKET_IFNAME": "ib0"},
                        "interfaces": ["eth0", "lo"],
                    }
                },
            ),
            node("n1", extra={"comms_env": {"nccl_vars": {}, "interfaces": ["eth0", "lo"]}}),
        ],
        "n0",
    ),
}


@pytest.mark.parametrize("check_id", sorted(FIRING))
def test_cluster_check_names_the_odd_node(check_id: str) -> None:
    nodes, expected_subject = FIRING[check_id]
    found = [r for r in results(nodes, check_id) if r[0].rank >= Severity.WARN.rank]
    assert found, results(nodes, check_id)
    assert any(subject == expected_subject for _, subject, _ in found), found


QUIET = {
    "GD001": healthy(),
    "GD002": healthy(),
    "GD003": healthy(),
    "GD004": healthy(),
    "GD005": healthy(),
    "GD006": healthy(),
    "GD007": healthy(),
    "GD008": healthy(),
    "GD009": healthy(),
    "GD010": [node("n0", clock=0.0), node("n1", clock=0.4), node("n2", clock=-0.3)],
    "GD011": [node("n0", extra={"missing": []}), node("n1")],
    "GD012": [
        node(
            "n0",
            extra={
                "comms": [
                    {
                        "backend": "gloo",
                        "world_size": 2,
                        "bytes": 2**20,
                        "iterations": 5,
                        "latency_us": 80.0,
                        "algbw_gbps": 1.2,
                        "busbw_gbps": 1.2,
                    }
                ]
            },
        ),
        node("n1"),
    ],
    "GD013": [
        node(
            f"n{i}",
            extra={
                "comms_env": {
                    "nccl_vars": {"NCCL_SOCKET_IFNAME": "eth"},
                    "interfaces": ["eth0", "lo"],
                    "ib_devices": [],
                }
            },
        )
        for i in range(2)
    ],
}


@pytest.mark.parametrize("check_id", sorted(QUIET))
def test_cluster_check_stays_quiet_on_alike_nodes(check_id: str) -> None:
    assert worst(QUIET[check_id], check_id).rank <= Severity.INFO.rank, results(
        QUIET[check_id], check_id
    )


def test_comms_figures_are_reported_and_a_failed_backend_fails() -> None:
    good = results(QUIET["GD012"], "GD012")
    assert good[0][0] is Severity.INFO
    assert "1.20 GB/s" in good[0][2]
    assert "80 us" in good[0][2]
    broken = [
        node(
            "n0",
            extra={
                "comms": [
                    {"backend": "nccl", "world_size": 2, "error": "DistBackendError: timed out"}
                ]
            },
        )
    ]
    assert worst(broken, "GD012") is Severity.FAIL


def test_checks_without_their_inputs_skip_instead_of_passing() -> None:
    nodes = healthy(2)
    for check_id in ("GD010", "GD011", "GD012", "GD013"):
        assert worst(nodes, check_id) is Severity.SKIP, check_id


def test_infiniband_disabled_where_it_exists_is_a_hazard() -> None:
    env = {"nccl_vars": {"NCCL_IB_DISABLE": "1"}, "interfaces": ["eth0"], "ib_devices": ["mlx5_0"]}
    nodes = [node("n0", extra={"comms_env": env}), node("n1", extra={"comms_env": env})]
    assert any("NCCL_IB_DISABLE" in title for _, _, title in results(nodes, "GD013"))


def test_single_node_findings_are_labelled_with_their_nodes() -> None:
    report = build_cluster_report(
        [node("n0", base="node-c"), node("n1"), node("n2", base="node-c")], plugins=False
    )
    gd102 = [f for f in report.findings if f.check_id == "GD102" and f.severity is Severity.WARN]
    assert len(gd102) == 1
    assert gd102[0].title.startswith("on n0, n2: GPU5 is being slowed down")
    assert report.node_worst == {"n0": Severity.WARN, "n1": Severity.SKIP, "n2": Severity.WARN}


def test_mixed_schema_versions_and_shared_gpus_are_refused() -> None:
    old = NodeFacts("a", Facts(sections(), schema_version=1))
    new = NodeFacts("b", Facts(sections(), schema_version=2))
    with pytest.raises(BadInputError, match="different facts schema versions"):
        check_consistent([old, new], {"a": "a.json", "b": "b.json"})
    data = sections()
    data["gpu"]["devices"][0]["uuid"] = "GPU-12345678-1234-1234-1234-123456789abc"
    with pytest.raises(BadInputError, match="two files for one node"):
        check_consistent([NodeFacts("a", Facts(data)), NodeFacts("b", Facts(data))], {})


def test_node_pattern_becomes_the_short_host_name() -> None:
    assert expand_node_pattern("r/%N.json", "gpu-07.cluster.local") == "r/gpu-07.json"
    assert expand_node_pattern("r/%h-100%%.json", "gpu-07") == "r/gpu-07-100%.json"
    assert expand_node_pattern("plain.json", "x") == "plain.json"
