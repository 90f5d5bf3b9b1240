"""Training logs and crash output, read offline into the ``run_log`` facts section.

``read_logs(paths)`` never raises for a bad file: a file that cannot be read or whose
format is not recognised is recorded with ``understood: False`` and the reason. Reading is
streaming (blocks of lines, bounded state per run), so memory stays flat for any size, and
time-bounded by ``budget`` seconds for all files together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import IO
from typing import Any

from gpudoctor.readers.logs.detect import STRUCTURED
from gpudoctor.readers.logs.detect import detect
from gpudoctor.readers.logs.source import ReadState
from gpudoctor.readers.logs.source import SourceError
from gpudoctor.readers.logs.source import iter_blocks
from gpudoctor.readers.logs.source import open_source
from gpudoctor.readers.logs.state import FileState
from gpudoctor.readers.logs.structured import MAX_JSON_DOCUMENT
from gpudoctor.readers.logs.structured import CsvParser
from gpudoctor.readers.logs.structured import JsonLinesParser
from gpudoctor.readers.logs.structured import parse_trainer_state
from gpudoctor.readers.logs.tensorboard import iter_scalars
from gpudoctor.readers.logs.tensorboard import metric_name
from gpudoctor.readers.logs.text import TextParser
from gpudoctor.readers.logs.text import scan_config_line

__all__ = ["DEFAULT_BUDGET", "read_log", "read_logs"]

#: Seconds all files together may take before reading stops (what was read is analysed).
DEFAULT_BUDGET = 120.0
#: Config files given with --config are read up to this size.
MAX_CONFIG = 2 << 20


def _not_understood(path: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "path": path,
        "name": os.path.basename(path),
        "understood": False,
        "reason": reason,
        "format": None,
        "format_label": None,
        **extra,
    }


def read_log(
    path: str,
    *,
    deadline: float | None = None,
    config: FileState | None = None,
) -> dict[str, Any]:
    """The facts of one log file (see the module docstring); never raises for bad input."""
    try:
        return _read_log(path, deadline, config)
    except (MemoryError, RecursionError, ValueError, IndexError, KeyError, TypeError) as exc:
        return _not_understood(path, f"gpudoctor could not parse it ({type(exc).__name__}: {exc})")


def _read_log(path: str, deadline: float | None, config: FileState | None) -> dict[str, Any]:
    """``read_log`` without its guard against parser errors."""
    try:
        source, handle = open_source(path)
    except SourceError as exc:
        return _not_understood(path, str(exc))
    with handle:
        kind, reason = detect(path, source.head)
        meta = {
            "bytes": source.size,
            "compressed": source.compressed,
            "mtime": source.mtime,
        }
        if not kind:
            return _not_understood(path, reason, **meta)
        read = ReadState()
        line_unit = "line"
        parser: TextParser | JsonLinesParser | CsvParser | None = None
        if kind == "tensorboard":
            state, count = read_tensorboard(handle, deadline, read)
            if not count:
                return _not_understood(
                    path, "a TensorBoard event file without training scalars", **meta
                )
            line_unit = "event record"
            label = STRUCTURED[kind]
        elif kind == "hf-trainer-state":
            data = handle.read(MAX_JSON_DOCUMENT + 1)
            if len(data) > MAX_JSON_DOCUMENT:
                return _not_understood(path, "trainer_state.json larger than 256 MiB", **meta)
            state, error = parse_trainer_state(data)
            if error:
                return _not_understood(path, error, **meta)
            read.lines = data.count(b"\n") + 1
            line_unit = "log_history entry"
            label = STRUCTURED[kind]
        else:
            if kind == "text":
                parser = TextParser()
            elif kind.endswith("-csv"):
                parser = CsvParser(kind)
            else:
                parser = JsonLinesParser(kind)
            for first, lines in iter_blocks(handle, read, deadline):
                parser.feed(first, lines)
            state = parser.state
            if isinstance(parser, TextParser):
                parser.finish()
                found = parser.label()
                if found is None:
                    return _not_understood(
                        path,
                        "no training metrics, progress bars or error messages found "
                        f"in {read.lines:,} lines",
                        lines=read.lines,
                        **meta,
                    )
                kind, label = found
            else:
                label = STRUCTURED[kind]
                if parser.good_lines == 0:
                    return _not_understood(
                        path, f"no readable {label} rows", lines=read.lines, **meta
                    )
        if config is not None:
            for cause, spec in config.run.intervals.items():
                state.run.intervals.setdefault(cause, spec)
            if state.run.total_steps is None:
                state.run.total_steps = config.run.total_steps
        facts = {
            "path": path,
            "name": os.path.basename(path),
            "understood": True,
            "reason": "",
            "format": kind,
            "format_label": label,
            "lines": read.lines,
            "line_unit": line_unit,
            "stopped_early": read.stopped,
            "bad_lines": getattr(parser, "bad_lines", 0),
            **meta,
            **state.summary(),
        }
        return facts


def read_tensorboard(
    handle: IO[bytes], deadline: float | None, read: ReadState
) -> tuple[FileState, int]:
    """Scalars grouped by step into points (tags of one step are written together)."""
    state = FileState()
    points = 0
    step, record = -1, 0
    values: dict[str, float] = {}
    for record, (at, tag, value) in enumerate(iter_scalars(handle), start=1):
        if record % 10_000 == 0 and deadline is not None and time.monotonic() > deadline:
            read.stopped = f"time limit reached after {record:,} records"
            break
        name = metric_name(tag)
        if name is None:
            if tag.lower().startswith(("val", "eval")):
                state.run.event("evaluation", at, record)
            continue
        if at != step and values:
            points += _flush(state, step, values, record)
            values = {}
        step = at
        values[name] = value
    if values:
        points += _flush(state, step, values, record)
    read.lines = record
    return state, points


def _flush(state: FileState, step: int, values: dict[str, float], record: int) -> int:
    if step < state.run.last_step:
        state.new_run(record)
    state.run.point(step, record, **values)
    state.last_line = record
    return 1


def read_config(paths: Sequence[str]) -> tuple[FileState, list[str]]:
    """Intervals stated by training configs (mmengine .py, YAML, JSON); problems as text."""
    state = FileState()
    problems = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_CONFIG + 1)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        if len(data) > MAX_CONFIG or b"\x00" in data[:8192]:
            problems.append(f"{path}: not a config file (binary or over 2 MiB)")
            continue
        for number, line in enumerate(data.splitlines(), start=1):
            scan_config_line(state.run, line, f"{os.path.basename(path)} line {number}")
    return state, problems


def read_logs(
    paths: Sequence[str],
    *,
    configs: Sequence[str] = (),
    budget: float = DEFAULT_BUDGET,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``run_log`` facts section for ``paths``."""
    started = time.monotonic()
    config, problems = read_config(configs) if configs else (None, [])
    files = [read_log(p, deadline=started + budget, config=config) for p in paths]
    return {
        "analysed_at": time.time() if now is None else now,
        "files": files,
        "configs": list(configs),
        "config_problems": problems,
        "seconds": round(time.monotonic() - started, 3),
    }
