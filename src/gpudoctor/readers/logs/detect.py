"""Which format a file is, from its first 64 KiB (the name is only a tie-breaker)."""

from __future__ import annotations

import json
import os
import re

_COLUMN = re.compile(rb"[\w/().\-\[\]@]+")

#: Format id -> what the report calls it.
STRUCTURED = {
    "hf-trainer-state": "Hugging Face trainer_state.json",
    "mmengine-scalars": "mmengine scalars.json",
    "mmcv-json": "mmcv 1.x log.json",
    "detectron2-metrics": "detectron2 metrics.json",
    "detr-log": "DETR/RT-DETR log.txt (JSON per epoch)",
    "ultralytics-csv": "ultralytics results.csv",
    "lightning-csv": "Lightning CSVLogger metrics.csv",
    "tensorboard": "TensorBoard event file (scalars)",
}


def _first_json(head: bytes) -> dict[str, object] | None:
    line = head.lstrip().split(b"\n", 1)[0]
    try:
        item = json.loads(line)
    except ValueError:
        return None
    return item if isinstance(item, dict) else None


def _json_kind(head: bytes, name: str) -> tuple[str, str]:
    """(format id, "") or ("", reason) for a file that starts with ``{``."""
    if b'"log_history"' in head or name == "trainer_state.json":
        return "hf-trainer-state", ""
    if b'"env_info"' in head[:4096]:
        return "mmcv-json", ""
    item = _first_json(head)
    if item is None:
        return "", "starts like JSON but its first line is not a JSON object"
    keys = set(item)
    if "mode" in keys and "iter" in keys:
        return "mmcv-json", ""
    if "iteration" in keys:
        return "detectron2-metrics", ""
    if "epoch" in keys and any(k.startswith(("train_", "test_")) for k in keys):
        return "detr-log", ""
    if "step" in keys and keys & {"lr", "loss", "time", "data_time"}:
        return "mmengine-scalars", ""
    if "step" in keys:
        return "mmengine-scalars", ""
    shown = ", ".join(sorted(keys)[:6])
    return "", f"JSON lines with keys gpudoctor does not know ({shown})"


def _csv_kind(header: bytes) -> tuple[str, str]:
    columns = [c.strip().lower() for c in header.decode("utf-8", "replace").split(",")]
    if any(c.startswith(("train/", "metrics/map")) for c in columns) and "epoch" in columns:
        return "ultralytics-csv", ""
    if "step" in columns:
        return "lightning-csv", ""
    return "", "CSV without the epoch/step columns of ultralytics or Lightning"


def looks_binary(head: bytes) -> bool:
    """NUL bytes, or mostly control bytes: not a log a person or a logger wrote."""
    sample = head[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return bool(sample) and control > len(sample) * 0.1


def detect(path: str, head: bytes) -> tuple[str, str]:
    """(format id, "") with id in STRUCTURED or "text"; ("", reason) when not understood."""
    name = os.path.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if not head.strip():
        return "", "empty file"
    if "tfevents" in name:
        return "tensorboard", ""
    if looks_binary(head):
        return "", "binary data, not a text log"
    stripped = head.lstrip()
    if stripped[:1] == b"{":
        return _json_kind(head, name)
    first = stripped.split(b"\n", 1)[0]
    if name.endswith(".csv") or _csv_header(first):
        return _csv_kind(first)
    return "text", ""


def _csv_header(line: bytes) -> bool:
    columns = [c.strip() for c in line.split(b",")]
    return len(columns) >= 3 and all(_COLUMN.fullmatch(c) for c in columns)
