"""Probes of the environment: toolkit, loader path, power and the --deep torch child."""

from __future__ import annotations

import os
import sys

import pytest

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.power import parse_powercfg
from gpudoctor.probes.power import parse_reg_query
from gpudoctor.probes.power import probe_power
from gpudoctor.probes.toolchain import cuda_home
from gpudoctor.probes.toolchain import parse_ldconfig
from gpudoctor.probes.toolchain import parse_nvcc
from gpudoctor.probes.toolchain import probe_loader
from gpudoctor.probes.toolchain import probe_toolkit
from gpudoctor.probes.toolchain import scan_library_dir
from gpudoctor.probes.torch_runtime import parse_answer
from gpudoctor.probes.torch_runtime import probe_torch_runtime

NVCC_OUTPUT = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2024 NVIDIA Corporation
Built on Thu_Mar_28_02:18:24_PDT_2024
Cuda compilation tools, release 12.4, V12.4.131
Build cuda_12.4.r12.4/compiler.34097967_0
"""


def test_nvcc_release_is_parsed():
    assert parse_nvcc(NVCC_OUTPUT) == "12.4.131"
    assert parse_nvcc("bash: nvcc: command not found") is None


def test_toolkit_probe_runs_a_real_nvcc_and_reads_cuda_home(tmp_path):
    """A stand-in nvcc script printing NVIDIA's format; CUDA_HOME wins over PATH."""
    home = tmp_path / "cuda-12.4"
    (home / "bin").mkdir(parents=True)
    nvcc = home / "bin" / "nvcc"
    nvcc.write_text("#!/bin/sh\ncat <<'EOF'\n" + NVCC_OUTPUT + "EOF\n")
    nvcc.chmod(0o755)
    (home / "version.json").write_text('{"cuda": {"name": "CUDA SDK", "version": "12.4.1"}}')
    path = str(home / "bin") + os.pathsep + os.environ.get("PATH", "")
    env = {"PATH": path, "CUDA_HOME": "/opt/elsewhere"}
    facts = probe_toolkit(ProbeContext(env=env))
    assert facts["nvcc_version"] == "12.4.131"
    assert facts["cuda_home"] == "/opt/elsewhere"
    assert facts["cuda_home_source"] == "CUDA_HOME"
    assert cuda_home(ProbeContext(env={"PATH": ""}), str(nvcc)) == (str(home), "the nvcc on PATH")
    facts = probe_toolkit(ProbeContext(env={"PATH": path}))
    assert facts["cuda_home_version"] == "12.4.1"


def test_the_nvcc_on_path_that_is_the_cuda_homes_runs_once(tmp_path):
    """No version file in the home: its version is the answer the PATH nvcc already gave."""
    home = tmp_path / "cuda"
    (home / "bin").mkdir(parents=True)
    runs = tmp_path / "runs"
    nvcc = home / "bin" / "nvcc"
    nvcc.write_text(f"#!/bin/sh\necho run >> '{runs}'\ncat <<'EOF'\n" + NVCC_OUTPUT + "EOF\n")
    nvcc.chmod(0o755)
    path = str(home / "bin") + os.pathsep + os.environ.get("PATH", "")
    facts = probe_toolkit(ProbeContext(env={"PATH": path}))
    assert facts["cuda_home"] == str(home)
    assert facts["nvcc_version"] == facts["cuda_home_version"] == "12.4.131"
    assert runs.read_text().splitlines() == ["run"]


def test_a_hanging_nvcc_is_reported_not_waited_for(tmp_path, monkeypatch):
    import gpudoctor.probes.toolchain as toolchain

    monkeypatch.setattr(toolchain, "COMMAND_TIMEOUT", 0.5)
    nvcc = tmp_path / "nvcc"
    nvcc.write_text("#!/bin/sh\nsleep 30\n")
    nvcc.chmod(0o755)
    path = str(tmp_path) + os.pathsep + os.environ.get("PATH", "")
    facts = probe_toolkit(ProbeContext(env={"PATH": path}))
    assert "did not answer within 0.5 s" in facts["nvcc_version"].reason


def test_library_dir_scan_follows_sonames_to_full_versions(tmp_path):
    (tmp_path / "libcudnn.so.8.9.2").write_bytes(b"\x7fELF")
    os.symlink("libcudnn.so.8.9.2", tmp_path / "libcudnn.so.8")
    (tmp_path / "libcublas.so.11.11.3.6").write_bytes(b"\x7fELF")
    os.symlink("libcublas.so.11.11.3.6", tmp_path / "libcublas.so.11")
    (tmp_path / "libfoo.so.1").write_bytes(b"")
    found = scan_library_dir(ProbeContext(), str(tmp_path))
    assert [(f["name"], f["family"], f["major"], f["version"]) for f in found] == [
        ("libcublas.so.11", "cublas", 11, "11.11.3.6"),
        ("libcudnn.so.8", "cudnn", 8, "8.9.2"),
    ]
    loader = probe_loader(
        ProbeContext(env={"LD_LIBRARY_PATH": f"{tmp_path}:", "TRITON_LIBCUDA_PATH": str(tmp_path)})
    )
    assert loader["ld_library_path"][0]["libraries"] == found
    assert loader["libcuda"]["triton_path_has_libcuda"] is False


def test_ldconfig_output_is_parsed_the_way_triton_reads_it():
    text = (
        "1204 libs found in cache `/etc/ld.so.cache'\n"
        "\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12\n"
        "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/wsl/lib/libcuda.so.1\n"
    )
    assert parse_ldconfig(text) == {
        "libcuda.so.1": ["/usr/lib/wsl/lib/libcuda.so.1"],
        "libcuda.so": [],
    }


def test_powercfg_and_reg_outputs_are_parsed():
    assert parse_powercfg(
        "Power Scheme GUID: 381b4222-f694-41f0-9685-ff5bb260df2e  (Balanced)\r\n"
    ) == {"guid": "381b4222-f694-41f0-9685-ff5bb260df2e", "name": "Balanced"}
    assert parse_powercfg("Access denied") is None
    reg = (
        "\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\GraphicsDrivers\r\n"
        "    TdrDelay    REG_DWORD    0x3c\r\n    HwSchMode    REG_DWORD    0x2\r\n"
    )
    assert parse_reg_query(reg) == {"TdrDelay": 60, "HwSchMode": 2}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sysfs counters are Linux")
def test_power_probe_on_this_linux_machine_says_what_does_not_apply():
    facts = probe_power(ProbeContext())
    assert "Windows" in facts["tdr"].reason
    assert "Windows" in facts["sysmem_fallback"].reason


def test_runtime_answer_parsing():
    assert parse_answer('noise\n{"cuda_init": "ok"}\n', "", 0) == {"cuda_init": "ok"}
    assert parse_answer("", "Segmentation fault\n", -11) == {
        "error": "exit -11: Segmentation fault"
    }


def test_deep_child_asks_the_real_torch_and_never_this_process():
    """torch is imported in a child of the target interpreter; this process stays clean."""
    import importlib.metadata

    try:
        importlib.metadata.distribution("torch")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("torch is a test requirement")
    before = "torch" in sys.modules
    facts = probe_torch_runtime(ProbeContext(deep=True))
    assert facts["version"].startswith("2.")
    assert isinstance(facts["arch_list"], list)
    assert facts["cuda_init"] in ("ok", "failed")
    assert ("torch" in sys.modules) == before
