"""No regular expression in gpudoctor backtracks catastrophically on hostile input.

Every module-level compiled pattern (and every one compiled on first use) is run (``search``
and ``findall``, as the readers use them) against long runs of the characters that patterns
repeat, at two lengths. A linear scan grows 4x from the short to the long input; quadratic
backtracking grows 16x and exponential never finishes. CPU time, the best of three, is
compared; tiny times pass.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time

import pytest

import gpudoctor
from gpudoctor.lazy_regex import LazyPattern

#: Modules that only run in a child process with torch (not imported here).
SKIP_MODULES = ("_gpu_child", "_loader_child", "_child")
SHORT, LONG = 1500, 6000
#: Patterns only ever used with ``fullmatch`` (anchored at both ends): timed that way.
FULLMATCH_ONLY = {
    "gpudoctor.probes.managed._SERVICE": "fullmatch on one cgroup path segment",
    "gpudoctor.probes.managed._SCOPE": "fullmatch on one cgroup path segment",
}
PIECES = ["a", " ", "/", "0", ".", "-", "=", ":", "\\", "\t", "A1", "a=", "a.", "/a", "- ", "x:"]


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found: dict[tuple[str, int], tuple[str, re.Pattern[str]]] = {}
    for info in pkgutil.walk_packages(gpudoctor.__path__, "gpudoctor."):
        if info.name.rsplit(".", 1)[-1].endswith(SKIP_MODULES):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, LazyPattern):  # compiled on first use: compile it here
                value = value.compiled()
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                found[(value.pattern, value.flags)] = (f"{info.name}.{name}", value)
    return sorted(found.values(), key=lambda item: item[0])


def _cpu(pattern: re.Pattern[str], text: str, *, anchored: bool) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        if anchored:
            pattern.fullmatch(text)
        else:
            pattern.search(text)
            pattern.findall(text)
        best = min(best, time.process_time() - started)
    return best


PATTERNS = _patterns()


def test_patterns_were_found() -> None:
    assert len(PATTERNS) > 20


@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[w for w, _ in PATTERNS])
def test_pattern_is_linear_on_hostile_input(where: str, pattern: re.Pattern[str]) -> None:
    anchored = where in FULLMATCH_ONLY
    for piece in PIECES:
        short = piece * (SHORT // len(piece)) + "\x00!"
        long = piece * (LONG // len(piece)) + "\x00!"
        small = _cpu(pattern, short, anchored=anchored)
        large = _cpu(pattern, long, anchored=anchored)
        assert large < 0.02 or large < 9 * small, (
            f"{where} ({pattern.pattern!r}) on {piece!r} runs: {small:.4f} s at {SHORT} "
            f"chars, {large:.4f} s at {LONG}"
        )
