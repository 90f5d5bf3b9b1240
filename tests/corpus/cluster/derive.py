"""Regenerate the cluster test snapshots from the recorded machines in fixtures/machines.

Each node is the healthy 8x H100 server with exactly one thing changed, so that a merged
report of the four must name that one thing per node and nothing else above info.
Run from the repository root: python tests/corpus/cluster/derive.py
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
MACHINES = ROOT / "fixtures" / "machines"


def load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((MACHINES / name).read_text(encoding="utf-8"))


def write(name: str, doc: dict, description: str) -> None:  # type: ignore[type-arg]
    doc = copy.deepcopy(doc)
    doc.pop("fixture", None)
    doc["node_note"] = description
    (HERE / name).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    base = load("multi-gpu-server-healthy.json")
    write("node-a.json", base, "the healthy 8x H100 server, unchanged")

    skew = copy.deepcopy(base)
    skew["facts"]["gpu"]["driver_version"] = "570.86.15"
    skew["facts"]["gpu"]["kernel_module"] = skew["facts"]["gpu"]["kernel_module"].replace(
        "570.124.06", "570.86.15"
    )
    write("node-b.json", skew, "driver 570.86.15 instead of 570.124.06")

    hot = copy.deepcopy(base)
    throttled = load("server-a100-throttling-xid79.json")["facts"]["gpu"]["devices"][1]
    device = hot["facts"]["gpu"]["devices"][5]
    device["temperature"]["current_c"] = throttled["temperature"]["current_c"]
    device["temperature"]["slowdown_c"] = throttled["temperature"]["slowdown_c"]
    device["temperature"]["gpu_max_c"] = throttled["temperature"]["gpu_max_c"]
    device["clock_event_reasons"] = copy.deepcopy(throttled["clock_event_reasons"])
    write("node-c.json", hot, "GPU5 in thermal slowdown as GPU1 of the A100 throttling server")

    stale = copy.deepcopy(base)
    holders = copy.deepcopy(load("linux-server-stale-gpu-holders.json")["facts"]["gpu_processes"])
    orphan = next(p for p in holders["processes"] if p["parent_gone"])
    holders["processes"] = [orphan]
    holders["devices"] = [
        {
            "index": d["index"],
            "name": d["name"],
            "total_bytes": d["memory_total_bytes"],
            "used_bytes": d["memory_used_bytes"],
        }
        for d in stale["facts"]["gpu"]["devices"]
    ]
    stale["facts"]["gpu_processes"] = holders
    stale["probes"]["gpu_processes"] = {"status": "ok", "seconds": 0.538}
    write("node-d.json", stale, "an orphaned DataLoader worker still holds GPU0")


if __name__ == "__main__":
    main()
