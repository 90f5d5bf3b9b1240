"""The parts of ``gpudoctor cluster`` that need no torch: the NCCL environment probe, the
launcher variables, and how rank payloads become nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO
from gpudoctor.checks.cluster import run_cluster_checks
from gpudoctor.cluster.dist import nodes_from_payloads
from gpudoctor.cluster.dist import rank_env
from gpudoctor.errors import BadInputError
from gpudoctor.model import Severity
from gpudoctor.probes.comms_env import collect_comms_env
from gpudoctor.testing.fake_nvml import FakeNvml

CORPUS = REPO / "tests" / "corpus" / "cluster"


def sysfs(root: Path, *, iommu: int = 0, ib: tuple[str, ...] = (), vm: bool = False) -> Path:
    for name in ("eth0", "lo"):
        (root / "sys/class/net" / name).mkdir(parents=True)
    (root / "sys/class/infiniband").mkdir(parents=True)
    for name in ib:
        (root / "sys/class/infiniband" / name).mkdir()
    for group in range(iommu):
        (root / "sys/kernel/iommu_groups" / str(group)).mkdir(parents=True)
    (root / "proc").mkdir()
    flags = "fpu vme sse sse2" + (" hypervisor" if vm else "")
    (root / "proc/cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    return root


def gpus(count: int, status: int = 0) -> FakeNvml:
    return FakeNvml({"devices": [{"name": "NVIDIA H100", "p2p_status": status}] * count})


def test_comms_env_reads_sysfs_environment_and_p2p(tmp_path: Path) -> None:
    env = {"NCCL_SOCKET_IFNAME": "eth0", "NCCL_DEBUG": "INFO", "HOME": "/home/x"}
    found = collect_comms_env(env, str(sysfs(tmp_path, iommu=3, ib=("mlx5_0",))), gpus(4))
    assert found["nccl_vars"] == {"NCCL_DEBUG": "INFO", "NCCL_SOCKET_IFNAME": "eth0"}
    assert found["interfaces"] == ["eth0", "lo"]
    assert found["ib_devices"] == ["mlx5_0"]
    assert found["iommu_groups"] == 3
    assert found["virtualized"] is False
    assert found["p2p"] == {"gpus": 4, "pairs_asked": 6, "supported_pairs": 6}


def test_comms_env_without_nvml_says_why(tmp_path: Path) -> None:
    found = collect_comms_env({}, str(sysfs(tmp_path)), FakeNvml({"init_error": "LibraryNotFound"}))
    assert "nvmlInit" in found["p2p"]["unavailable"]


def _node_with(env: dict[str, object]) -> list[dict[str, object]]:
    doc = json.loads((CORPUS / "node-a.json").read_text(encoding="utf-8"))
    return [
        {
            "rank": r,
            "label": f"n{r}",
            "gatherer": True,
            "snapshot": doc,
            "comms_env": env,
            "wall_time": 1000.0,
        }
        for r in range(2)
    ]


@pytest.mark.parametrize(
    ("iommu", "vm", "p2p_disable", "fires"),
    [(3, False, "0", True), (0, False, "0", False), (3, True, "0", False), (3, False, "1", False)],
)
def test_iommu_with_p2p_on_bare_metal_is_a_hang_risk(
    tmp_path: Path, iommu: int, vm: bool, p2p_disable: str, fires: bool
) -> None:
    env = collect_comms_env(
        {"NCCL_P2P_DISABLE": p2p_disable}, str(sysfs(tmp_path, iommu=iommu, vm=vm)), gpus(2)
    )
    nodes = nodes_from_payloads(_node_with(env), missing=[], comms=None)
    titles = [f.title for f in run_cluster_checks(nodes) if f.check_id == "GD013"]
    assert any("IOMMU" in t for t in titles) is fires, titles


def test_payloads_become_nodes_with_views_offsets_and_run_results() -> None:
    doc = json.loads((CORPUS / "node-b.json").read_text(encoding="utf-8"))
    payloads = [
        {"rank": 1, "label": "node-0", "gatherer": False, "view": {"local_rank": 1}},
        {"rank": 0, "label": "node-0", "gatherer": True, "snapshot": doc, "wall_time": 100.0},
        {"rank": 2, "label": "node-1", "gatherer": True, "snapshot": doc, "wall_time": 103.5},
        {"rank": 3, "label": "node-1", "gatherer": True, "snapshot": doc, "wall_time": 100.2},
    ]
    comms = [{"backend": "gloo", "world_size": 4, "error": "RuntimeError: timed out"}]
    nodes = nodes_from_payloads(payloads, missing=[], comms=comms)
    assert [n.label for n in nodes] == ["node-0", "node-1", "node-1-rank3"]
    assert [n.clock_offset_s for n in nodes] == [0.0, 3.5, pytest.approx(0.2)]
    assert nodes[0].extra["ranks"] == [{"rank": 1, "local_rank": 1}]
    findings = {f.check_id: f.severity for f in run_cluster_checks(nodes)}
    assert findings["GD010"] is Severity.WARN
    assert findings["GD011"] is Severity.PASS
    assert findings["GD012"] is Severity.FAIL


def test_launcher_variables_are_required_and_numeric() -> None:
    with pytest.raises(BadInputError, match="RANK, WORLD_SIZE"):
        rank_env({"MASTER_ADDR": "head", "MASTER_PORT": "29500"})
    with pytest.raises(BadInputError, match="not a number"):
        rank_env({"RANK": "x", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"})
    env = rank_env(
        {
            "RANK": "3",
            "WORLD_SIZE": "4",
            "LOCAL_RANK": "1",
            "GROUP_RANK": "1",
            "MASTER_ADDR": "head",
            "MASTER_PORT": "29500",
            "TORCHELASTIC_USE_AGENT_STORE": "True",
        }
    )
    assert (env.rank, env.local_rank, env.node_rank, env.agent_store) == (3, 1, 1, True)


def test_nccl_variables_are_recorded_raw_and_withheld_at_output() -> None:
    from gpudoctor.privacy import redact_data
    from gpudoctor.probes.comms_env import nccl_variables

    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    variables = nccl_variables({"NCCL_SOCKET_IFNAME": "eth0", "NCCL_X_TOKEN": token, "PATH": "/"})
    assert variables == {"NCCL_SOCKET_IFNAME": "eth0", "NCCL_X_TOKEN": token}
    written = json.dumps(redact_data({"comms_env": {"nccl": variables}}))
    assert token not in written
    assert "eth0" in written
