"""Test sessions per Python and per torch wheel: ``nox -l`` lists them, ``nox`` runs them all.

Each Python that gpudoctor supports gets a session; an interpreter that is not installed is
skipped, not an error, so ``nox`` runs on whatever the machine has. The torch wheel is
either the CPU build (from PyTorch's CPU index, ``GPUDOCTOR_TORCH_CPU_INDEX`` to override)
or the default build from PyPI, which on Linux is the CUDA build: the suite must pass with
both on a machine without a GPU. pip picks the newest torch that has a wheel for the session's
Python (2.8 for 3.9).
"""

from __future__ import annotations

import os

import nox

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
CPU_INDEX = os.environ.get("GPUDOCTOR_TORCH_CPU_INDEX", "https://download.pytorch.org/whl/cpu")

nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "lint"]


@nox.session(python=PYTHONS)
@nox.parametrize("wheel", ["cpu", "cuda"])
def tests(session: nox.Session, wheel: str) -> None:
    """The test suite with the CPU or the default (CUDA on Linux) torch wheel."""
    if wheel == "cpu":
        session.install("torch", "--index-url", CPU_INDEX)
    else:
        session.install("torch")
    session.install("-e", ".[test,chart]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(python=PYTHONS[-1])
def lint(session: nox.Session) -> None:
    """ruff and mypy, as CI runs them."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
