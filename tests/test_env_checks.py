"""Environment checks GD108-GD112 and GD208-GD213: each fires on its case and stays quiet."""

from __future__ import annotations

import copy

from conftest import make_facts
from gpudoctor.checks.gpu_env import cuda_after_resume
from gpudoctor.checks.gpu_env import cuda_device_order
from gpudoctor.checks.gpu_env import fastest_first
from gpudoctor.checks.gpu_env import laptop_power_limits
from gpudoctor.checks.gpu_env import sysmem_fallback
from gpudoctor.checks.gpu_env import windows_tdr_delay
from gpudoctor.checks.torch_env import built_for
from gpudoctor.checks.torch_env import compiled_ops_other_torch
from gpudoctor.checks.torch_env import cuda_library_shadowing
from gpudoctor.checks.torch_env import libcuda_for_triton
from gpudoctor.checks.torch_env import toolkit_vs_torch_cuda
from gpudoctor.checks.torch_env import torch_arch_not_in_wheel
from gpudoctor.checks.torch_env import torch_family_mismatch
from gpudoctor.checks.torch_wheels import parse_arch_list
from gpudoctor.checks.torch_wheels import runs_on
from gpudoctor.checks.torch_wheels import supporting_builds
from gpudoctor.checks.torch_wheels import wheel_arches
from test_gpu_checks import gpu_section
from test_gpu_nvml import RTX_4090

RTX_5090 = {**RTX_4090, "name": "NVIDIA GeForce RTX 5090", "compute_capability": [12, 0]}
T400 = {
    **RTX_4090,
    "name": "NVIDIA T400 4GB",
    "compute_capability": [7, 5],
    "memory": {"total": 4294967296, "free": 4000000000, "used": 294967296},
}


def severities(result):
    results = result if isinstance(result, list) else [result]
    return [v.severity.value for v in results]


def torch_facts(version="2.5.1+cu124", cuda="12.4", packages=None, **extra):
    return {
        "installed": True,
        "version": version,
        "cuda": cuda,
        "local_tag": version.split("+")[1] if "+" in version else None,
        "installs": [],
        "bundled_libraries": {"nvidia-cudnn-cu12": "9.1.0.70", "nvidia-cublas-cu12": "12.4.5.8"},
        "packages": packages if packages is not None else {},
        "target": {"executable": "/env/bin/python", "reason": "VIRTUAL_ENV points at /env"},
        **extra,
    }


# -- tables -------------------------------------------------------------------------------


def test_sass_runs_within_a_major_and_ptx_runs_forward():
    sass, ptx = parse_arch_list("7.5;8.0;8.6;9.0;10.0;12.0+PTX")
    assert runs_on((8, 9), sass, ptx) == "sass"  # sm_86 code on an RTX 4090
    assert runs_on((12, 1), sass, ptx) == "sass"
    assert runs_on((13, 0), sass, ptx) == "ptx"  # only the compute_120 PTX covers it
    assert runs_on((6, 1), sass, ptx) is None
    legacy = parse_arch_list("5.0;6.0;7.0;7.5;8.0;8.6;9.0")
    assert runs_on((12, 0), *legacy) is None


def test_newer_torch_falls_back_to_the_closest_older_row_and_says_so():
    row = wheel_arches("2.13.0+cu128", "12.8")
    assert row is not None
    assert not row.exact
    assert row.release == "2.10"
    assert wheel_arches("2.5.1+cu124", "12.4").exact


def test_supporting_builds_only_name_published_wheels():
    builds = supporting_builds((12, 0))
    assert ("2.7", "12.8") in builds
    assert all(minor != "2.5" for minor, _ in builds)


# -- GD208 ---------------------------------------------------------------------------------


def test_gd208_sm120_with_cu124_fails_with_the_exact_wheel():
    gpu = gpu_section(RTX_5090)
    gpu["driver_version"] = "570.124.04"
    facts = make_facts(torch=torch_facts(), gpu=gpu)
    [verdict] = torch_arch_not_in_wheel(facts)
    assert verdict.severity.value == "fail"
    assert "no kernel image is available" in verdict.title
    command = verdict.remedies[0].commands[0]
    assert command.endswith("--index-url https://download.pytorch.org/whl/cu128")
    assert "torchvision==" in command


def test_gd208_driver_too_old_for_any_fitting_wheel_says_update_first():
    facts = make_facts(torch=torch_facts(), gpu=gpu_section(RTX_5090))  # driver 550.120
    [verdict] = torch_arch_not_in_wheel(facts)
    assert verdict.remedies[0].text.startswith("Update the NVIDIA driver")
    assert "torchvision==0.25.*" in verdict.remedies[0].commands[0]


def test_gd208_quiet_for_an_rtx4090_on_cu124():
    facts = make_facts(torch=torch_facts(), gpu=gpu_section(RTX_4090))
    assert severities(torch_arch_not_in_wheel(facts)) == ["pass"]


def test_gd208_deep_answer_overrides_the_table():
    runtime = {"version": "2.5.1+cu124", "arch_list": ["sm_80", "sm_90", "compute_90"]}
    facts = make_facts(torch=torch_facts(), gpu=gpu_section(RTX_5090), torch_runtime=runtime)
    [verdict] = torch_arch_not_in_wheel(facts)
    assert verdict.severity.value == "info"  # compute_90 PTX is JIT-compiled for sm_120
    assert "get_arch_list" in str(verdict.evidence)


def test_gd208_unknown_release_is_skipped_not_passed():
    facts = make_facts(torch=torch_facts("2.13.0+cu999", "99.9"), gpu=gpu_section(RTX_4090))
    assert severities(torch_arch_not_in_wheel(facts)) == ["skip"]


# -- GD209 / GD210 -------------------------------------------------------------------------


def pkg(version, requires=(), **extra):
    return {"version": version, "requires": list(requires), "location": "/env/site", **extra}


def test_gd209_torchvision_for_another_torch_fails():
    packages = {"torchvision": pkg("0.21.0", ["torch==2.6.0"])}
    result = torch_family_mismatch(make_facts(torch=torch_facts(packages=packages)))
    assert severities(result) == ["fail"]
    assert "requires torch==2.6.0" in result[0].title


def test_gd209_table_catches_a_torchvision_without_a_pin():
    packages = {"torchvision": pkg("0.21.0+cu124")}
    result = torch_family_mismatch(make_facts(torch=torch_facts(packages=packages)))
    assert severities(result) == ["fail"]
    assert "0.20.x" in result[0].title


def test_gd209_cpu_torch_with_a_cuda_torchvision_fails_and_same_major_is_info():
    packages = {"torchvision": pkg("0.28.0", built_version="0.28.0+cu130")}
    facts = make_facts(torch=torch_facts("2.13.0+cpu", None, packages=packages))
    assert severities(torch_family_mismatch(facts)) == ["fail"]
    packages = {"torchvision": pkg("0.20.1+cu121")}
    facts = make_facts(torch=torch_facts(packages=packages))
    assert severities(torch_family_mismatch(facts)) == ["info"]


def test_gd209_triton_other_than_torch_asks_for_warns():
    packages = {
        "torch": pkg("2.5.1+cu124", ['triton==3.1.0; platform_system == "Linux"']),
        "torchvision": pkg("0.20.1+cu124", ["torch==2.5.1"]),
        "triton": pkg("3.0.0"),
    }
    result = torch_family_mismatch(make_facts(torch=torch_facts(packages=packages)))
    assert sorted(severities(result)) == ["pass", "warn"]


def test_gd209_quiet_for_a_matching_family():
    packages = {
        "torchvision": pkg("0.20.1+cu124", ["torch==2.5.1"]),
        "torchaudio": pkg("2.5.1+cu124", ["torch==2.5.1"]),
    }
    assert severities(torch_family_mismatch(make_facts(torch=torch_facts(packages=packages)))) == [
        "pass",
        "pass",
    ]


def test_built_for_reads_tags_and_openmmlab_urls():
    assert built_for(pkg("2.5.8+cu122torch2.3cxx11abiFALSE")) == ("2.3", "cu122", "its version tag")
    url = "https://download.openmmlab.com/mmcv/dist/cu118/torch2.1.0/mmcv-2.1.0-cp311.whl"
    assert built_for(pkg("2.1.0", direct_url=url)) == ("2.1", "cu118", "direct_url.json")
    assert built_for(pkg("2.1.0")) == (None, None, None)


def test_gd210_flash_attn_for_another_torch_fails_and_a_match_passes():
    packages = {"flash-attn": pkg("2.5.8+cu122torch2.3cxx11abiFALSE")}
    facts = make_facts(torch=torch_facts("2.5.1+cu124", "12.4", packages=packages))
    assert severities(compiled_ops_other_torch(facts)) == ["fail"]
    facts = make_facts(torch=torch_facts("2.3.1+cu121", "12.1", packages=packages))
    assert severities(compiled_ops_other_torch(facts)) == ["pass"]


def test_gd210_mmcv_without_ops_or_older_than_torch_warns_and_unknown_is_skipped():
    packages = {"mmcv": pkg("2.1.0", has_extension=False)}
    assert severities(
        compiled_ops_other_torch(make_facts(torch=torch_facts(packages=packages)))
    ) == ["warn"]
    packages = {
        "torch": pkg("2.5.1+cu124", installed_at=2000.0),
        "detectron2": pkg("0.6", has_extension=True, installed_at=1000.0),
    }
    assert severities(
        compiled_ops_other_torch(make_facts(torch=torch_facts(packages=packages)))
    ) == ["warn"]
    packages = {"apex": pkg("0.1", has_extension=True)}
    assert severities(
        compiled_ops_other_torch(make_facts(torch=torch_facts(packages=packages)))
    ) == ["skip"]


# -- GD211 / GD212 / GD213 -----------------------------------------------------------------


def toolkit(version, home="/usr/local/cuda"):
    return {
        "nvcc_path": f"{home}/bin/nvcc",
        "nvcc_version": version,
        "cuda_home": home,
        "cuda_home_source": "CUDA_HOME",
        "cuda_home_version": version,
    }


def test_gd211_major_mismatch_warns_minor_is_info_match_passes():
    assert (
        toolkit_vs_torch_cuda(
            make_facts(torch=torch_facts("2.1.0+cu118", "11.8"), toolkit=toolkit("12.4.131"))
        ).severity.value
        == "warn"
    )
    assert (
        toolkit_vs_torch_cuda(
            make_facts(torch=torch_facts("2.3.1+cu121", "12.1"), toolkit=toolkit("12.4.131"))
        ).severity.value
        == "info"
    )
    assert (
        toolkit_vs_torch_cuda(
            make_facts(torch=torch_facts(), toolkit=toolkit("12.4.1"))
        ).severity.value
        == "pass"
    )


def loader(libraries=(), ldconfig=None, **libcuda):
    return {
        "ld_library_path": [{"dir": "/opt/cuda/lib64", "libraries": list(libraries)}],
        "libcuda": {
            "ldconfig": ldconfig
            if ldconfig is not None
            else {"libcuda.so.1": [], "libcuda.so": []},
            "wsl_lib_exists": False,
            "wsl_lib_has_libcuda": False,
            "triton_libcuda_path": None,
            "triton_path_has_libcuda": None,
            **libcuda,
        },
    }


def lib(name, family, version):
    return {"name": name, "family": family, "version": version, "path": f"/opt/cuda/lib64/{name}"}


def test_gd212_other_cudnn_on_the_path_warns_and_the_same_release_passes():
    clash = loader([lib("libcudnn.so.8", "cudnn", "8.9.2")])
    assert cuda_library_shadowing(make_facts(torch=torch_facts(), loader=clash)).severity.value == (
        "warn"
    )
    same = loader([lib("libcudnn.so.9", "cudnn", "9.1.0")])
    assert cuda_library_shadowing(make_facts(torch=torch_facts(), loader=same)).severity.value == (
        "pass"
    )


def triton_torch():
    return torch_facts(packages={"triton": pkg("3.1.0")})


def test_gd213_wsl_without_loader_cache_entry_fails_and_the_override_passes():
    facts = make_facts(
        torch=triton_torch(),
        gpu=gpu_section(RTX_4090),
        loader=loader(wsl_lib_exists=True, wsl_lib_has_libcuda=True),
        host__kind="wsl2",
    )
    verdict = libcuda_for_triton(facts)
    assert verdict.severity.value == "fail"
    assert "/usr/lib/wsl/lib" in verdict.title
    facts = make_facts(
        torch=triton_torch(),
        gpu=gpu_section(RTX_4090),
        loader=loader(triton_libcuda_path="/usr/lib/wsl/lib", triton_path_has_libcuda=True),
    )
    assert libcuda_for_triton(facts).severity.value == "pass"


def test_gd213_skips_without_triton():
    facts = make_facts(torch=torch_facts(), gpu=gpu_section(RTX_4090), loader=loader())
    assert libcuda_for_triton(facts).severity.value == "skip"


# -- GD108 - GD112 -------------------------------------------------------------------------


def test_gd108_mixed_gpus_without_pci_order_warn_and_show_what_index_0_means():
    gpu = gpu_section(T400, RTX_4090)
    facts = make_facts(gpu=gpu, env={"variables": {"CUDA_VISIBLE_DEVICES": "0"}})
    verdict = cuda_device_order(facts)
    assert verdict.severity.value == "warn"
    assert "0 -> NVIDIA GeForce RTX 4090 (nvidia-smi 1)" in verdict.title
    assert [d["name"] for d in fastest_first(gpu["devices"])][0] == "NVIDIA GeForce RTX 4090"


def test_gd108_quiet_with_pci_bus_id_or_identical_gpus():
    facts = make_facts(
        gpu=gpu_section(T400, RTX_4090), env={"variables": {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}}
    )
    assert cuda_device_order(facts).severity.value == "pass"
    facts = make_facts(gpu=gpu_section(RTX_4090, RTX_4090), env={"variables": {}})
    assert cuda_device_order(facts).severity.value == "pass"


def runtime(state, error=None):
    return {"version": "2.5.1+cu124", "cuda": "12.4", "cuda_init": state, "cuda_error": error}


def test_gd109_cuda_failing_after_resume_fails_with_the_uvm_remedy():
    error = (
        "RuntimeError: CUDA unknown error - this may be due to an incorrectly set up environment"
    )
    facts = make_facts(
        gpu=gpu_section(RTX_4090),
        torch_runtime=runtime("failed", error),
        power={"suspend": {"successful_suspends": 3}},
    )
    verdict = cuda_after_resume(facts)
    assert verdict.severity.value == "fail"
    assert "sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm" in verdict.remedies[0].commands


def test_gd109_quiet_when_cuda_starts_and_skipped_for_a_cpu_build():
    facts = make_facts(gpu=gpu_section(RTX_4090), torch_runtime=runtime("ok"))
    assert cuda_after_resume(facts).severity.value == "pass"
    cpu = {
        **runtime("failed", "AssertionError: Torch not compiled with CUDA enabled"),
        "cuda": None,
    }
    facts = make_facts(gpu=gpu_section(RTX_4090), torch_runtime=cpu)
    assert cuda_after_resume(facts).severity.value == "skip"


def laptop_gpu(limit_w):
    device = copy.deepcopy(RTX_4090)
    device.update(power_limit_mw=int(limit_w * 1000), power_default_limit_mw=115000)
    return gpu_section(device)


def test_gd110_battery_and_a_low_cap_warn_plugged_in_at_default_passes():
    facts = make_facts(gpu=laptop_gpu(55), power={"battery": {"percent": 64.0, "plugged": False}})
    verdict = laptop_power_limits(facts)
    assert verdict.severity.value == "warn"
    assert "on battery" in verdict.title
    assert "55 W, 48%" in verdict.title
    facts = make_facts(gpu=laptop_gpu(115), power={"battery": {"percent": 99.0, "plugged": True}})
    assert laptop_power_limits(facts).severity.value == "pass"


def test_gd111_default_tdr_is_info_and_a_long_delay_passes():
    tdr = {"delay_s": None, "level": None, "source": "winreg"}
    assert windows_tdr_delay(make_facts(power={"tdr": tdr})).severity.value == "info"
    tdr = {"delay_s": 60, "level": None, "source": "winreg"}
    assert windows_tdr_delay(make_facts(power={"tdr": tdr})).severity.value == "pass"


def test_gd112_full_vram_on_windows_is_info_and_linux_is_skipped():
    full = copy.deepcopy(RTX_4090)
    full["memory"] = {"total": 8589934592, "free": 100000000, "used": 8489934592}
    gpu = gpu_section(full)
    gpu["driver_version"] = "566.36"
    facts = make_facts(gpu=gpu, host__kind="windows")
    assert sysmem_fallback(facts).severity.value == "info"
    gpu = gpu_section(RTX_4090)
    gpu["driver_version"] = "566.36"
    assert sysmem_fallback(make_facts(gpu=gpu, host__kind="windows")).severity.value == "skip"
    assert sysmem_fallback(make_facts(gpu=gpu)).severity.value == "skip"


def test_gd214_names_another_interpreter_and_warns_when_it_cannot_be_read():
    from gpudoctor.checks.torch_env import target_interpreter

    other = {"executable": "/env/bin/python", "reason": "VIRTUAL_ENV points at /env"}
    facts = make_facts(torch=torch_facts(target={**other, "is_gpudoctor": False}))
    verdict = target_interpreter(facts)
    assert verdict.severity.value == "info"
    assert "/env/bin/python" in verdict.title
    broken = {**other, "error": "/env/bin/python failed (exit 1): boom"}
    assert target_interpreter(make_facts(torch=torch_facts(target=broken))).severity.value == (
        "warn"
    )
    own = {**other, "is_gpudoctor": True}
    assert target_interpreter(make_facts(torch=torch_facts(target=own))).severity.value == "pass"


def test_gd208_deep_child_that_could_not_answer_is_not_a_silent_pass():
    from gpudoctor.facts.model import Facts
    from gpudoctor.facts.model import ProbeRecord
    from gpudoctor.facts.model import Unavailable

    sections = make_facts(torch=torch_facts(), gpu=gpu_section(RTX_4090)).to_json()
    sections["torch_runtime"] = Unavailable("probe 'torch_runtime' timed out after 50.0 s")
    record = ProbeRecord("torch_runtime", "timeout", 50.0, "timed out")
    facts = Facts(sections, {"torch_runtime": record})
    [verdict] = torch_arch_not_in_wheel(facts)
    assert verdict.severity.value == "info"
    assert "could not be read" in verdict.title
