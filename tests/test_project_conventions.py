"""The package as others meet it: license, metadata, CI matrix and nox sessions agree."""

from __future__ import annotations

import ast
import re

import yaml

from conftest import REPO

try:
    import tomllib
except ImportError:  # Python < 3.11: hatchling's own dependency
    import tomli as tomllib  # type: ignore[no-redef]

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def _supported() -> list[str]:
    """Python versions from the classifiers, oldest first."""
    found = [
        c.rsplit(" :: ", 1)[1]
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


def test_license_file_is_mit_like_the_metadata():
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert PROJECT["license"] == "MIT"
    assert text.startswith("MIT License")
    assert "gpudoctor developers" in text


def test_classifiers_name_every_python_from_requires_python():
    versions = _supported()
    assert versions[0] == PROJECT["requires-python"].lstrip(">=")
    minors = [int(v.split(".")[1]) for v in versions]
    assert minors == list(range(minors[0], minors[-1] + 1))


def test_no_placeholder_urls():
    for url in PROJECT.get("urls", {}).values():
        assert "example" not in url
        assert url.startswith("https://")


def test_ci_runs_three_systems_on_the_oldest_and_newest_python_plus_lint():
    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    matrix = workflow["jobs"]["tests"]["strategy"]["matrix"]
    assert set(matrix["os"]) == {"ubuntu-latest", "windows-latest", "macos-latest"}
    versions = _supported()
    assert matrix["python"] == [versions[0], versions[-1]]
    lint = " ".join(step.get("run", "") for step in workflow["jobs"]["lint"]["steps"])
    for tool in ("ruff check", "ruff format --check", "mypy"):
        assert tool in lint


def test_nox_has_a_session_per_supported_python():
    tree = ast.parse((REPO / "noxfile.py").read_text(encoding="utf-8"))
    pythons = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PYTHONS"
    )
    assert pythons == _supported()


def test_chart_extra_brings_matplotlib():
    assert any(dep.startswith("matplotlib") for dep in PROJECT["optional-dependencies"]["chart"])
