"""What one file yields: its runs (a file can hold several appended runs) and crash records."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from gpudoctor.readers.logs.crashes import classify
from gpudoctor.readers.logs.crashes import exception_line
from gpudoctor.readers.logs.crashes import is_amp_overflow
from gpudoctor.readers.logs.run import Run

#: Earlier runs in the same file are summarised in a line each, up to this many.
MAX_RUNS = 100
#: Characters of a log line kept as evidence.
EVIDENCE_CHARS = 400

_STAMP = re.compile(rb"^\[?(\d{4})[/-](\d\d)[/-](\d\d)[ T](\d\d):(\d\d):(\d\d)")


def clip(raw: bytes | str) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.replace("\r", " ").strip()
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 3] + "..."


class FileState:
    """Runs, crashes and the last line of one file, filled by a format's parser."""

    def __init__(self) -> None:
        self.run = Run()
        self.earlier: list[dict[str, Any]] = []
        self.run_count = 1
        self.crashes: dict[str, dict[str, Any]] = {}
        self.exception: dict[str, Any] | None = None
        self.last_line = 0
        self.last_text = b""
        self.last_stamp = b""
        self.labels: set[str] = set()

    def new_run(self, line: int) -> None:
        """A restart appended to the same file: the earlier run is summarised and dropped."""
        if self.run.points == 0:
            self.run.start_line = line
            return
        if len(self.earlier) < MAX_RUNS:
            self.earlier.append(
                {
                    "start_line": self.run.start_line,
                    "first_step": self.run.first_step,
                    "last_step": self.run.last_step,
                    "points": self.run.points,
                }
            )
        old = self.run
        self.run = Run(
            start_line=line,
            intervals=dict(old.intervals),
            total_steps=old.total_steps,
            max_epochs=old.max_epochs,
        )
        self.run_count += 1

    def see(self, number: int, raw: bytes) -> None:
        """Remember the last non-empty line and the last time-stamped one."""
        if raw.strip():
            self.last_line, self.last_text = number, raw
            if raw[:1] in b"[2" and _STAMP.match(raw):
                self.last_stamp = raw

    def scan(self, number: int, raw: bytes) -> str | None:
        """Crash kinds, AMP overflows and exceptions in one (hinted) line; returns the kind."""
        text = raw.decode("utf-8", errors="replace")
        found = classify(text)
        if found is not None:
            kind, fields = found
            previous = self.crashes.get(kind)
            count = previous["count"] + 1 if previous else 1
            if previous is None or previous["run"] < self.run_count:
                self.crashes[kind] = {
                    "kind": kind,
                    "line": number,
                    "text": clip(text),
                    "run": self.run_count,
                    "count": count,
                    "fields": fields,
                }
            else:
                previous["count"] = count
            return kind
        if is_amp_overflow(text):
            self.run.overflow(number)
            return "amp_overflow"
        exc = exception_line(text)
        if exc is not None:
            self.exception = {
                "type": exc[0],
                "message": clip(exc[1]),
                "line": number,
                "run": self.run_count,
            }
        return None

    def summary(self) -> dict[str, Any]:
        stamp = None
        match = _STAMP.match(self.last_stamp) if self.last_stamp else None
        if match:
            try:
                year, month, day, hour, minute, second = (int(g) for g in match.groups())
                stamp = datetime(year, month, day, hour, minute, second).isoformat()
            except ValueError:
                stamp = None
        crashes = sorted(self.crashes.values(), key=lambda c: c["line"])
        return {
            "runs": self.run_count,
            "earlier_runs": self.earlier,
            "run": self.run.summary(),
            "crashes": crashes,
            "exception": self.exception,
            "last": {
                "line": self.last_line,
                "text": clip(_last_refresh(self.last_text)),
                "timestamp": stamp,
            },
        }


def _last_refresh(line: bytes) -> bytes:
    """What a terminal shows of a line of carriage-return refreshes: its last non-empty one."""
    for segment in reversed(line.split(b"\r")):
        if segment.strip():
            return segment
    return line
