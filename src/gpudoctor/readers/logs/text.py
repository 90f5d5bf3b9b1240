"""Plain-text logs: mmengine / mmcv 1.x / detectron2 text logs and captured stdout/stderr
(tqdm bars, Hugging Face Trainer dicts, tracebacks, NCCL and kernel lines), all in one pass.

Speed matters (a 1 GB log in seconds), so lines stay bytes, metrics lines are recognised by
a substring test and their numbers read with ``find`` plus one anchored regex each; every
other line meets one compiled hint regex before anything more is done with it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from gpudoctor.readers.logs.crashes import HINT
from gpudoctor.readers.logs.run import Run
from gpudoctor.readers.logs.state import FileState

_NUM = re.compile(rb"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|NaN|Inf|INF)")
_MM_STEP = re.compile(rb" *(?:\[ *(\d+)\])? *\[ *(\d+)/(\d+)\]")
_MMCV_STEP = re.compile(rb"(Epoch|Iter) \[(\d+)\](?:\[(\d+)/(\d+)\])?")
_SAVE = re.compile(
    rb"Saving (?:model )?checkpoint (?:at (\d+) (iterations|epochs)|to \S*?(\d+)\D*$)"
)
_CONFIG = re.compile(
    rb"(CheckpointHook|checkpoint_config|checkpoint=dict|val_interval|evaluation ?= ?dict"
    rb"|max_iters|max_epochs|LoggerHook|CHECKPOINT_PERIOD|EVAL_PERIOD|MAX_ITER|save_steps"
    rb"|eval_steps|logging_steps|save_period|max_steps|workers|WORKERS)"
)
_KV_INT = re.compile(rb"(\w+)\s*[=:]\s*(-?\d+)")
_KV_BOOL = re.compile(rb"(by_epoch|save_optimizer)\s*=\s*(True|False)")
_TQDM = re.compile(rb"(\d+)/(\d+) \[[\d:]+<[\d:?]+, +([\d.]+)(it/s|s/it)")
_TQDM_LOSS = re.compile(rb"(?:^|[ ,])(?:train_)?loss[=:] ?([-+\w.]+)")
_HF = re.compile(rb"'(loss|grad_norm|learning_rate|epoch)': ([-+\w.]+)")
#: The metrics a mmengine line is read for, in the order Run.point takes them.
_LAYOUT_KEYS = (b"time", b"data_time", b"loss", b"grad_norm", b"lr")
#: One ``key: `` field of a metrics line and the white space before it.
_FIELD = re.compile(rb"([ \t]+)([\w.]+): ")
#: The start of an iteration-based mmengine metrics line, up to the closing bracket.
_BATCH_HEAD_RE = re.compile(rb"\(train\) +\[ *(\d+)/\d+\]")
#: The same in a batch pattern: the step is taken up to the slash (a single-character scan)
#: and its digits checked for the whole batch at once.
_BATCH_HEAD = rb"\(train\) +\[ *([^/]+)/\d+\]"
#: Metrics lines parsed together (a few MiB of text at most).
BATCH_LINES = 8192
#: What the lines of a batch are joined with: a blank ends every line (see _batch_layout).
BATCH_JOIN = b" \n"
#: A metric's value in the batch pattern: anything up to a blank, but not starting with a
#: tab (``float`` would skip it, the line-by-line reading does not). A comma taken in makes
#: ``float`` fail and the batch go line by line; a tab at its end both readings skip.
_VALUE = rb"([^ \t][^ ]*)"
_RESTART = (b"System environment:", b"Environment info:")


def number_after(line: bytes, key: bytes) -> float | None:
    """The number printed after ``key`` in ``line``, or None."""
    at = line.find(key)
    if at < 0:
        return None
    found = _NUM.match(line, at + len(key))
    if found is None:
        return None
    try:
        return float(found.group())
    except ValueError:
        return None


class TextParser:
    """Feed blocks of lines, then read ``state``."""

    def __init__(self) -> None:
        self.state = FileState()
        self.mm_lines = 0
        self.mmcv_lines = 0
        self.d2_lines = 0
        self.tqdm_points = 0
        self.hf_points = 0
        self.kernel_lines = 0
        self._bar_last = -1
        self._bar_total = 0
        self._bar_offset = 0
        self._hf_index = 0
        self._eval_bar = False
        self.last_metrics_line = b""
        self._layout: re.Pattern[bytes] | None = None
        self._layout_slots: list[int] = []
        self._batch_cache: (
            tuple[tuple[tuple[Any, ...], ...], tuple[re.Pattern[bytes], list[int]]] | None
        ) = None
        self._pending: list[bytes] = []
        self._pending_numbers: list[int] = []
        self._pending_doubled = False
        self._batch_doubled = False
        self._each_steps: list[int] = []
        self._deferred: list[tuple[str, int | None, int]] = []

    # -- the per-line dispatch ------------------------------------------------------------
    def feed(self, first: int, lines: list[bytes]) -> None:
        """One block of lines: metrics lines are collected and parsed in large batches.

        Lines between them are handled in order. Evaluation and checkpoint lines only need
        the step they follow, so they are kept until the batch is parsed and then placed
        after the right step; any other line that depends on the order (crash, restart,
        another format's metrics) parses the pending batch first.
        """
        # One C pass counts the markers of every line: lines without one are handled here,
        # a line with two sends its batch line by line (a second marker could be the one
        # the batch pattern matches, where the line-by-line reading takes the first).
        counts = list(map(bytes.count, lines, repeat(b"(train)")))
        doubled = max(counts, default=0) > 1
        start = 0
        for i in _zeros(counts):
            if i > start:
                self._pend(first, lines, start, i, doubled and max(counts[start:i]) > 1)
            self._line(first + i, lines[i])
            start = i + 1
        if start < len(lines):
            self._pend(first, lines, start, len(lines), doubled and max(counts[start:]) > 1)
            self.state.see(first + len(lines) - 1, lines[-1])
        if len(self._pending) >= BATCH_LINES:
            self.flush()

    def _pend(self, first: int, lines: list[bytes], start: int, end: int, doubled: bool) -> None:
        """Metrics lines ``start:end`` of a block join the pending batch."""
        self._pending.extend(lines[start:end])
        self._pending_numbers.extend(range(first + start, first + end))
        if doubled:
            self._pending_doubled = True

    def flush(self) -> None:
        """Parse the pending metrics lines, then place the events that came between them."""
        if not self._pending:
            return
        numbers, lines = self._pending_numbers, self._pending
        self._pending, self._pending_numbers = [], []
        self._batch_doubled, self._pending_doubled = self._pending_doubled, False
        before = self.state.run.last_step
        steps = self._mmengine_batch(numbers, lines)
        if steps is None:
            steps = self._each_steps
        run = self.state.run
        for kind, step, number in self._deferred:
            if step is None:
                at = bisect.bisect_right(numbers, number) - 1
                step = steps[at] if at >= 0 else before
            run.event(kind, step if step is not None and step > 0 else None, number)
        if self._deferred and numbers[-1] > self._deferred[-1][2]:
            run.last_phase = "train"
        self._deferred = []

    def _event(self, kind: str, step: int | None, number: int) -> None:
        if self._pending:
            self._deferred.append((kind, step, number))
        else:
            self.state.run.event(kind, step, number)

    def _line(self, number: int, line: bytes) -> None:
        if not line:
            return
        state = self.state
        state.see(number, line)
        if b"it/s" in line or b"s/it" in line:
            self.flush()
            self._tqdm(number, line)
            return
        if b" time: " in line:
            if b"d2.utils.events" in line:
                self.flush()
                self._detectron2(number, line)
                return
            if b"Epoch [" in line or b"Iter [" in line:
                self.flush()
                self._mmcv(number, line)
                return
        if b"(val)" in line or b"(test)" in line:
            self._event("evaluation", None, number)
        elif line[:2] == b"{'":
            self.flush()
            self._hf(number, line)
        elif b"=" in line or b": " in line:
            self._config(number, line)
        if HINT.search(line):
            saved = _SAVE.search(line)
            if saved:
                self._checkpoint(number, saved)
                return
            self.flush()
            if self.state.scan(number, line) == "xid":
                self.kernel_lines += 1
        elif line.startswith(_RESTART):
            self.flush()
            state.new_run(number)

    def _hinted(self, number: int, line: bytes) -> None:
        self.flush()
        saved = _SAVE.search(line)
        if saved:
            self._checkpoint(number, saved)
            return
        if self.state.scan(number, line) == "xid":
            self.kernel_lines += 1

    # -- formats ----------------------------------------------------------------------------
    def _mmengine(self, number: int, line: bytes) -> None:
        at = line.find(b"(train)")
        step_match = _MM_STEP.match(line, at + 7)
        if step_match is None:
            return
        self.mm_lines += 1
        epoch, inner, total = step_match.groups()
        values = self._layout_values(line, step_match.end())
        self._metrics_point(number, line, epoch, int(inner), int(total), b" loss: ", values)

    def _mmengine_batch(self, numbers: list[int], lines: list[bytes]) -> list[int] | None:
        """Consecutive iteration-based metrics lines at once.

        The lines are joined and every metric of every line is pulled out by one ``findall``
        (a C loop) with a pattern built from the first line's fields; numbers that repeat
        (most do, at four decimals) are converted once. Anything unusual (epoch-based
        counters, a missing or doubled key, a restart, a value that is not a number) goes
        through the line-by-line path instead.
        """
        count = len(lines)
        if count < 8:
            self._each(numbers, lines)
            return None
        layout = self._batch_layout(lines[0])
        if layout is None:
            self._each(numbers, lines)
            return None
        pattern, slots = layout
        blob = BATCH_JOIN.join(lines)
        found = pattern.findall(blob)
        if len(found) != count or self._batch_doubled:
            self._each(numbers, lines)
            return None
        raw_steps, *columns = zip(*found)
        if not b"".join(raw_steps).isdigit():
            self._each(numbers, lines)
            return None
        try:
            steps = list(map(int, raw_steps))
            values = [_floats(column) for column in columns]
        except ValueError:
            self._each(numbers, lines)
            return None
        run = self.state.run
        # sorted() of an ordered list is one C pass of comparisons; a map of int.__gt__
        # calls a slot wrapper per pair, ten times slower.
        if steps[0] < run.last_step or sorted(steps) != steps:
            self._each(numbers, lines)
            return None
        metrics: list[list[float] | None] = [None] * 5
        for slot, column in zip(slots, values):
            metrics[slot] = column
        self.mm_lines += count
        total = _MM_STEP.match(lines[-1], lines[-1].find(b"(train)") + 7)
        if total is not None:
            run.total_steps = int(total.group(3))
        run.points_batch(steps, numbers, *metrics)
        self.last_metrics_line = lines[-1]
        return steps

    def _batch_layout(self, line: bytes) -> tuple[re.Pattern[bytes], list[int]] | None:
        """One regex for a whole batch, built from the fields of its first line.

        mmengine prints the same fields with the same separators for a whole run, so the
        pattern spells them out: each wanted value is captured, the rest skipped up to the
        next field's name (a value with blanks in the first line lazily, one without up to
        the next blank). One match per line, found by its ``(train)`` literal, costs about
        a third less than searching every blank for a key. A line that does not fit makes
        the match count differ, and the batch goes line by line.

        The batch is joined with ``BATCH_JOIN``, so every line ends in a blank: a run of
        non-blanks (``[^ ]``, which the regex engine scans in a tight loop, unlike a set of
        several characters) stops at the end of its line, as a set with the newline would.
        """
        at = line.find(b"(train)")
        head = _BATCH_HEAD_RE.match(line, at) if at >= 0 else None
        if head is None:
            return None
        found = list(_FIELD.finditer(line, head.end()))
        ends = [f.start() for f in found[1:]] + [len(line)]
        blanks = [b" " in line[field.end() : end] for field, end in zip(found, ends)]
        key = tuple((*f.group(1, 2), blank) for f, blank in zip(found, blanks))
        if self._batch_cache is not None and self._batch_cache[0] == key:
            return self._batch_cache[1]
        parts, slots, last_wanted = [_BATCH_HEAD], [], 0
        for field, blank in zip(found, blanks):
            space, name = field.group(1, 2)
            parts.append(re.escape(space + name + b": "))
            if name in _LAYOUT_KEYS:
                slot = _LAYOUT_KEYS.index(name)
                if slot in slots:
                    return None  # a metric printed twice: read line by line
                slots.append(slot)
                parts.append(_VALUE)
                last_wanted = len(parts)
            elif blank:
                parts.append(rb"[^\n]*?")  # a value with blanks (eta: 1 day, 2:03:04)
            else:
                parts.append(rb"[^ ]*")
        if not slots:
            return None
        layout = (re.compile(b"".join(parts[:last_wanted])), slots)
        self._batch_cache = (key, layout)
        return layout

    def _each(self, numbers: list[int], lines: list[bytes]) -> None:
        """Line by line; the step each line leaves the run at places the deferred events."""
        steps: list[int] = []
        state = self.state
        for number, line in zip(numbers, lines):
            self._mmengine(number, line)
            steps.append(state.run.last_step)
        self._each_steps = steps

    def _layout_values(self, line: bytes, start: int) -> list[float | None] | None:
        """The five metrics via one regex built from the key order of the first line.

        mmengine prints the same keys in the same order for a whole run, so one anchored
        match replaces five searches; a line that does not fit rebuilds the layout.
        """
        if self._layout is not None:
            found = self._layout.match(line, start)
            if found is not None:
                values: list[float | None] = [None] * 5
                try:
                    for slot, raw in zip(self._layout_slots, found.groups()):
                        values[slot] = float(raw)
                except ValueError:
                    return None
                return values
        keys = [k for k in _LAYOUT_KEYS if (b" " + k + b": ") in line[start:]]
        keys.sort(key=lambda k: line.find(b" " + k + b": ", start))
        if not keys:
            self._layout = None
            return None
        self._layout = re.compile(
            b"".join(rb".*? " + re.escape(k) + rb": ([^ ,\t]+)" for k in keys)
        )
        self._layout_slots = [_LAYOUT_KEYS.index(k) for k in keys]
        return None

    def _mmcv(self, number: int, line: bytes) -> None:
        found = _MMCV_STEP.search(line)
        if found is None:
            return
        self.mmcv_lines += 1
        kind, first, inner, total = found.groups()
        if kind == b"Epoch" and inner is not None:
            self._metrics_point(number, line, first, int(inner), int(total), b" loss: ")
        else:
            self._metrics_point(number, line, None, int(first), 0, b" loss: ")

    def _detectron2(self, number: int, line: bytes) -> None:
        step = number_after(line, b" iter: ")
        if step is None:
            return
        self.d2_lines += 1
        self._metrics_point(number, line, None, int(step) + 1, 0, b" total_loss: ")

    def _metrics_point(
        self,
        number: int,
        line: bytes,
        epoch: bytes | None,
        inner: int,
        total: int,
        loss_key: bytes,
        values: list[float | None] | None = None,
    ) -> None:
        state = self.state
        run = state.run
        if epoch is not None:
            epoch_no = int(epoch)
            run.epoch_len = total
            step = (epoch_no - 1) * total + inner
            if run.epoch is not None and epoch_no > run.epoch:
                run.event("epoch", (epoch_no - 1) * total, number)
            run.epoch = epoch_no
            if run.max_epochs:
                run.total_steps = run.max_epochs * total
        else:
            step = inner
            if total:
                run.total_steps = total
        if step < run.last_step:
            state.new_run(number)
            run = state.run
        if values is None:
            values = [
                number_after(line, b" time: "),
                number_after(line, b" data_time: "),
                number_after(line, loss_key),
                number_after(line, b" grad_norm: "),
                number_after(line, b" lr: "),
            ]
        run.point(step, number, *values)
        self.last_metrics_line = line

    def _tqdm(self, number: int, line: bytes) -> None:
        for segment in line.split(b"\r"):
            found = _TQDM.search(segment)
            if found is None:
                if segment and HINT.search(segment):
                    self._hinted(number, segment)
                continue
            n, total, rate, unit = found.groups()
            desc = segment[: found.start()].lower()
            if b"val" in desc or b"eval" in desc or b"test" in desc:
                if not self._eval_bar:
                    self.state.run.event("evaluation", None, number)
                self._eval_bar = True
                continue
            self._eval_bar = False
            self._bar_point(number, int(n), int(total), float(rate), unit == b"it/s", segment)
            tail = segment[found.end() :]
            if HINT.search(tail):  # a crash printed on the bar's own line
                self._hinted(number, tail)

    def _bar_point(
        self, number: int, n: int, total: int, rate: float, per_second: bool, segment: bytes
    ) -> None:
        run = self.state.run
        if n == self._bar_last:
            return
        if n < self._bar_last:
            self._bar_offset += self._bar_total or self._bar_last
            run.event("epoch", self._bar_offset, number)
        self._bar_last, self._bar_total = n, total
        seconds = (1.0 / rate if rate > 0 else None) if per_second else rate
        loss_match = _TQDM_LOSS.search(segment)
        loss = None
        if loss_match:
            try:
                loss = float(loss_match.group(1))
            except ValueError:
                loss = None
        self.tqdm_points += 1
        run.point(self._bar_offset + n, number, time=seconds, loss=loss)
        run.epoch_len = total

    def _hf(self, number: int, line: bytes) -> None:
        if line.startswith(b"{'train_runtime'"):
            self.state.run.finished = True
            return
        if line.startswith(b"{'eval_"):
            self.state.run.event("evaluation", None, number)
            return
        values = {}
        for key, raw in _HF.findall(line):
            try:
                values[key] = float(raw)
            except ValueError:
                continue
        if b"loss" not in values:
            return
        self._hf_index += 1
        self.hf_points += 1
        self.state.run.point(
            self._hf_index,
            number,
            loss=values.get(b"loss"),
            grad_norm=values.get(b"grad_norm"),
            lr=values.get(b"learning_rate"),
        )

    def _checkpoint(self, number: int, saved: re.Match[bytes]) -> None:
        run = self.state.run
        at, unit, from_name = saved.groups()
        step: int | None
        if at is not None:
            step = int(at)
            if unit == b"epochs":
                step = step * run.epoch_len if run.epoch_len else None
        elif from_name is not None:
            step = int(from_name)
        else:
            step = None
        self._event("checkpoint", step if step is None or step > 0 else None, number)

    def finish(self) -> None:
        """Work left for the end: the pending batch, the ETA and memory of the last line."""
        self.flush()
        line = self.last_metrics_line
        if b" eta: " in line:
            self.state.run.eta_text = _eta(line)
        memory = number_after(line, b" memory: ")
        if memory is not None:
            self.state.run.memory_max_mb = memory

    # -- what was recognised ------------------------------------------------------------------
    def label(self) -> tuple[str, str] | None:
        """(format id, what to call it) from what the lines held; None if nothing."""
        counts = (
            (self.mm_lines, "mmengine-text", "mmengine text log"),
            (self.mmcv_lines, "mmcv-text", "mmcv 1.x text log"),
            (self.d2_lines, "detectron2-text", "detectron2 text log"),
            (self.tqdm_points, "tqdm", "console output with tqdm progress bars"),
            (self.hf_points, "hf-stdout", "Hugging Face Trainer console output"),
        )
        best = max(counts, key=lambda c: c[0])
        if best[0]:
            return best[1], best[2]
        if self.kernel_lines:
            return "kernel", "kernel log (dmesg/journal)"
        if self.state.crashes or self.state.exception:
            return "console", "console output (stdout/stderr)"
        return None

    def _config(self, number: int, line: bytes) -> None:
        if _CONFIG.search(line) is not None:
            scan_config_line(self.state.run, line, f"config in the log, line {number}")


def scan_config_line(run: Run, line: bytes, source: str) -> None:
    """Intervals and lengths a config line states (mmengine, mmcv, detectron2, HF, YOLO)."""
    if _CONFIG.search(line) is None:
        return
    ints = {k.decode(): int(v) for k, v in _KV_INT.findall(line)}
    flags = {k.decode(): v == b"True" for k, v in _KV_BOOL.findall(line)}
    if b"CheckpointHook" in line or b"checkpoint_config" in line or b"checkpoint=dict" in line:
        if "interval" in ints:
            run.interval(
                "checkpoint",
                ints["interval"],
                source,
                by_epoch=flags.get("by_epoch"),
                max_keep_ckpts=ints.get("max_keep_ckpts"),
                save_optimizer=flags.get("save_optimizer"),
            )
    elif b"evaluation" in line and "interval" in ints:
        run.interval("evaluation", ints["interval"], source)
    elif b"LoggerHook" in line and "interval" in ints:
        run.interval("logging", ints["interval"], source)
    for key in ("num_workers", "dataloader_num_workers", "workers", "NUM_WORKERS"):
        # The first loader a config states is the training one in every layout we know.
        if ints.get(key, 0) > 0 and "workers" not in run.intervals:
            run.interval("workers", ints[key], source)
    for key, cause in (
        ("val_interval", "evaluation"),
        ("CHECKPOINT_PERIOD", "checkpoint"),
        ("EVAL_PERIOD", "evaluation"),
        ("save_steps", "checkpoint"),
        ("save_period", "checkpoint"),
        ("eval_steps", "evaluation"),
        ("logging_steps", "logging"),
    ):
        if key in ints:
            epoch_based = b"EpochBased" in line or key == "save_period"
            run.interval(cause, ints[key], source, by_epoch=epoch_based or None)
    for key in ("max_iters", "MAX_ITER", "max_steps"):
        if ints.get(key, 0) > 0:
            run.total_steps = ints[key]
    if ints.get("max_epochs", 0) > 0:
        run.max_epochs = ints["max_epochs"]


def _zeros(counts: list[int]) -> list[int]:
    """Where ``counts`` holds 0, found by ``list.index`` (few are, and it runs in C)."""
    found: list[int] = []
    at = -1
    try:
        while True:
            at = counts.index(0, at + 1)
            found.append(at)
    except ValueError:
        return found


def _floats(column: Sequence[bytes]) -> list[float]:
    """float() of each; values that repeat are converted once, a constant column at once."""
    first = column[0]
    if first == column[-1] and column.count(first) == len(column):
        return [float(first)] * len(column)
    distinct = set(column)
    if len(distinct) * 2 > len(column):
        return list(map(float, column))
    table = {raw: float(raw) for raw in distinct}
    return list(map(table.__getitem__, column))


def _eta(line: bytes) -> str:
    at = line.find(b" eta: ") + 6
    end = len(line)
    for stop in (b"  ", b", time", b"\t"):
        found = line.find(stop, at)
        if 0 <= found < end:
            end = found
    return line[at:end].decode("ascii", errors="replace").strip(" ,")
