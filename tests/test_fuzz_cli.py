"""A slice of ``benchmarks/fuzz_cli.py``: a few hundred hypothesis cases through the CLI.

Every input surface (replay, .wslconfig, scripts/configs, diff, bench options): no
traceback, no internal error, exit codes 0/1/2 only, no case over 30 s.
"""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import fuzz_cli  # noqa: E402


def test_cli_survives_fuzzing_on_every_surface():
    stats = fuzz_cli.run(300, seed=7)
    assert stats.cases >= 290
    assert set(stats.by_surface) == {"replay", "diff", "wslconfig", "script/config", "bench"}
    assert stats.examples == []
    assert stats.tracebacks == 0
    assert stats.internal == 0
    assert set(stats.codes) <= {0, 1, 2}
    assert stats.slowest <= fuzz_cli.CASE_LIMIT_S
