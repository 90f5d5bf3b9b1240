"""Follow a training log: count new lines, training steps and evaluation phases.

Only the bytes appended since the last tick are read (at most ``MAX_READ`` per tick), so a
huge or fast log costs little. A log that is rotated or truncated is followed from its start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

MAX_READ = 4 * 1024 * 1024

#: A training step in common log styles: "step 120", "iter: 120", "it 120/5000",
#: "Epoch 1 [120/500]", "global_step=120", tqdm's "120/5000 [".
STEP_PATTERN = re.compile(
    r"(?i)(?:\b(?:global_)?step\b[\s:=#]*\d+|\biter(?:ation)?s?\b[\s:=#]*\d+|\[\s*\d+\s*/\s*\d+\s*\]"
    r"|\b\d+/\d+\s*\[)"
)
EVAL_PATTERN = re.compile(r"(?i)\b(eval(uat\w*)?|validat\w*|val_loss|test(ing)? on)\b")


@dataclass(frozen=True)
class LogDelta:
    lines: int
    steps: int
    eval_phase: bool


def scan(text: str) -> LogDelta:
    """Count lines, step lines and whether evaluation is mentioned in ``text`` (pure)."""
    lines = text.splitlines()
    steps = sum(1 for line in lines if STEP_PATTERN.search(line))
    evaluating = any(EVAL_PATTERN.search(line) for line in lines[-5:])
    return LogDelta(lines=len(lines), steps=steps, eval_phase=evaluating)


class LogFollower:
    """Reads what was appended to ``path`` since the previous call."""

    def __init__(self, path: str, *, from_start: bool = False) -> None:
        self.path = path
        self.offset = 0
        self.error = ""
        self._partial = ""
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
        return scan(complete)
