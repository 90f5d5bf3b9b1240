"""torch install facts read from files, checked against torch's own collect_env."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import REPO
from conftest import run_cli
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.torch_install import probe_torch
from gpudoctor.probes.torch_install import read_version_py
from gpudoctor.probes.torch_install import torch_facts

CU121_VERSION_PY = """from typing import Optional

__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']
__version__ = '2.5.1+cu121'
debug = False
cuda: Optional[str] = '12.1'
git_version = 'a8d6afb511a69687bbb2b7e88a3cf67917e1697e'
hip: Optional[str] = None
"""


def fake_install(site_dir, version_py, dist_version, requires=(), installer="pip"):
    package = site_dir / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise SystemExit('torch must not be imported')\n")
    (package / "version.py").write_text(version_py)
    info = site_dir / f"torch-{dist_version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", "Name: torch", f"Version: {dist_version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (info / "INSTALLER").write_text(installer + "\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_28_x86_64\n")


def fake_dist(site_dir, name, version):
    info = site_dir / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_version_py_is_parsed_not_executed(tmp_path):
    path = tmp_path / "version.py"
    path.write_text(CU121_VERSION_PY + "\nimport os\nos._exit(3)\n")
    values = read_version_py(path)
    assert values["__version__"] == "2.5.1+cu121"
    assert values["cuda"] == "12.1"  # annotated assignment
    assert values["hip"] is None


def test_cuda_build_with_bundled_libraries(tmp_path):
    env = tmp_path / "env"
    fake_install(
        env,
        CU121_VERSION_PY,
        "2.5.1+cu121",
        requires=["nvidia-cudnn-cu12==9.1.0.70; platform_system == 'Linux'", "filelock"],
    )
    fake_dist(env, "nvidia-cudnn-cu12", "9.1.0.70")
    fake_dist(env, "nvidia-nccl-cu12", "2.21.5")
    fake_dist(env, "nvidia-cublas-cu12", "12.1.3.1")
    facts = torch_facts([str(env)], None, str(env))
    assert facts["version"] == "2.5.1+cu121"
    assert facts["local_tag"] == "cu121"
    assert facts["cuda"] == "12.1"
    assert facts["cudnn_version"] == "9.1.0.70"
    assert facts["bundled_libraries"]["nvidia-nccl-cu12"] == "2.21.5"
    assert facts["installs"][0]["bundled_requirements"] == ["nvidia-cudnn-cu12==9.1.0.70"]


def test_user_site_copy_shadowing_the_environment_is_two_installs(tmp_path):
    user, env = tmp_path / "user", tmp_path / "env"
    fake_install(user, CU121_VERSION_PY.replace("2.5.1+cu121", "2.1.0+cu118"), "2.1.0+cu118")
    fake_install(env, CU121_VERSION_PY, "2.5.1+cu121")
    facts = torch_facts([str(user), str(env), str(env)], str(user), str(user))
    assert [i["version"] for i in facts["installs"]] == ["2.1.0+cu118", "2.5.1+cu121"]
    assert facts["version"] == "2.1.0+cu118"  # the copy import would load
    assert facts["user_site"] is True


def test_leftover_package_without_metadata_is_still_seen(tmp_path):
    env = tmp_path / "env"
    fake_install(env, CU121_VERSION_PY, "2.5.1+cu121")
    for info in env.glob("torch-*.dist-info"):
        for child in info.iterdir():
            child.unlink()
        info.rmdir()
    [install] = torch_facts([str(env)], None, None)["installs"]
    assert install["has_metadata"] is False
    assert install["version"] == "2.5.1+cu121"


def test_no_torch_anywhere(tmp_path):
    facts = torch_facts([str(tmp_path)], None, None)
    assert facts["installed"] is False
    assert facts["version"] is None


def _collect_env_field(output, label):
    match = re.search(rf"^{re.escape(label)}: (.*)$", output, re.MULTILINE)
    assert match, f"collect_env printed no {label!r} line"
    value = match.group(1).strip()
    return None if value in ("None", "Could not collect", "N/A") else value


def test_matches_torch_collect_env_on_this_interpreter():
    """Same torch version, CUDA build and cuDNN version as PyTorch's own report."""
    done = subprocess.run(
        [sys.executable, "-m", "torch.utils.collect_env"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    # this interpreter, whatever environment the shell running the tests has activated
    own = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    facts = probe_torch(ProbeContext(env=own))
    assert facts["target"]["is_gpudoctor"] is True
    assert facts["version"] == _collect_env_field(done.stdout, "PyTorch version")
    assert facts["cuda"] == _collect_env_field(done.stdout, "CUDA used to build PyTorch")
    theirs = _collect_env_field(done.stdout, "cuDNN version")
    if theirs is not None or facts["cuda"] is None:
        assert facts["cudnn_version"] == theirs
    # Without a usable GPU collect_env cannot ask cuDNN; a CUDA wheel still bundles one,
    # whose version gpudoctor reads from the wheel (None only if the wheel has none).
    debug = _collect_env_field(done.stdout, "Is debug build")
    assert facts["debug"] is (debug == "True")


HOOK = """
import atexit, os, sys

LOG = os.environ["GPUDOCTOR_TEST_IMPORT_LOG"]


class RefuseTorch:
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torch" or fullname.startswith("torch."):
            with open(LOG, "a") as log:
                log.write("attempted " + fullname + "\\n")
            raise ImportError("torch imported by the check process")
        return None


sys.meta_path.insert(0, RefuseTorch())


@atexit.register
def _report():
    with open(LOG, "a") as log:
        log.write("exit torch_in_modules=" + str("torch" in sys.modules) + "\\n")
"""


def test_check_never_imports_torch(tmp_path):
    """A live check under an import hook that records (and refuses) any torch import."""
    (tmp_path / "sitecustomize.py").write_text(HOOK)
    log = tmp_path / "imports.log"
    done = run_cli(
        "check",
        "--format",
        "json",
        env={
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "src")]),
            "GPUDOCTOR_TEST_IMPORT_LOG": str(log),
            # inspect this interpreter (no child for another one, which the hook would log)
            "VIRTUAL_ENV": sys.prefix,
        },
    )
    assert log.read_text().splitlines() == ["exit torch_in_modules=False"]
    report = json.loads(done.stdout)
    assert _public(report["facts"]["torch"]["version"]) == _public(_installed_torch_version())


def _installed_torch_version():
    from importlib.metadata import version

    return version("torch")


def _public(text):
    """The version without its local tag: PyPI's CUDA wheels say 2.13.0, torch 2.13.0+cu130."""
    from packaging.version import Version

    return Version(text).public


def test_the_import_hook_does_catch_a_torch_import(tmp_path):
    """Control for the test above: the same hook records a plain ``import torch``."""
    (tmp_path / "sitecustomize.py").write_text(HOOK)
    log = tmp_path / "imports.log"
    env = dict(os.environ, PYTHONPATH=str(tmp_path), GPUDOCTOR_TEST_IMPORT_LOG=str(log))
    subprocess.run(
        [sys.executable, "-c", "import torch"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert "attempted torch" in log.read_text()
