"""Metrics files written by training frameworks: JSON lines, CSV and Trainer state.

- mmengine ``vis_data/scalars.json`` and ``<time>.json``; mmcv 1.x ``*.log.json``
- detectron2 ``metrics.json``; DETR / RT-DETR ``log.txt`` (one JSON object per epoch)
- ultralytics ``results.csv``; Lightning CSVLogger ``metrics.csv``
- Hugging Face ``trainer_state.json`` (``log_history``)

TensorBoard event files are read by :mod:`gpudoctor.readers.logs.tensorboard`.

Every parser takes blocks of lines from :func:`source.iter_blocks` and fills a FileState.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from typing import Any

from gpudoctor.readers.logs.state import FileState
from gpudoctor.readers.logs.text import scan_config_line

#: trainer_state.json is one JSON document; larger ones are refused, not streamed.
MAX_JSON_DOCUMENT = 256 << 20


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


class JsonLinesParser:
    """One JSON object per line; ``kind`` picks the keys (see :func:`detect.detect`)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.state = FileState()
        self.bad_lines = 0
        self.good_lines = 0
        self._epoch = 0
        self._epoch_offset = 0
        self._last_iter = 0

    def feed(self, first: int, lines: Iterable[bytes]) -> None:
        number = first - 1
        for raw in lines:
            number += 1
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except ValueError:
                self.bad_lines += 1
                continue
            if not isinstance(item, dict):
                self.bad_lines += 1
                continue
            self.good_lines += 1
            self.state.see(number, raw)
            getattr(self, "_" + self.kind.replace("-", "_"))(number, item)

    def _point(self, number: int, step: int, item: dict[str, Any], loss_key: str) -> None:
        run = self.state.run
        if step < run.last_step:
            self.state.new_run(number)
            run = self.state.run
        run.point(
            step,
            number,
            time=_float(item.get("time")),
            data_time=_float(item.get("data_time")),
            loss=_float(item.get(loss_key)),
            grad_norm=_float(item.get("grad_norm")),
            lr=_float(item.get("lr")),
        )
        memory = _float(item.get("memory"))
        if memory is not None and (run.memory_max_mb is None or memory > run.memory_max_mb):
            run.memory_max_mb = memory

    def _mmengine_scalars(self, number: int, item: dict[str, Any]) -> None:
        step = item.get("step")
        if not isinstance(step, int):
            return
        if "loss" in item or "lr" in item:
            self._point(number, step, item, "loss")
        else:
            self.state.run.event("evaluation", None, number)

    def _mmcv_json(self, number: int, item: dict[str, Any]) -> None:
        if "config" in item and isinstance(item["config"], str):
            for line in item["config"].encode("utf-8", "replace").splitlines():
                scan_config_line(self.state.run, line, f"config in the log, line {number}")
            return
        if item.get("mode") == "val":
            self.state.run.event("evaluation", None, number)
            return
        if item.get("mode") != "train" or not isinstance(item.get("iter"), int):
            return
        raw_epoch = item.get("epoch")
        epoch = raw_epoch if isinstance(raw_epoch, int) else 1
        it = int(item["iter"])
        if epoch > self._epoch and self._epoch:
            self._epoch_offset += self._last_iter
            self.state.run.event("epoch", self._epoch_offset, number)
        elif epoch < self._epoch:
            self._epoch_offset = 0
        self._epoch, self._last_iter = epoch, it
        self._point(number, self._epoch_offset + it, item, "loss")

    def _detectron2_metrics(self, number: int, item: dict[str, Any]) -> None:
        step = item.get("iteration")
        if not isinstance(step, int):
            return
        if "total_loss" in item or "time" in item:
            self._point(number, step + 1, item, "total_loss")
        else:
            self.state.run.event("evaluation", step + 1, number)

    def _detr_log(self, number: int, item: dict[str, Any]) -> None:
        epoch = item.get("epoch")
        if not isinstance(epoch, int):
            return
        run = self.state.run
        if epoch + 1 <= run.last_step:
            self.state.new_run(number)
            run = self.state.run
        run.point(
            epoch + 1,
            number,
            time=_float(item.get("epoch_time")),
            loss=_float(item.get("train_loss")),
            lr=_float(item.get("train_lr")),
        )
        run.epoch = epoch + 1


class CsvParser:
    """ultralytics ``results.csv`` (one row per epoch) or Lightning ``metrics.csv``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.state = FileState()
        self.header: list[str] = []
        self.good_lines = 0
        self.bad_lines = 0
        self._last_time: float | None = None

    def feed(self, first: int, lines: Iterable[bytes]) -> None:
        number = first - 1
        for raw in lines:
            number += 1
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            row = next(csv.reader([text]), [])
            if not self.header:
                self.header = [c.strip() for c in row]
                continue
            if len(row) != len(self.header):
                self.bad_lines += 1
                continue
            self.good_lines += 1
            self.state.see(number, raw)
            values = {k: c.strip() for k, c in zip(self.header, row)}
            if self.kind == "ultralytics-csv":
                self._ultralytics(number, values)
            else:
                self._lightning(number, values)

    def _ultralytics(self, number: int, row: dict[str, str]) -> None:
        epoch = _float(row.get("epoch"))
        if epoch is None:
            return
        step = int(epoch) if int(epoch) >= 1 else int(epoch) + 1
        losses = [_float(v) for k, v in row.items() if k.startswith("train/") and "loss" in k]
        known = [v for v in losses if v is not None]
        loss = sum(known) if known else None
        elapsed = _float(row.get("time"))
        seconds = None
        if elapsed is not None:
            if self._last_time is not None and elapsed >= self._last_time:
                seconds = elapsed - self._last_time
            self._last_time = elapsed
        run = self.state.run
        if step <= run.last_step:
            self.state.new_run(number)
            run = self.state.run
        run.point(step, number, time=seconds, loss=loss, lr=_float(row.get("lr/pg0")))
        run.epoch = step

    def _lightning(self, number: int, row: dict[str, str]) -> None:
        step = _float(row.get("step"))
        if step is None:
            return
        loss_key = next(
            (
                k
                for k in ("train_loss_step", "train_loss", "loss", "train/loss")
                if row.get(k, "") != ""
            ),
            None,
        )
        if loss_key is None:
            loss_key = next(
                (k for k, v in row.items() if "loss" in k and "val" not in k and v != ""), None
            )
        run = self.state.run
        if loss_key is None:
            if any(v != "" for k, v in row.items() if "val" in k):
                run.event("evaluation", int(step), number)
            return
        lr_key = next((k for k in row if k.startswith("lr") and row[k] != ""), None)
        run.point(
            int(step),
            number,
            loss=_float(row[loss_key]),
            lr=_float(row[lr_key]) if lr_key else None,
            grad_norm=_float(row.get("grad_norm")) if row.get("grad_norm") else None,
        )
        epoch = _float(row.get("epoch"))
        run.epoch = int(epoch) if epoch is not None else run.epoch


def parse_trainer_state(data: bytes) -> tuple[FileState, str]:
    """A Hugging Face ``trainer_state.json``; the second value is an error, or ""."""
    state = FileState()
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        return state, f"not valid JSON ({exc.msg} at line {exc.lineno})"
    except ValueError as exc:  # bytes that are not UTF-8 / UTF-16
        return state, f"not valid JSON ({exc})"
    if not isinstance(document, dict) or not isinstance(document.get("log_history"), list):
        return state, "JSON without a log_history list"
    run = state.run
    source = "trainer_state.json"
    for key, cause in (
        ("save_steps", "checkpoint"),
        ("eval_steps", "evaluation"),
        ("logging_steps", "logging"),
    ):
        value = document.get(key)
        if isinstance(value, int) and value > 0:
            run.interval(cause, value, source)
    if isinstance(document.get("max_steps"), int) and document["max_steps"] > 0:
        run.total_steps = document["max_steps"]
    for index, entry in enumerate(document["log_history"], start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
            continue
        step = int(entry["step"])
        if "train_runtime" in entry:
            run.finished = True
        elif any(str(k).startswith("eval_") for k in entry):
            run.event("evaluation", step, index)
        elif "loss" in entry:
            run.point(
                step,
                index,
                loss=_float(entry.get("loss")),
                grad_norm=_float(entry.get("grad_norm")),
                lr=_float(entry.get("learning_rate")),
            )
            epoch = _float(entry.get("epoch"))
            if epoch is not None and math.isfinite(epoch):
                run.epoch = int(epoch)
    state.last_line = len(document["log_history"])
    return state, ""
