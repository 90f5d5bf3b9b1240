"""Derive the environment machine fixtures (fixtures/machines) from two recorded machines.

Each fixture models the machine facts of the public threads named in its ``sources`` (see
SOURCES here); the expected findings were written before gpudoctor ran on them. Run from the
repository root to regenerate: ``python tests/corpus/environment/derive.py``.
"""

# ruff: noqa: E501

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3]
machines = root / "fixtures/machines"
base = json.loads((machines / "linux-workstation-healthy.json").read_text())
wsl = json.loads((machines / "wsl2-healthy.json").read_text())

SITE = "/home/<user>/.venvs/train/lib/python3.11/site-packages"
T = 1764000000.0  # install times (seconds since epoch)


def target(executable="/home/<user>/.venvs/train/bin/python", prefix="/home/<user>/.venvs/train"):
    return {
        "executable": executable,
        "version": "3.11.7",
        "implementation": "CPython",
        "prefix": prefix,
        "base_prefix": "/usr",
        "user_site": None,
        "user_site_enabled": False,
        "machine": "x86_64",
        "is_gpudoctor": True,
        "reason": "gpudoctor runs inside the active environment (VIRTUAL_ENV)",
    }


def pkg(version, requires=(), built=None, url=None, at=T, ext=True, site=SITE):
    return {
        "version": version,
        "built_version": built or version,
        "location": site,
        "requires": list(requires),
        "direct_url": url,
        "installed_at": at,
        "has_extension": ext,
    }


def torch_section(version, cuda, bundled, packages, site=SITE):
    install = copy.deepcopy(base["facts"]["torch"]["installs"][0])
    install.update(
        location=site,
        version=version,
        metadata_version=version.split("+")[0],
        local_tag=version.split("+")[1],
        cuda=cuda,
        bundled_requirements=sorted(f"{k}=={v}" for k, v in bundled.items()),
    )
    facts = {
        "installed": True,
        "installs": [install],
        "bundled_libraries": bundled,
        "cudnn_version": bundled.get("nvidia-cudnn-cu12"),
        "version": version,
        "local_tag": version.split("+")[1],
        "cuda": cuda,
        "rocm": None,
        "debug": False,
        "location": site,
        "user_site": False,
        "packages": packages,
        "target": target(),
        "python": base["facts"]["torch"]["python"],
    }
    return facts


CU124 = {
    "nvidia-cudnn-cu12": "9.1.0.70",
    "nvidia-nccl-cu12": "2.21.5",
    "nvidia-cublas-cu12": "12.4.5.8",
    "nvidia-cuda-runtime-cu12": "12.4.127",
}
CU121 = {
    "nvidia-cudnn-cu12": "8.9.2.26",
    "nvidia-nccl-cu12": "2.20.5",
    "nvidia-cublas-cu12": "12.1.3.1",
    "nvidia-cuda-runtime-cu12": "12.1.105",
}


def family_251():
    return {
        "torch": pkg(
            "2.5.1+cu124",
            [
                'triton==3.1.0; platform_system == "Linux" and platform_machine == "x86_64" and python_version < "3.13"'
            ],
            at=T,
        ),
        "torchvision": pkg("0.20.1+cu124", ["torch==2.5.1"], at=T + 60),
        "triton": pkg("3.1.0", at=T + 30, ext=False),
    }


def quiet_toolkit():
    return {
        "nvcc_path": None,
        "nvcc_version": None,
        "cuda_home": None,
        "cuda_home_source": None,
        "cuda_home_version": None,
    }


def quiet_loader(ld=()):
    return {
        "ld_library_path": list(ld),
        "libcuda": {
            "ldconfig": {
                "libcuda.so.1": ["/lib/x86_64-linux-gnu/libcuda.so.1"],
                "libcuda.so": ["/lib/x86_64-linux-gnu/libcuda.so"],
            },
            "wsl_lib_exists": False,
            "wsl_lib_has_libcuda": False,
            "triton_libcuda_path": None,
            "triton_path_has_libcuda": None,
        },
    }


def quiet_power(battery=None):
    return {
        "battery": battery,
        "power_plan": {"$not_applicable": "power plans are a Windows setting"},
        "tdr": {"$not_applicable": "TDR is a Windows display-driver setting"},
        "suspend": {"successful_suspends": 0, "source": "/sys/power/suspend_stats/success"},
        "sysmem_fallback": {"$not_applicable": "sysmem fallback exists only in Windows drivers"},
    }


def machine(name, description, expect, edit, start=base, sources=()):
    doc = copy.deepcopy(start)
    doc["fixture"] = {"description": description, "expect": sorted(expect)}
    if sources:
        doc["fixture"]["sources"] = list(sources)
    f = doc["facts"]
    f["torch"] = torch_section("2.5.1+cu124", "12.4", CU124, family_251())
    f["toolkit"] = quiet_toolkit()
    f["loader"] = quiet_loader()
    f["power"] = quiet_power()
    f["limits"] = {"nofile": {"soft": 65536, "hard": 524288, "source": "getrlimit(RLIMIT_NOFILE)"}}
    edit(f)
    for section in ("toolkit", "loader", "power", "torch_runtime"):
        if section in f:
            doc["probes"][section] = {"status": "ok", "seconds": 0.01}
    (machines / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def gpu(f, **changes):
    f["gpu"]["devices"][0].update(changes)


# 0. healthy: every new check quiet
machine(
    "linux-workstation-env-healthy",
    "Linux workstation, RTX 4090 on driver 550, torch 2.5.1+cu124 with torchvision 0.20.1 and triton 3.1.0 in the venv VIRTUAL_ENV names, CUDA 12.4 toolkit as CUDA_HOME, empty LD_LIBRARY_PATH, libcuda in the loader cache, no battery: the environment checks all stay quiet.",
    [],
    lambda f: f.update(
        toolkit={
            "nvcc_path": "/usr/local/cuda-12.4/bin/nvcc",
            "nvcc_version": "12.4.131",
            "cuda_home": "/usr/local/cuda-12.4",
            "cuda_home_source": "CUDA_HOME",
            "cuda_home_version": "12.4.1",
        }
    ),
)


# 1. RTX 5090 (sm_120) with a cu124 wheel
def rtx5090(f):
    gpu(
        f,
        name="NVIDIA GeForce RTX 5090",
        compute_capability="12.0",
        memory_total_bytes=34190917632,
        power={"draw_w": 30.1, "limit_w": 575.0, "default_limit_w": 575.0},
    )
    f["gpu"]["driver_version"] = "570.124.04"
    f["gpu"]["cuda_driver_version"] = "12.8"
    f["gpu"]["kernel_module"] = (
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.124.04  Fri Feb 21 2025"
    )


machine(
    "linux-rtx5090-cu124-wheel",
    "RTX 5090 (sm_120) on driver 570.124.04 with torch 2.5.1+cu124, whose wheel stops at sm_90: every CUDA op fails with 'no kernel image is available'.",
    ["GD208 fail@GPU0"],
    rtx5090,
    sources=["https://github.com/pytorch/pytorch/issues/150733"],
)


# 2. torch 2.5 with torchvision 0.21
def tv021(f):
    f["torch"]["packages"]["torchvision"] = pkg("0.21.0+cu124", ["torch==2.6.0"], at=T + 600)


machine(
    "linux-torch25-torchvision021",
    "torch 2.5.1+cu124 with torchvision 0.21.0 (made for torch 2.6) installed later by a plain pip install: 'operator torchvision::nms does not exist'.",
    ["GD209 fail@torchvision"],
    tv021,
    sources=[
        "https://github.com/pytorch/vision/issues/8985",
        "https://github.com/vllm-project/vllm-ascend/pull/479",
    ],
)


# 3. cu121 torch, nvcc 12.4, mmcv built for torch 2.1 / cu118
def mmcv(f):
    f["torch"] = torch_section(
        "2.3.1+cu121",
        "12.1",
        CU121,
        {
            "torch": pkg(
                "2.3.1+cu121",
                [
                    'triton==2.3.1; platform_system == "Linux" and platform_machine == "x86_64" and python_version < "3.12"'
                ],
                at=T,
            ),
            "torchvision": pkg("0.18.1+cu121", ["torch==2.3.1"], at=T + 60),
            "triton": pkg("2.3.1", at=T + 30, ext=False),
            "mmcv": pkg(
                "2.1.0",
                at=T + 900,
                url="https://download.openmmlab.com/mmcv/dist/cu118/torch2.1.0/mmcv-2.1.0-cp311-cp311-manylinux1_x86_64.whl",
            ),
        },
    )
    f["toolkit"] = {
        "nvcc_path": "/usr/local/cuda-12.4/bin/nvcc",
        "nvcc_version": "12.4.131",
        "cuda_home": "/usr/local/cuda",
        "cuda_home_source": "/usr/local/cuda",
        "cuda_home_version": "12.4.1",
    }


machine(
    "linux-cu121-torch-nvcc124-mmcv-other-torch",
    "torch 2.3.1+cu121 with the CUDA 12.4 toolkit in /usr/local/cuda and an mmcv 2.1.0 wheel from OpenMMLab's cu118/torch2.1.0 index: mmcv._ext fails with 'undefined symbol'; rebuilding uses CUDA 12.4 against torch's 12.1.",
    ["GD210 fail@mmcv", "GD211 info"],
    mmcv,
    sources=[
        "https://github.com/open-mmlab/mmcv/issues/3104",
        "https://github.com/open-mmlab/mmcv/issues/1734",
    ],
)


# 4. cuDNN 8 on LD_LIBRARY_PATH under a cuDNN 9 wheel
def cudnn8(f):
    d = "/usr/local/cuda-11.8/lib64"
    f["loader"] = quiet_loader(
        [
            {
                "dir": d,
                "has_libcuda": False,
                "libraries": [
                    {
                        "name": "libcudnn.so.8",
                        "family": "cudnn",
                        "major": 8,
                        "version": "8.9.2",
                        "path": f"{d}/libcudnn.so.8",
                    },
                    {
                        "name": "libcublas.so.11",
                        "family": "cublas",
                        "major": 11,
                        "version": "11.11.3.6",
                        "path": f"{d}/libcublas.so.11",
                    },
                    {
                        "name": "libcudart.so.11.0",
                        "family": "cudart",
                        "major": 11,
                        "version": "11.8.89",
                        "path": f"{d}/libcudart.so.11.0",
                    },
                ],
            }
        ]
    )
    f["env"]["variables"]["LD_LIBRARY_PATH"] = f"{d}:/usr/local/cuda-11.8/extras/CUPTI/lib64"


machine(
    "linux-cudnn8-on-ld-library-path",
    "torch 2.5.1+cu124 (nvidia-cudnn-cu12 9.1.0.70) with LD_LIBRARY_PATH still pointing at a CUDA 11.8 toolkit holding cuDNN 8.9.2 and cuBLAS 11: two cuDNN majors can meet in one process.",
    ["GD212 warn"],
    cudnn8,
    sources=[
        "https://github.com/OpenNMT/CTranslate2/issues/1826",
        "https://github.com/pytorch/pytorch/issues/80637",
    ],
)


# 5. RTX 4090 + T400, CUDA_VISIBLE_DEVICES=0, CUDA_DEVICE_ORDER unset
def order(f):
    small = copy.deepcopy(f["gpu"]["devices"][0])
    small.update(
        index=0,
        name="NVIDIA T400 4GB",
        uuid="GPU-7c1d2e11",
        compute_capability="7.5",
        memory_total_bytes=4294967296,
        memory_used_bytes=318767104,
        power={"draw_w": 9.1, "limit_w": 31.0, "default_limit_w": 31.0},
        pcie={
            "current_generation": 1,
            "max_generation": 3,
            "gpu_max_generation": 3,
            "current_width": 16,
            "max_width": 16,
        },
    )
    big = f["gpu"]["devices"][0]
    big["index"] = 1
    f["gpu"]["devices"] = [small, big]
    f["env"]["variables"]["CUDA_VISIBLE_DEVICES"] = "0"


machine(
    "linux-rtx4090-t400-device-order",
    "RTX 4090 with a T400 display card in the first slot, CUDA_VISIBLE_DEVICES=0 meant as nvidia-smi's GPU 0 and CUDA_DEVICE_ORDER unset: CUDA's fastest-first order makes index 0 the 4090.",
    ["GD107 info", "GD108 warn"],
    order,
    sources=[
        "https://github.com/NVIDIA/DIGITS/issues/1358",
        "https://github.com/gpustack/gpustack/issues/1633",
    ],
)


# 6. WSL without libcuda in the loader cache
def wsl_libcuda(f):
    f["torch"] = torch_section(
        "2.5.1+cu124",
        "12.4",
        CU124,
        family_251(),
        site="/home/<user>/venv/lib/python3.11/site-packages",
    )
    f["torch"]["target"] = target("/home/<user>/venv/bin/python", "/home/<user>/venv")
    f["loader"] = quiet_loader()
    f["loader"]["libcuda"].update(
        ldconfig={"libcuda.so.1": [], "libcuda.so": []},
        wsl_lib_exists=True,
        wsl_lib_has_libcuda=True,
    )
    f["power"] = {
        "battery": {"$not_applicable": "WSL sees no battery"},
        "power_plan": {"name": "Balanced", "guid": "381b4222-f694-41f0-9685-ff5bb260df2e"},
        "tdr": {"delay_s": 60, "level": None, "source": "reg.exe query"},
        "suspend": {"$not_applicable": "WSL does not suspend"},
        "sysmem_fallback": {
            "$unavailable": "the CUDA sysmem fallback policy lives in the driver's profile database, which only the NVIDIA Control Panel reads"
        },
    }


machine(
    "wsl2-no-libcuda-in-ldconfig",
    "WSL2 Ubuntu with torch 2.5.1+cu124 and triton: /usr/lib/wsl/lib/libcuda.so.1 exists but ldconfig's cache does not list it, so torch.compile stops with 'libcuda.so cannot found!'.",
    ["GD213 fail", "GD509 info"],
    wsl_libcuda,
    start=wsl,
    sources=[
        "https://github.com/microsoft/WSL/issues/8587",
        "https://github.com/pytorch/pytorch/issues/107960",
    ],
)


# 7. laptop on battery, 55 W cap on a 115 W GPU
def laptop(f):
    gpu(
        f,
        name="NVIDIA GeForce RTX 4070 Laptop GPU",
        compute_capability="8.9",
        memory_total_bytes=8585740288,
        memory_used_bytes=402653184,
        power={"draw_w": 12.4, "limit_w": 55.0, "default_limit_w": 115.0},
    )
    f["power"] = quiet_power({"percent": 64.0, "plugged": False})


machine(
    "linux-laptop-on-battery-55w-cap",
    "Ubuntu laptop with an RTX 4070 Laptop GPU (115 W default) running on battery, the driver enforcing a 55 W limit: training runs at a fraction of its plugged-in speed.",
    ["GD110 warn"],
    laptop,
    sources=[
        "https://github.com/seerge/g-helper/issues/5244",
        "https://github.com/yunusemreyl/omen-space/issues/82",
    ],
)


# 8. Windows desktop: default TDR delay, VRAM full on a sysmem-fallback driver
win = json.loads((machines / "windows-wddm-no-process-memory.json").read_text())


def windows(f):
    f.pop("loader", None)
    f["loader"] = {"$not_applicable": "the dynamic loader path is a Linux matter, not win32's"}
    f["torch"] = torch_section(
        "2.5.1+cu124",
        "12.4",
        {},
        {
            "torch": pkg(
                "2.5.1+cu124", at=T, site="C:\\Users\\<user>\\venvs\\train\\Lib\\site-packages"
            ),
            "torchvision": pkg(
                "0.20.1+cu124",
                ["torch==2.5.1"],
                at=T + 60,
                site="C:\\Users\\<user>\\venvs\\train\\Lib\\site-packages",
            ),
        },
        site="C:\\Users\\<user>\\venvs\\train\\Lib\\site-packages",
    )
    f["torch"]["target"] = target(
        "C:\\Users\\<user>\\venvs\\train\\Scripts\\python.exe", "C:\\Users\\<user>\\venvs\\train"
    )
    f["limits"] = win["facts"]["limits"]
    f["gpu"]["devices"][0]["memory_used_bytes"] = 10400000000
    f["power"] = {
        "battery": None,
        "power_plan": {"guid": "381b4222-f694-41f0-9685-ff5bb260df2e", "name": "Balanced"},
        "tdr": {"delay_s": None, "level": None, "source": "winreg"},
        "suspend": {"$not_applicable": "suspend counters are read from Linux sysfs"},
        "sysmem_fallback": {
            "$unavailable": "the CUDA sysmem fallback policy lives in the driver's profile database, which only the NVIDIA Control Panel reads"
        },
    }


machine(
    "windows-rtx3080-default-tdr-vram-full",
    "Windows 11 desktop, RTX 3080 (10 GiB) driving the display with Windows' default 2 s TDR delay, 97% of its memory in use on driver 566.36 with sysmem fallback: long kernels get reset and a too-large batch slows down instead of raising out-of-memory.",
    ["GD111 info", "GD112 info", "GD401 info", "GD402 warn@pid 9184", "GD404 info"],
    windows,
    start=win,
    sources=[
        "https://learn.microsoft.com/windows-hardware/drivers/display/tdr-registry-keys",
        "NVIDIA GeForce driver 536.40 release notes: CUDA - Sysmem Fallback Policy",
    ],
)


# 9. CUDA unknown error after suspend/resume (--deep)
def resumed(f):
    gpu(
        f,
        name="NVIDIA GeForce RTX 3070 Laptop GPU",
        compute_capability="8.6",
        memory_total_bytes=8589934592,
        memory_used_bytes=6291456,
        power={"draw_w": 9.8, "limit_w": 115.0, "default_limit_w": 115.0},
    )
    f["power"] = quiet_power({"percent": 100.0, "plugged": True})
    f["power"]["suspend"] = {"successful_suspends": 2, "source": "/sys/power/suspend_stats/success"}
    f["torch_runtime"] = {
        "python": "/home/<user>/.venvs/train/bin/python",
        "version": "2.5.1+cu124",
        "cuda": "12.4",
        "arch_list": ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"],
        "cuda_init": "failed",
        "cuda_error": "RuntimeError: CUDA unknown error - this may be due to an incorrectly set up environment, e.g. changing env variable CUDA_VISIBLE_DEVICES after program start. Setting the available devices to be zero.",
    }


machine(
    "linux-laptop-cuda-unknown-error-after-resume",
    "Ubuntu laptop, RTX 3070 Laptop GPU, resumed from suspend twice since boot: nvidia-smi works but every CUDA program fails with 'CUDA unknown error' until nvidia_uvm is reloaded (seen by check --deep).",
    ["GD109 fail"],
    resumed,
    sources=[
        "https://github.com/pytorch/pytorch/issues/43281",
        "https://github.com/pytorch/pytorch/issues/88639",
    ],
)
