"""What NCCL will meet on this node: its variables, network interfaces, InfiniBand devices,
the IOMMU, and GPU peer-to-peer support. Collected by ``gpudoctor cluster --comms``.

Reads only /sys and the environment plus a few NVML calls (each time-bounded by the NVML
funnel); a value that cannot be read is left out with the reason under ``unavailable``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpudoctor.facts.model import Unavailable

#: Pairs of GPUs asked for peer-to-peer status at most (8 GPUs: 28 pairs).
MAX_P2P_PAIRS = 28


def _names(folder: Path) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir())
    except OSError:
        return []


def nccl_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """Every NCCL_* / TORCH_NCCL_* variable, as set; secrets are withheld at output."""
    return {k: v for k, v in sorted(environ.items()) if k.startswith(("NCCL_", "TORCH_NCCL_"))}


def _virtualized(root: Path) -> bool:
    try:
        cpuinfo = (root / "proc/cpuinfo").read_text(errors="replace")[:200_000]
    except OSError:
        return False
    return " hypervisor" in cpuinfo


def _p2p(nvml_module: Any = None) -> dict[str, Any]:
    from gpudoctor.probes.nvml import open_nvml

    session = open_nvml(nvml_module)
    if isinstance(session, Unavailable):
        return {"unavailable": session.reason}
    try:
        count = session.call("nvmlDeviceGetCount")
        if not isinstance(count, int) or count < 2:
            return {"gpus": count if isinstance(count, int) else 0, "supported_pairs": 0}
        handles = [session.call("nvmlDeviceGetHandleByIndex", i) for i in range(count)]
        index = getattr(session.module, "NVML_P2P_CAPS_INDEX_READ", 0)
        ok = 0
        asked = 0
        for a in range(count):
            for b in range(a + 1, count):
                if asked >= MAX_P2P_PAIRS or session.wedged:
                    break
                asked += 1
                status = session.call("nvmlDeviceGetP2PStatus", handles[a], handles[b], index)
                ok += int(status == 0)
        return {"gpus": count, "pairs_asked": asked, "supported_pairs": ok}
    finally:
        session.shutdown()


def collect_comms_env(
    environ: Mapping[str, str] | None = None, root: str = "/", nvml_module: Any = None
) -> dict[str, Any]:
    """The ``comms_env`` record of one node (plain JSON data)."""
    base = Path(root)
    env = os.environ if environ is None else environ
    return {
        "nccl_vars": nccl_variables(env),
        "interfaces": _names(base / "sys/class/net"),
        "ib_devices": _names(base / "sys/class/infiniband"),
        "iommu_groups": len(_names(base / "sys/kernel/iommu_groups")),
        "virtualized": _virtualized(base),
        "p2p": _p2p(nvml_module),
    }
