"""Turning a user's file into text we are willing to analyse, or a reason why not.

Scripts and configs come from anywhere: a binary checkpoint passed by mistake, a 200 MB
generated file, Latin-1 comments. Every such case becomes a "not understood" record with a
plain reason instead of an exception, so the rest of the report still appears.
"""

from __future__ import annotations

import ast
import io
import os
import tokenize
import warnings
from typing import Any
from typing import Callable

from gpudoctor.gc_pause import collector_paused

#: Files larger than this are not read: no training script or config is this large.
MAX_SOURCE_BYTES = 2 * 1024 * 1024


class NotUnderstood(Exception):
    """The file cannot be analysed; the message says why in one line."""


def read_source_bytes(path: str | os.PathLike[str], limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The file's bytes, or NotUnderstood when it is missing, unreadable or too large."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise NotUnderstood("file not found") from None
    except IsADirectoryError:
        raise NotUnderstood("is a directory, not a file") from None
    except OSError as exc:
        raise NotUnderstood(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise NotUnderstood(f"larger than {limit // (1024 * 1024)} MiB; not read")
    return data


def decode_text(data: bytes, *, python: bool) -> str:
    """Text of ``data``: UTF-8 (or a PEP 263 coding line for Python), never binary."""
    if b"\x00" in data:
        raise NotUnderstood("binary file (contains NUL bytes), not text")
    encoding = "utf-8"
    if python:
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except LookupError:
            raise NotUnderstood("declares an unknown source encoding") from None
        except SyntaxError:
            encoding = "utf-8"  # undecodable first lines: the strict decode below says so
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise NotUnderstood(f"not valid {encoding} text") from None
    return text.lstrip("\ufeff")


def split_lines(text: str) -> list[str]:
    """Lines as the Python parser numbers them (only \\n, \\r\\n and \\r end a line)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def source_segment(lines: list[str], node: object, limit: int = 100) -> str:
    """The source text of an ast node on one line, shortened to ``limit`` characters.

    ``ast.get_source_segment`` re-splits the whole file on every call, which is quadratic
    on large files; this reads the already split lines.
    """
    first, last = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
    start, end = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
    if first is None or last is None or start is None or end is None:
        return ""
    if not 1 <= first <= last <= len(lines):
        return ""
    last = min(last, first + 20)  # long calls: the first lines say enough
    chunk = [line.encode("utf-8") for line in lines[first - 1 : last]]
    if len(chunk) == 1:
        chunk[0] = chunk[0][start:end]
    else:
        chunk[0] = chunk[0][start:]
        if last == getattr(node, "end_lineno", None):
            chunk[-1] = chunk[-1][:end]
    text = " ".join(b" ".join(chunk).decode("utf-8", errors="replace").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def not_understood(path: str, kind: str, reason: str) -> dict[str, Any]:
    """The record for a file we could not analyse; same keys as a successful one."""
    return {
        "path": path,
        "kind": kind,
        "understood": False,
        "reason": reason,
        "loaders": [],
        "unpicklable": [],
        "start_methods": [],
        "main_guard": None,
        "worker_starts": [],
        "unguarded_code": None,
        "cache": None,
        "trainers": [],
        "notes": [],
    }


def analyse_python(
    text: str, path: str, kind: str, analyser: Callable[[ast.Module, str, str], Any]
) -> dict[str, Any]:
    """Parse ``text`` with ``ast`` (never run it) and hand the tree to ``analyser(...).run()``.

    Syntax errors, parser limits and pathologically nested code become a "not understood"
    record instead of an exception.
    """
    # A large file's tree is hundreds of thousands of objects; the cyclic garbage collector
    # would rescan them again and again while they are created, doubling the parse time.
    # Trees have no cycles that matter here, so collection waits until the reading is done.
    with collector_paused():
        return _parse_and_run(text, path, kind, analyser)


def _parse_and_run(
    text: str, path: str, kind: str, analyser: Callable[[ast.Module, str, str], Any]
) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():  # user code's escape-sequence warnings are noise here
            warnings.simplefilter("ignore")
            tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        return not_understood(path, kind, f"Python syntax error{where}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return not_understood(path, kind, f"cannot be parsed as Python: {type(exc).__name__}")
    try:
        result: dict[str, Any] = analyser(tree, text, path).run()
        return result
    except (RecursionError, MemoryError):
        return not_understood(path, kind, "too deeply nested to analyse")


def literal_value(node: ast.AST) -> tuple[bool, Any]:
    """(True, value) for a JSON-friendly literal; (False, None) otherwise."""
    if not isinstance(node, (ast.Constant, ast.UnaryOp)):
        return False, None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    if value is None or isinstance(value, (bool, int, float, str)):
        return True, value
    return False, None
