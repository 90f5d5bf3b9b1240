"""The registry's contract: valid unique ids, a reference page per check, plugins validated."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO
from conftest import run_cli
from gpudoctor.errors import PluginError
from gpudoctor.registry import ID_PATTERN
from gpudoctor.registry import NAME_PATTERN
from gpudoctor.registry import Registry
from gpudoctor.registry import load_registry

REGISTRY = load_registry(plugins=False)


def test_builtin_ids_and_names_are_valid_and_unique():
    specs = list(REGISTRY)
    assert len({s.id for s in specs}) == len(specs)
    assert len({s.name for s in specs}) == len(specs)
    for spec in specs:
        assert ID_PATTERN.match(spec.id)
        assert spec.id.startswith("GD")
        assert NAME_PATTERN.match(spec.name)


@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda s: s.id)
def test_every_check_has_a_reference_page_with_the_sections(spec):
    page = REPO / "checks" / f"{spec.id}.md"
    assert page.is_file(), f"missing reference page {page}"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {spec.id} {spec.name}\n")
    for section in (
        "## What it checks",
        "## Why it matters",
        "## How it is detected",
        "## Remedies",
        "## Fix safety",
    ):
        assert section in text, f"{page.name} lacks {section!r}"


def test_plugin_with_wrong_prefix_is_refused():
    import types

    from gpudoctor.api import check

    module = types.ModuleType("acme_checks")

    @check("GD777", "sneaky", summary="Pretends to be built in")
    def sneaky(facts):
        return None

    module.sneaky = sneaky
    with pytest.raises(PluginError, match="prefix"):
        Registry().add_module(module, prefix="ACME", origin="acme 1.0")


def _fake_distribution(root, name, prefix, module, source):
    """A real installed-distribution layout on disk, found by importlib.metadata."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[gpudoctor.checks]\n{prefix} = {module}\n")


def test_broken_plugin_becomes_gd900_and_other_checks_still_run(tmp_path):
    _fake_distribution(
        tmp_path,
        "broken-plugin",
        "BRK",
        "brk_checks",
        "raise RuntimeError('plugin bug at import')\n",
    )
    env = {"PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{tmp_path}"}
    result = run_cli(
        "check", "--replay", str(REPO / "fixtures/machines/docker-shm-64m.json"), env=env
    )
    assert result.returncode == 1
    assert "GD900" in result.stdout
    assert "plugin bug at import" in result.stdout
    assert "GD303" in result.stdout


def test_example_plugin_installs_and_is_picked_up(tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO / "examples" / "gpudoctor-example-plugin"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{target}"}
    listed = run_cli("list", env=env)
    assert "EXA001" in listed.stdout
    assert "gpudoctor-example-plugin 0.1.0" in listed.stdout
    result = run_cli("check", "--select", "EXA", "-v", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "EXA001 python-is-64-bit: Python is 64-bit" in result.stdout


def test_the_checks_check_never_runs_load_on_demand():
    """``check``'s registry leaves out cluster and watch checks until something names one."""
    import importlib

    from gpudoctor.checks.cluster import cluster_specs
    from gpudoctor.registry import WATCH_MODULES

    full = load_registry(plugins=False)
    for name in WATCH_MODULES:
        module = importlib.import_module(name)
        specs = [s for s in full if s.func is not None and s.func.__module__ == module.__name__]
        assert specs, name
        assert all("watch" in s.tags for s in specs), name
    left_out = sorted({s.id for s in full if "watch" in s.tags} | {s.id for s in cluster_specs()})
    assert left_out

    partial = load_registry(plugins=False, everything=False)
    assert not set(left_out) & {s.id for s in partial.select()}
    assert [s.id for s in partial.select(["GD1"])] == [s.id for s in full.select(["GD1"])]
    assert partial.load_rest is not None
    for token in (left_out[0], "GD0", full.get(left_out[-1]).name):  # type: ignore[union-attr]
        fresh = load_registry(plugins=False, everything=False)
        assert [s.id for s in fresh.select([token])] == [s.id for s in full.select([token])]
    fresh = load_registry(plugins=False, everything=False)
    assert [s.id for s in fresh] == [s.id for s in full]
    assert load_registry(plugins=False, everything=False).get(left_out[0]) == full.get(left_out[0])
