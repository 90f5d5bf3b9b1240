"""Follow a training log: count new lines, training steps and evaluation phases.

Only the bytes appended since the last tick are read (at most ``MAX_READ`` per tick), so a
huge or fast log costs little. A log that is rotated or truncated is followed from its start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

MAX_READ = 4 * 1024 * 1024

#: Where a training step number sits in common log styles: "step 120", "global_step=120",
#: "iter: 120", mmcv/mmengine "Epoch [3][50/2500]", timm "Train: 0 [  50/1251 (  4%)]",
#: tqdm (HF Trainer, Lightning) "50/1000 [00:10<03:10".
STEP_PATTERNS = (
    re.compile(r"(?i)\b(?:global_)?step\b[\s:=#]*(\d+)"),
    re.compile(r"(?i)\biter(?:ation)?s?\b[\s:=#]*(\d+)"),
    re.compile(r"\[\s*(\d+)\s*/\s*\d+\s*[\](]"),
    re.compile(r"\b(\d+)/\d+\s*\["),
)
EVAL_PATTERN = re.compile(r"(?i)\b(eval(uat\w*)?|validat\w*|val_loss|test(ing)? on)\b")


@dataclass(frozen=True)
class LogDelta:
    lines: int
    steps: int
    eval_phase: bool


def step_number(line: str) -> int | None:
    """The training step a log line reports, if it reports one (pure)."""
    for pattern in STEP_PATTERNS:
        match = pattern.search(line)
        if match:
            return int(match.group(1))
    return None


def scan(text: str, last_step: int | None = None) -> tuple[LogDelta, int | None]:
    """Lines, steps advanced and evaluation seen in ``text``; and the last step number.

    Steps are counted from the step numbers (a log line every 50 iterations advances 50);
    a number lower than the one before starts a new epoch or phase and counts from zero.
    """
    lines = text.splitlines()
    steps = 0
    for line in lines:
        number = step_number(line)
        if number is None:
            continue
        if last_step is None:
            steps += 1
        elif number > last_step:
            steps += number - last_step
        elif number < last_step:
            steps += number
        last_step = number
    evaluating = any(EVAL_PATTERN.search(line) for line in lines[-5:])
    return LogDelta(lines=len(lines), steps=steps, eval_phase=evaluating), last_step


class LogFollower:
    """Reads what was appended to ``path`` since the previous call."""

    def __init__(self, path: str, *, from_start: bool = False) -> None:
        self.path = path
        self.offset = 0
        self.error = ""
        self._partial = ""
        self._last_step: int | None = None
        if not from_start:
            try:
                self.offset = os.path.getsize(path)
            except OSError:
                self.offset = 0

    def poll(self) -> LogDelta | None:
        try:
            size = os.path.getsize(self.path)
            if size < self.offset:
                self.offset = 0  # rotated or truncated
            if size == self.offset:
                return LogDelta(0, 0, False)
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(MAX_READ)
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            return None
        self.offset += len(chunk)
        text = self._partial + chunk.decode("utf-8", errors="replace").replace("\r", "\n")
        complete, _, self._partial = text.rpartition("\n")
        if not complete:
            return LogDelta(0, 0, False)
        delta, self._last_step = scan(complete, self._last_step)
        return delta
