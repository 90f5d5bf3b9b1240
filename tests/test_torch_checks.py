"""torch install and configuration checks GD201-GD207, and the CUDA driver table."""

from __future__ import annotations

import pytest
from packaging.version import Version

from conftest import make_facts
from gpudoctor.checks.cuda_drivers import judge_driver
from gpudoctor.checks.cuda_drivers import newest_supported_index
from gpudoctor.checks.torch import alloc_conf
from gpudoctor.checks.torch import cuda_visible_devices
from gpudoctor.checks.torch import debug_env_left_on
from gpudoctor.checks.torch import mps_unavailable
from gpudoctor.checks.torch import multiple_torch
from gpudoctor.checks.torch import torch_cpu_only
from gpudoctor.checks.torch import torch_driver_too_old
from gpudoctor.checks.torch import validate_alloc_conf
from test_gpu_checks import gpu_section
from test_gpu_nvml import RTX_4090


def torch_section(version="2.9.1+cu128", cuda="12.8", installs=None, **extra):
    install = {
        "location": "/env/site-packages",
        "version": version,
        "user_site": False,
        "has_metadata": True,
        "wheel_tags": ["cp311-cp311-manylinux_2_28_x86_64"],
    }
    return {
        "installed": True,
        "version": version,
        "cuda": cuda,
        "rocm": None,
        "location": "/env/site-packages",
        "installs": installs or [install],
        **extra,
    }


def gpu_with_driver(driver, cuda_int=12040, devices=(RTX_4090,)):
    section = gpu_section(*devices)
    section["driver_version"] = driver
    section["cuda_driver_version"] = f"{cuda_int // 1000}.{(cuda_int % 1000) // 10}"
    return section


@pytest.mark.parametrize(
    ("cuda", "driver", "windows", "status"),
    [
        ("12.8", "570.26", False, "ok"),
        ("12.8", "550.120", False, "minor-compat"),
        ("12.8", "470.256.02", False, "too-old"),
        ("12.8", "566.36", True, "minor-compat"),
        ("12.8", "572.83", True, "ok"),
        ("13.0", "575.57.08", False, "too-old"),
        ("12.5", "551.0", False, "minor-compat"),  # 12.5 GA needs 555.42.02
        ("12.7", "561.0", False, "ok"),  # nearest listed release below 12.7 is 12.6
        ("12.2", "536.25", True, "ok"),  # NVIDIA's Windows minimum for 12.2
        ("12.3", "545.00", True, "minor-compat"),  # below 12.3's Windows 545.84
        ("13.2", "590.48.01", False, "minor-compat"),  # 13.2 GA needs 595.45.04
    ],
)
def test_driver_table(cuda, driver, windows, status):
    assert judge_driver(cuda, driver, windows=windows).status == status


def test_newest_index_for_a_driver():
    assert newest_supported_index("550.54.14", windows=False) == "12.4"
    assert newest_supported_index("572.83", windows=True) == "12.8"
    assert newest_supported_index("450.0", windows=False) is None


def test_cpu_wheel_on_windows_rtx_gives_the_exact_command():
    facts = make_facts(
        torch=torch_section("2.9.1+cpu", None), gpu=gpu_with_driver("572.83"), host__kind="windows"
    )
    verdict = torch_cpu_only(facts)
    assert verdict.severity.value == "fail"
    assert verdict.remedies[0].commands == (
        "py -m pip install --force-reinstall torch==2.9.1 --index-url "
        "https://download.pytorch.org/whl/cu128",
    )


def test_cuda_wheel_passes_and_no_gpu_skips():
    assert (
        torch_cpu_only(
            make_facts(torch=torch_section(), gpu=gpu_with_driver("570.86"))
        ).severity.value
        == "pass"
    )
    cpu_box = make_facts(torch=torch_section("2.9.1+cpu", None), gpu__devices=[])
    assert torch_cpu_only(cpu_box).severity.value == "skip"


def test_driver_too_old_for_cu128():
    facts = make_facts(torch=torch_section(), gpu=gpu_with_driver("470.256.02", 11040))
    verdict = torch_driver_too_old(facts)
    assert verdict.severity.value == "fail"
    assert "570.26" in verdict.remedies[0].text
    assert "cu118" not in " ".join(c for r in verdict.remedies for c in r.commands)


def test_driver_in_compat_range_warns_and_offers_an_older_wheel():
    facts = make_facts(torch=torch_section("2.6.0+cu126", "12.6"), gpu=gpu_with_driver("550.120"))
    verdict = torch_driver_too_old(facts)
    assert verdict.severity.value == "warn"
    assert verdict.remedies[1].commands[0] == (
        "python -m pip install --force-reinstall torch==2.6.0 --index-url "
        "https://download.pytorch.org/whl/cu124"
    )


def test_remedies_name_only_wheels_that_exist_for_that_torch():
    """torch 2.7.1 has no cu121 build: pip would silently install torch 2.5.1 from there."""
    facts = make_facts(torch=torch_section("2.7.1+cu128", "12.8"), gpu=gpu_with_driver("535.54.03"))
    commands = [c for r in torch_driver_too_old(facts).remedies for c in r.commands]
    assert not any("cu121" in c for c in commands)
    assert (
        "python -m pip install --force-reinstall torch==2.7.1 --index-url "
        "https://download.pytorch.org/whl/cu118" in commands
    )


def test_no_build_of_this_torch_fits_the_driver_so_an_older_release_is_named():
    """torch 2.9 has cu126 and newer only; driver 550 runs up to 12.4: torch 2.7 has cu118."""
    facts = make_facts(torch=torch_section(), gpu=gpu_with_driver("550.120"))
    commands = [c for r in torch_driver_too_old(facts).remedies for c in r.commands]
    assert commands == [
        "python -m pip install --force-reinstall torch==2.7.* --index-url "
        "https://download.pytorch.org/whl/cu118"
    ]


def test_multiple_torch_shadowing():
    user = {
        "location": "/home/<user>/.local/lib/python3.11/site-packages",
        "version": "2.1.0+cu118",
        "user_site": True,
        "has_metadata": True,
    }
    env = {
        "location": "/env/site-packages",
        "version": "2.9.1+cu128",
        "user_site": False,
        "has_metadata": True,
    }
    facts = make_facts(
        torch=torch_section("2.1.0+cu118", "11.8", installs=[user, env], location=user["location"])
    )
    verdict = multiple_torch(facts)
    assert verdict.severity.value == "warn"
    assert any("PYTHONNOUSERSITE" in c for r in verdict.remedies for c in r.commands)


def test_debug_variables():
    env = {"CUDA_LAUNCH_BLOCKING": "1", "NCCL_DEBUG": "INFO"}
    assert debug_env_left_on(make_facts(env__variables=env)).severity.value == "warn"
    assert (
        debug_env_left_on(make_facts(env__variables={"NCCL_DEBUG": "INFO"})).severity.value
        == "info"
    )
    assert (
        debug_env_left_on(make_facts(env__variables={"CUDA_LAUNCH_BLOCKING": "0"})).severity.value
        == "pass"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("expandable_segments:True,max_split_size_mb:128", []),
        ("expandable_segments=True", ["fail"]),
        ("expandable_segments:true", ["fail"]),
        ("max_split_size_mb:10", ["fail"]),
        ("garbage_collection_threshold:1.0", ["fail"]),
        ("roundup_power2_divisions:[256:1,512:2,>:4]", []),
        ("roundup_power2_divisions:3", ["fail"]),
        ("expandable_segment:True", ["fail"]),
        ("'max_split_size_mb:128'", ["fail"]),
        ("backend:cudaMallocAsync,max_split_size_mb:128", ["warn"]),
        ("pinned_num_register_threads:8", []),
    ],
)
def test_alloc_conf_grammar(text, expected):
    problems = validate_alloc_conf(text, torch_version=Version("2.9.1"), windows=False)
    assert [p[0] for p in problems] == expected


def test_alloc_conf_version_and_platform_rules():
    old = validate_alloc_conf(
        "max_non_split_rounding_mb:64", torch_version=Version("2.5.1"), windows=False
    )
    assert "needs torch 2.6" in old[0][2]
    win = validate_alloc_conf("expandable_segments:True", torch_version=None, windows=True)
    assert win[0][0] == "warn"


def test_alloc_conf_check_new_name_on_old_torch():
    facts = make_facts(
        torch=torch_section("2.5.1+cu124", "12.4"),
        env__variables={"PYTORCH_ALLOC_CONF": "expandable_segments:True"},
    )
    verdict = alloc_conf(facts)
    assert verdict.severity.value == "warn"
    assert "ignored by torch 2.5.1" in verdict.title


def test_alloc_conf_new_name_ignored_by_2_9_cuda_allocator():
    facts = make_facts(
        torch=torch_section("2.9.1+cu128"),
        env__variables={"PYTORCH_ALLOC_CONF": "expandable_segments:True"},
    )
    assert "still reads only PYTORCH_CUDA_ALLOC_CONF" in alloc_conf(facts).title


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        ("0", "pass"),
        ("1", "fail"),
        ("0,3", "fail"),
        ("-1", "warn"),
        ("", "warn"),
        ("GPU-8f3e2c1a", "pass"),
        ("GPU-deadbeef", "fail"),
        ("cuda:0", "fail"),
    ],
)
def test_cuda_visible_devices(value, severity):
    facts = make_facts(gpu=gpu_section(RTX_4090), env__variables={"CUDA_VISIBLE_DEVICES": value})
    assert cuda_visible_devices(facts).severity.value == severity


def test_invalid_entry_hides_the_rest():
    facts = make_facts(
        gpu=gpu_section(RTX_4090, RTX_4090), env__variables={"CUDA_VISIBLE_DEVICES": "1,7,0"}
    )
    verdict = cuda_visible_devices(facts)
    assert "ignores what follows it (0)" in verdict.title
    assert "CUDA will use 1" in verdict.title


def apple(**overrides):
    data = {"machine": "arm64", "macos_version": "15.1", "apple_silicon": True, "rosetta": False}
    data.update(overrides)
    return data


def mac_torch(tag="cp312-none-macosx_11_0_arm64", **apple_overrides):
    install = {
        "location": "/env/site-packages",
        "version": "2.9.1",
        "user_site": False,
        "has_metadata": True,
        "wheel_tags": [tag],
    }
    return torch_section("2.9.1", None, installs=[install], apple=apple(**apple_overrides))


def test_mps_rosetta_and_native():
    mac = {"host__kind": "macos"}
    assert mps_unavailable(make_facts(torch=mac_torch(), **mac)).severity.value == "pass"
    rosetta = make_facts(torch=mac_torch(rosetta=True, machine="x86_64"), **mac)
    assert "Rosetta" in mps_unavailable(rosetta).title
    intel_wheel = make_facts(torch=mac_torch("cp312-none-macosx_10_9_x86_64"), **mac)
    assert "x86_64" in mps_unavailable(intel_wheel).title
    old = make_facts(torch=mac_torch(macos_version="12.1"), **mac)
    assert mps_unavailable(old).severity.value == "fail"
    assert mps_unavailable(make_facts()).severity.value == "skip"


def test_alloc_conf_options_of_torch_2_13_are_known():
    """torch 2.13's own parser (libc10.so) accepts these; they were reported as unknown."""
    text = "pinned_max_cached_size_mb:64,large_segment_size_mb:20,pinned_max_round_threshold_mb:4"
    assert validate_alloc_conf(text, torch_version=Version("2.13.0"), windows=False) == []
    problems = validate_alloc_conf(text, torch_version=Version("2.5.1"), windows=False)
    assert {level for level, _, _ in problems} == {"fail"}


def test_alloc_conf_roundup_intervals_must_be_powers_of_two():
    """torch rejects [300:1]: 'For roundups, the intervals have to be power of 2'."""
    [(level, key, message)] = validate_alloc_conf(
        "roundup_power2_divisions:[300:1]", torch_version=Version("2.13.0"), windows=False
    )
    assert (level, key) == ("fail", "roundup_power2_divisions")
    assert "interval 300" in message
    ok = "roundup_power2_divisions:[256:4,512:2,>:1]"
    assert validate_alloc_conf(ok, torch_version=Version("2.13.0"), windows=False) == []


def test_alloc_conf_unknown_key_on_a_torch_newer_than_the_table_is_a_warning():
    [(level, _, message)] = validate_alloc_conf(
        "some_future_option:1", torch_version=Version("2.14.0"), windows=False
    )
    assert level == "warn"
    assert "may accept it" in message


def test_cpu_torch_newer_than_the_table_is_not_blamed_on_the_driver():
    facts = make_facts(torch=torch_section("2.13.0+cpu", None), gpu=gpu_with_driver("572.83"))
    verdict = torch_cpu_only(facts)
    assert verdict.severity.value == "fail"
    assert "too old" not in verdict.title
    assert verdict.remedies[1].commands == (
        "python -m pip install --force-reinstall torch==2.10.* --index-url "
        "https://download.pytorch.org/whl/cu128",
    )
