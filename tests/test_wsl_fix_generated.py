"""``fix --wslconfig`` on generated files: WSL reads what was shown, or nothing changes.

A slice of ``benchmarks/wslconfig_fix_stress.py`` (1,000 files there): continuations, bad
headers, mixed encodings, symlinks, other modes, and, in a private mount namespace, a full
tmpfs and a read-only one.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from conftest import run_cli
from gpudoctor.fixes.wslconfig import plan
from gpudoctor.readers.wslconfig import GiB
from gpudoctor.readers.wslconfig import parse_wslconfig
from gpudoctor.testing.wslconfig_gen import generate
from gpudoctor.testing.wslconfig_gen import run_case


@pytest.mark.parametrize("seed", range(4))
def test_generated_files_are_read_as_shown(tmp_path, seed):
    rng = random.Random(seed)
    failures = []
    for i in range(25):
        data, desc = generate(rng)
        folder = tmp_path / f"c{i}"
        folder.mkdir()
        outcome = run_case(folder, data, link=i % 4 == 0, mode=0o600 if i % 3 == 0 else 0o644)
        if not outcome.ok:
            failures.append((desc, outcome.why, data[:120]))
    assert failures == []


def test_continuations_comment_bytes_typos_and_swap_zero_are_handled():
    original = (
        b"# caf\xe9: cp1252 comment\r\n[wsl2\r\nprocesors=2\r\nmemory=4\\\r\nGB\r\n"
        b"autoMemoryReclaim=gradual\r\nswap=0\r\n; old style\r\n"
    )
    the_plan = plan(original, memory=8 * GiB)
    new = the_plan.new
    assert new.startswith(b"# caf\xe9: cp1252 comment\r\n")  # untouched bytes stay
    parsed = parse_wslconfig(new)
    assert (parsed.memory_bytes, parsed.swap_bytes, parsed.processors) == (8 * GiB, 0, 2)
    assert parsed.value("experimental.autoMemoryReclaim") == "Gradual" or (
        parsed.settings["experimental.automemoryreclaim"].valid
    )
    assert [d for d in parsed.diagnostics if d.severity == "error" and d.line] == []
    assert b"GB\r\n" not in new.split(b"memory=8GB")[1][:4]  # the continuation went too


def test_gd503_is_quiet_after_the_fix_it_recommends(tmp_path):
    target = tmp_path / ".wslconfig"
    target.write_bytes(b"[wsl2]\nprocesors=4\nmemory=4GB\n[boot]\nsystemd=true\n")
    before = run_cli("check", "--wslconfig", str(target), "--select", "GD503")
    assert "[x] GD503" in before.stdout or "[!] GD503" in before.stdout
    done = run_cli(
        "fix", "--wslconfig", "--wslconfig-path", str(target), "--memory", "8GB", "--yes"
    )
    assert done.returncode == 0, done.stderr
    after = run_cli("check", "--wslconfig", str(target), "--select", "GD503", "-v")
    assert "[+] GD503" in after.stdout, after.stdout


def test_symlinks_edit_the_target_or_refuse(tmp_path):
    real = tmp_path / "dotfiles-wslconfig"
    real.write_bytes(b"[wsl2]\nmemory=4GB\n")
    link = tmp_path / ".wslconfig"
    link.symlink_to(real)
    done = run_cli("fix", "--wslconfig", "--wslconfig-path", str(link), "--memory", "8GB", "--yes")
    assert done.returncode == 0, done.stderr
    assert "editing its target" in done.stdout
    assert link.is_symlink()
    assert b"memory=8GB" in real.read_bytes()
    dangling = tmp_path / "d.wslconfig"
    dangling.symlink_to(tmp_path / "missing")
    done = run_cli(
        "fix", "--wslconfig", "--wslconfig-path", str(dangling), "--memory", "8GB", "--yes"
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert dangling.is_symlink()


def test_not_a_wslconfig_is_refused(tmp_path):
    for name, data in (
        ("bin", bytes(range(256)) * 4),
        ("passwd", Path("/etc/passwd").read_bytes()),
    ):
        target = tmp_path / name
        target.write_bytes(data)
        done = run_cli(
            "fix", "--wslconfig", "--wslconfig-path", str(target), "--memory", "8GB", "--yes"
        )
        assert done.returncode == 2, done.stderr
        assert target.read_bytes() == data
        assert not list(tmp_path.glob(f"{name}.gpudoctor-*"))


UNSHARE = shutil.which("unshare")


@pytest.mark.skipif(
    not (UNSHARE and sys.platform.startswith("linux") and os.geteuid() == 0),
    reason="needs root and unshare for a private tmpfs",
)
def test_full_disk_and_read_only_roll_back():
    """A tiny tmpfs, filled to the last page or one page short, and one remounted read-only."""
    script = REPO / "benchmarks" / "wslconfig_fix_stress.py"
    done = subprocess.run(
        [sys.executable, str(script), "--files", "40", "--only-mounts"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        check=False,
    )
    if "cannot mount" in done.stdout:
        pytest.skip("cannot mount a tmpfs here")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bad: 0" in done.stdout
