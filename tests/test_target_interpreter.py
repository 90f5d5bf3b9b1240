"""The target interpreter: gpudoctor in one environment, torch in another (real venvs)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from gpudoctor.probes import torch_install
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.target import choose
from gpudoctor.probes.target import env_python
from gpudoctor.probes.target import is_tool_environment
from gpudoctor.probes.target import resolve_target
from gpudoctor.probes.torch_install import family_packages
from gpudoctor.probes.torch_install import probe_torch

#: Distributions that make up torch and torchvision; gpudoctor's own environment lacks them.
TORCH_PARTS = ("torch", "torchgen", "functorch", "torchvision", "triton", "nvidia")


def _venv(path: Path) -> Path:
    """A real virtual environment (no pip: creating it takes well under a second)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120
    )
    python = env_python(str(path), windows=sys.platform == "win32")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    Path(site).mkdir(parents=True, exist_ok=True)
    return Path(site)


@pytest.fixture(scope="module")
def two_envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """gpudoctor's environment (its dependencies, no torch) and a training one (this run's torch).

    Both reuse the packages installed for this test run instead of downloading: the training
    environment sees them through a ``.pth`` file, gpudoctor's gets symlinks to everything
    except torch and torchvision.
    """
    try:
        importlib.metadata.distribution("torch")
        importlib.metadata.distribution("torchvision")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("torch and torchvision are test requirements (see .ci/run)")
    source = Path(sysconfig.get_paths()["purelib"])
    root = tmp_path_factory.mktemp("envs")
    train_site = _venv(root / "train")
    (train_site / "shared.pth").write_text(str(source) + "\n")
    tool_site = _venv(root / "tool")
    for entry in source.iterdir():
        if entry.name.lower().startswith(TORCH_PARTS) or entry.suffix == ".pth":
            continue
        (tool_site / entry.name).symlink_to(entry)
    (tool_site / "gpudoctor-src.pth").write_text(str(REPO / "src") + "\n")
    windows = sys.platform == "win32"
    return {
        # The release without a local tag: torch.__version__ has "+cu128" where the PyPI
        # wheel's metadata does not.
        "torch": importlib.metadata.version("torch").split("+")[0],
        "train": root / "train",
        "train_python": env_python(str(root / "train"), windows),
        "tool_python": env_python(str(root / "tool"), windows),
    }


def _gpudoctor(envs: dict[str, Path], *args: str, virtual_env: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env.pop("PYTHONPATH", None)
    if virtual_env is not None:
        env["VIRTUAL_ENV"] = str(virtual_env)
    result = subprocess.run(
        [str(envs["tool_python"]), "-m", "gpudoctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def _torch_facts(document: dict) -> dict:
    return document["facts"]["torch"]


def test_gpudoctor_alone_sees_no_torch_in_its_own_environment(two_envs):
    doc = _gpudoctor(two_envs, "check", "--format", "json", virtual_env=None)
    torch = _torch_facts(doc)
    assert torch["installed"] is False
    assert torch["target"]["executable"] == str(two_envs["tool_python"])
    assert "no other environment is active" in torch["target"]["reason"]


def test_virtual_env_points_gpudoctor_at_the_training_environment(two_envs):
    doc = _gpudoctor(two_envs, "check", "--format", "json", virtual_env=two_envs["train"])
    torch = _torch_facts(doc)
    assert torch["installed"] is True
    assert torch["version"].split("+")[0] == two_envs["torch"]
    vision = importlib.metadata.version("torchvision").split("+")[0]
    assert torch["packages"]["torchvision"]["version"].split("+")[0] == vision
    assert torch["target"]["executable"] == str(two_envs["train_python"])
    assert torch["target"]["reason"] == f"VIRTUAL_ENV points at {two_envs['train']}"
    findings = {f["id"] for f in doc["findings"]}
    assert "GD209" in findings  # the family check ran on the training environment's packages


def test_python_option_and_the_report_name_the_inspected_interpreter(two_envs):
    python = str(two_envs["train_python"])
    doc = _gpudoctor(two_envs, "report", "--format", "json", "--python", python, virtual_env=None)
    torch = _torch_facts(doc)
    assert torch["version"].split("+")[0] == two_envs["torch"]
    assert torch["target"] == {
        **torch["target"],
        "executable": python,
        "reason": "chosen with --python",
    }
    # the collect_env part asked the training interpreter's torch itself, in a child process
    answers = doc["facts"]["collect_env"]["torch"]
    assert str(answers.get("torch_version")).split("+")[0] == two_envs["torch"], answers
    # and pip's list is the training environment's, which has torch (gpudoctor's has none)
    pip = doc["facts"]["system"]["pip_packages"]
    assert any(line.split("+")[0] == f"torch=={two_envs['torch']}" for line in pip)


def test_the_markdown_report_says_which_interpreter_it_inspected(two_envs):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env.pop("PYTHONPATH", None)
    env["VIRTUAL_ENV"] = str(two_envs["train"])
    result = subprocess.run(
        [str(two_envs["tool_python"]), "-m", "gpudoctor", "report"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "VIRTUAL_ENV points at" in result.stdout
    assert two_envs["torch"] in result.stdout


# -- selection rules, without child processes where none is needed ----------------------


def test_active_environment_that_is_gpudoctors_own_is_inspected_in_process():
    ctx = ProbeContext(env={"VIRTUAL_ENV": sys.prefix})
    assert choose(ctx) == (None, "gpudoctor runs inside the active environment (VIRTUAL_ENV)")


def test_conda_prefix_is_the_fallback_after_virtual_env(tmp_path):
    ctx = ProbeContext(env={"CONDA_PREFIX": str(tmp_path)}, platform="linux")
    executable, reason = choose(ctx)
    assert executable == str(tmp_path / "bin" / "python")
    assert reason == f"CONDA_PREFIX points at {tmp_path}"


def test_explicit_python_wins_over_the_environment(tmp_path):
    ctx = ProbeContext(env={"VIRTUAL_ENV": str(tmp_path)}, options={"python": "/opt/py/bin/python"})
    assert choose(ctx) == ("/opt/py/bin/python", "chosen with --python")


def test_tool_environments_are_recognised():
    assert is_tool_environment("/home/u/.local/share/pipx/venvs/gpudoctor")
    assert is_tool_environment("/home/u/.local/share/uv/tools/gpudoctor")
    assert not is_tool_environment("/home/u/project/.venv")


def test_a_broken_interpreter_leaves_torch_facts_unavailable_with_the_reason(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'boom' >&2\nexit 3\n")
    fake.chmod(0o755)
    ctx = ProbeContext(options={"python": str(fake)})
    assert "exit 3" in resolve_target(ctx)["error"]
    facts = probe_torch(ctx)
    assert "exit 3" in facts["installed"].reason
    assert facts["target"]["reason"] == "chosen with --python"


def test_a_hanging_interpreter_is_reported_as_a_hang(tmp_path, monkeypatch):
    import gpudoctor.probes.target as target

    monkeypatch.setattr(target, "QUERY_TIMEOUT", 0.5)
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    result = resolve_target(ProbeContext(options={"python": str(fake)}))
    assert "did not answer within 0.5 s" in result["error"]


def test_family_packages_read_pins_tags_and_urls_from_metadata(tmp_path):
    def dist(name: str, version: str, *lines: str, url: str | None = None) -> None:
        info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *lines]
        (info / "METADATA").write_text("\n".join(meta) + "\n")
        if url:
            (info / "direct_url.json").write_text(json.dumps({"url": url}))

    dist("torchvision", "0.21.0", "Requires-Dist: torch (==2.6.0)", "Requires-Dist: numpy")
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "version.py").write_text("__version__ = '0.21.0+cu124'\n")
    dist("mmcv", "2.1.0", url="https://download.openmmlab.com/mmcv/dist/cu118/torch2.1.0/mmcv.whl")
    dist("requests", "2.0")
    found = family_packages([str(tmp_path)])
    assert set(found) == {"torchvision", "mmcv"}
    assert found["torchvision"]["requires"] == ["torch (==2.6.0)"]
    assert found["torchvision"]["built_version"] == "0.21.0+cu124"
    assert found["mmcv"]["direct_url"].endswith("/cu118/torch2.1.0/mmcv.whl")
    assert found["mmcv"]["has_extension"] is None  # no mmcv package directory at all


def test_family_packages_survive_broken_metadata(tmp_path):
    """A binary direct_url.json and a METADATA without a version are facts, not crashes."""
    info = tmp_path / "mmcv-2.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mmcv\n")
    (info / "direct_url.json").write_bytes(b"\xff\xfe\x00garbage")
    empty = tmp_path / "torchvision-0.1.dist-info"
    empty.mkdir()
    (empty / "METADATA").write_bytes(b"")
    found = family_packages([str(tmp_path)])
    assert found["mmcv"]["direct_url"] is None
    assert "torchvision" not in found  # no Name: not attributed to anything


def test_family_packages_read_only_the_metadata_of_family_folders(tmp_path, monkeypatch):
    """Other distributions are passed over by folder name, their METADATA never parsed."""
    for folder, name in (
        ("flash_attn-2.7.4.dist-info", "flash-attn"),
        ("torchvision_extra-1.0.dist-info", "torchvision-extra"),
        ("numpy-2.1.0.dist-info", "numpy"),
        ("Requests-2.0.dist-info", "requests"),
    ):
        (tmp_path / folder).mkdir()
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
        (tmp_path / folder / "METADATA").write_text(meta)
    read: list[str] = []
    original = torch_install.read_headers

    def spy(info_dir):
        read.append(os.path.basename(info_dir))
        return original(info_dir)

    monkeypatch.setattr(torch_install, "read_headers", spy)
    found = family_packages([str(tmp_path)])
    assert set(found) == {"flash-attn"}
    assert sorted(set(read)) == ["flash_attn-2.7.4.dist-info", "torchvision_extra-1.0.dist-info"]


def test_undecodable_metadata_is_passed_over(tmp_path):
    info = tmp_path / "torch-2.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_bytes(b"Metadata-Version: 2.1\nName: \xff\xfe torch\n")
    assert "torch" not in family_packages([str(tmp_path)])
