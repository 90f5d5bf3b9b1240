"""Shared test helpers: build facts one section at a time, run the CLI as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpudoctor.facts.model import Facts

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures" / "machines"


def healthy_sections() -> dict[str, Any]:
    """Facts of a healthy Linux workstation without a GPU; tests override one part at a time."""
    doc = json.loads((FIXTURES / "linux-workstation-healthy.json").read_text())
    return doc["facts"]


def make_facts(**overrides: Any) -> Facts:
    """Healthy facts with whole sections replaced, or dotted paths set (``memory__total_bytes``)."""
    sections = healthy_sections()
    for key, value in overrides.items():
        parts = key.split("__")
        node = sections
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return Facts(sections)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gpudoctor ARGS`` in a child process, as a user's shell would."""
    full_env = dict(os.environ)
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        full_env.pop(name, None)
    src = str(REPO / "src")
    full_env["PYTHONPATH"] = src + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "gpudoctor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def cli():
    return run_cli
