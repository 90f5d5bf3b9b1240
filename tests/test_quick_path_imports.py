"""``gpudoctor check`` loads what it uses: the modules of other commands and formats stay out.

Every module imported costs start-up time on each run (benchmarks/bench_check.py measures
it); these are the ones that only other commands, other formats or other platforms need.
"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

#: Never imported by a plain ``gpudoctor check`` on any platform.
NOT_ON_THE_QUICK_PATH = (
    "torch",
    "urllib.request",  # jupyter: only when a server is asked
    "http.client",
    "statistics",  # watched runs and clusters
    "difflib",
    "concurrent.futures",  # the report command's probes
    "importlib.metadata",  # eggs, zips and plugins only: dist-info folders are read directly
    "email",
    "gpudoctor.facts.sections",  # the facts' types: for the schema and the type checker
    "gpudoctor.facts.schema",
    "gpudoctor.facts.snapshot",
    "rich",  # plain output is laid out without it (gpudoctor.report.plain_layout)
    "pathlib",  # probes join strings; only the commands that write files load it
    "gpudoctor.checks.run_live",  # checks that only watch and cluster run
    "gpudoctor.checks.cluster",
    "gpudoctor.commands.watch",
    "gpudoctor.commands.bench",
    "gpudoctor.commands.log",
    "gpudoctor.commands.diff",
    "gpudoctor.commands.report",
    "gpudoctor.report.markdown",
    "gpudoctor.report.json_report",
)

LIST_MODULES = """
import atexit, sys
atexit.register(lambda: print(",".join(sorted(sys.modules)), file=sys.stderr))
from gpudoctor.cli import main
main(sys.argv[1:], prog_name="gpudoctor")
"""


def _modules_after(*args: str) -> set[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(
        [sys.executable, "-c", LIST_MODULES, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return set(done.stderr.strip().splitlines()[-1].split(","))


def test_check_imports_only_what_it_uses():
    loaded = _modules_after("check", "--no-plugins")
    assert "gpudoctor.commands.check" in loaded
    assert sorted(m for m in NOT_ON_THE_QUICK_PATH if m in loaded) == []


def test_the_format_asked_for_loads_its_renderer():
    loaded = _modules_after("check", "--no-plugins", "--format", "markdown")
    assert "gpudoctor.report.markdown" in loaded
    assert "gpudoctor.report.json_report" not in loaded
