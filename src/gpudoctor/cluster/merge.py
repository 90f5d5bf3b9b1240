"""Merge per-node snapshots into one cluster report (pure: files and facts in, findings out).

Each node's own findings come from the ordinary checks run on its facts, folded across nodes
into one finding per (check, severity, title) labelled with the nodes it was seen on
("on node-3, node-7: ..."). The cluster checks (GD0xx) compare the nodes.

Node labels: a snapshot file's name without ``.json`` (``reports/%N.json`` gives the host
name); under ``gpudoctor cluster`` the rank's own label. Snapshots redact host names, so
the label cannot come from inside the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from gpudoctor.checks.cluster import NodeFacts
from gpudoctor.checks.cluster import run_cluster_checks
from gpudoctor.errors import BadInputError
from gpudoctor.facts.model import Facts
from gpudoctor.facts.snapshot import facts_from_document
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.model import Finding
from gpudoctor.model import Severity
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks

_REAL_UUID = re.compile(r"(GPU|MIG)-[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


@dataclass
class ClusterReport:
    """The merged report: the nodes (in input order) and every finding about them."""

    nodes: list[NodeFacts]
    findings: list[Finding] = field(default_factory=list)
    command: str = ""
    #: Per node label: where its facts came from (a file, or ``rank 3``).
    sources: dict[str, str] = field(default_factory=dict)
    #: Per node label: the worst severity among that node's own findings.
    node_worst: dict[str, Severity] = field(default_factory=dict)

    @property
    def summary(self) -> Report:
        """A plain report over the findings, for counts, verdict and exit code."""
        return Report(facts=Facts({}), findings=self.findings, command=self.command)


def label_for(path: str) -> str:
    name = Path(path).name
    return name[: -len(".json")] if name.lower().endswith(".json") else name


def load_nodes(paths: Sequence[str]) -> list[NodeFacts]:
    """Read snapshot files; every way the set can be wrong is one BadInputError line."""
    if not paths:
        raise BadInputError("no snapshot files given")
    nodes: list[NodeFacts] = []
    seen: dict[str, str] = {}
    for path in paths:
        facts = load_replay(path)
        label = label_for(path)
        if label in seen:
            raise BadInputError(
                f"two files for node {label!r}: {seen[label]} and {path} (one file per node)"
            )
        seen[label] = path
        nodes.append(NodeFacts(label=label, facts=facts))
    check_consistent(nodes, seen)
    return nodes


def node_from_document(doc: Any, label: str, origin: str, **extra: Any) -> NodeFacts:
    """A node from an in-memory snapshot document (``gpudoctor cluster`` gathers these)."""
    return NodeFacts(label=label, facts=facts_from_document(doc, origin), **extra)


def check_consistent(nodes: Sequence[NodeFacts], sources: dict[str, str]) -> None:
    """Refuse mixed schema versions and two files that are the same machine."""
    versions = {n.facts.schema_version for n in nodes}
    if len(versions) > 1:
        listed = ", ".join(
            f"{sources.get(n.label, n.label)}: {n.facts.schema_version}" for n in nodes
        )
        raise BadInputError(
            f"snapshots have different facts schema versions ({listed}); record every node "
            "with the same gpudoctor version"
        )
    owner: dict[str, str] = {}
    for node in nodes:
        for uuid in _gpu_uuids(node.facts):
            if uuid in owner and owner[uuid] != node.label:
                raise BadInputError(
                    f"two files for one node: {sources.get(owner[uuid], owner[uuid])} and "
                    f"{sources.get(node.label, node.label)} share GPU {uuid}"
                )
            owner[uuid] = node.label


def _gpu_uuids(facts: Facts) -> list[str]:
    """Real GPU UUIDs (redacted ones are per-file placeholders and prove nothing)."""
    devices = facts.get("gpu.devices")
    if not isinstance(devices, tuple):
        return []
    uuids = [str(d.get("uuid") or "") for d in devices if hasattr(d, "get")]
    return [u for u in uuids if _REAL_UUID.fullmatch(u)]


def build_cluster_report(
    nodes: Sequence[NodeFacts],
    *,
    command: str = "",
    sources: dict[str, str] | None = None,
    plugins: bool = True,
) -> ClusterReport:
    """Run every check on every node, fold the findings, add the cluster checks."""
    from gpudoctor.registry import load_registry

    registry = load_registry(plugins=plugins)
    specs = [s for s in registry if not s.deep]
    per_node = [
        (node.label, run_checks(node.facts, specs, load_errors=registry.load_errors))
        for node in nodes
    ]
    node_worst = {
        label: max((f.severity for f in found), key=lambda s: s.rank, default=Severity.PASS)
        for label, found in per_node
    }
    findings = run_cluster_checks(nodes) + fold(per_node, total=len(nodes))
    findings.sort(key=lambda f: (-f.severity.rank, f.check_id, f.subject))
    return ClusterReport(
        nodes=list(nodes),
        findings=findings,
        command=command,
        sources=dict(sources or {}),
        node_worst=node_worst,
    )


def fold(per_node: Iterable[tuple[str, list[Finding]]], *, total: int) -> list[Finding]:
    """One finding per (check, severity, subject, title), labelled with its nodes."""
    groups: dict[tuple[str, str, str, str], tuple[Finding, list[str]]] = {}
    for label, findings in per_node:
        for finding in findings:
            key = (finding.check_id, finding.severity.value, finding.subject, finding.title)
            if key not in groups:
                groups[key] = (finding, [])
            groups[key][1].append(label)
    folded = []
    for finding, labels in groups.values():
        where = f"all {total} nodes" if len(labels) == total and total > 1 else ", ".join(labels)
        subject = ", ".join(labels) + (f" {finding.subject}" if finding.subject else "")
        folded.append(finding._replace(title=f"on {where}: {finding.title}", subject=subject))
    return folded


def node_row(node: NodeFacts) -> dict[str, str]:
    """The node table's columns for one node."""
    facts = node.facts
    devices = facts.get("gpu.devices")
    if isinstance(devices, tuple):
        names = sorted({str(d.get("name")) for d in devices if hasattr(d, "get")})
        gpus = f"{len(devices)} x {' + '.join(names)}" if devices else "none"
    else:
        gpus = "unknown"
    bundled = facts.get("torch.bundled_libraries")
    nccl = next(
        (
            str(v)
            for k, v in (bundled.items() if hasattr(bundled, "items") else ())
            if str(k).startswith("nvidia-nccl")
        ),
        "-",
    )
    return {
        "node": node.label,
        "gpus": gpus,
        "driver": _text(facts.get("gpu.driver_version")),
        "cuda": _text(facts.get("gpu.cuda_driver_version")),
        "torch": _text(facts.get("torch.version")),
        "nccl": nccl,
    }


def _text(value: Any) -> str:
    return str(value) if isinstance(value, (str, int, float)) and value != "" else "-"


def merge_files(paths: Sequence[str], *, command: str = "", plugins: bool = True) -> ClusterReport:
    """``gpudoctor merge``: load, validate, check and fold."""
    nodes = load_nodes(paths)
    sources = {label_for(p): p for p in paths}
    return build_cluster_report(nodes, command=command, sources=sources, plugins=plugins)


def document_json(doc: Any) -> str:
    return json.dumps(doc, indent=2) + "\n"
