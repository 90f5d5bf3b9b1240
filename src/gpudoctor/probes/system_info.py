"""What ``python -m torch.utils.collect_env`` reports, gathered without importing torch here.

Two sections. ``system`` is quick and runs on every ``check``: OS, libc, compilers, Python,
nvcc, cuDNN libraries on the loader path, CPU model, relevant pip packages and allocator
settings. ``collect_env`` runs only for ``gpudoctor report`` because it is slow: torch's own
answers (from a child interpreter, with a timeout), ``nvidia-smi``, the full ``lscpu`` and a
filtered ``conda list``. Every command has a timeout; a missing tool is ``None`` ("Could not
collect"), never an error.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from typing import Any
from typing import Callable

from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.dist_info import distribution_field
from gpudoctor.probes.target import target_executable
from gpudoctor.probes.target import target_paths

#: Name fragments collect_env keeps from ``pip list`` (plus ``nvidia-`` for all CUDA wheels).
PIP_PATTERNS = (
    "torch",
    "numpy",
    "triton",
    "optree",
    "mypy",
    "flake8",
    "onnx",
    "nvidia-",
    "cuda-cudart",
    "cuda-cupti",
    "cuda-libraries",
    "cuda-opencl",
    "cuda-nvrtc",
    "cuda-runtime",
    "cublas",
    "cudnn",
    "cufft",
    "curand",
    "cusolver",
    "cusparse",
    "nccl",
    "nvjitlink",
    "nvtx",
    "dpcpp-cpp-rt",
    "intel-cmplr-lib-rt",
    "intel-cmplr-lib-ur",
    "intel-cmplr-lic-rt",
    "intel-opencl-rt",
    "intel-sycl-rt",
    "mkl",
    "onemkl-sycl-blas",
    "onemkl-sycl-dft",
    "onemkl-sycl-lapack",
    "onemkl-sycl-rng",
    "onemkl-sycl-sparse",
    "intel-openmp",
    "tbb",
    "impi-rt",
    "impi-devel",
    "oneccl",
    "oneccl-devel",
    "intel-pti",
    "umf",
    "tcmlib",
)
#: What collect_env additionally keeps from ``conda list``.
CONDA_PATTERNS = (*PIP_PATTERNS, "cudatoolkit", "soumith", "magma")
#: Allocator settings collect_env prints.
ALLOCATOR_VARIABLES = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_HIP_ALLOC_CONF", "PYTORCH_ALLOC_CONF")

COMMAND_TIMEOUT = 2.0
TORCH_TIMEOUT = 20.0
#: Of which torch's own ``collect_env.get_env_info()`` may take this long.
COLLECT_ENV_SECONDS = 12.0
CONDA_TIMEOUT = 15.0


def _first_match(ctx: ProbeContext, argv: list[str], pattern: str, timeout: float) -> str | None:
    """Group 1 of ``pattern`` in the output of ``argv``; None if absent, failing or slow."""
    try:
        result = ctx.run(argv, timeout=timeout)
    except (CommandTimeout, OSError):
        return None
    if not result.ok:
        return None
    found = re.search(pattern, result.stdout.strip())
    return found.group(1) if found else None


def _os_name(ctx: ProbeContext) -> str | None:
    machine = platform.machine()
    if ctx.platform.startswith("linux"):
        for path in ("/etc/os-release", "/usr/lib/os-release"):
            try:
                text = ctx.read_text(path, max_bytes=65536)
            except OSError:
                continue
            found = re.search(r'^PRETTY_NAME="?(.*?)"?$', text, re.M)
            if found:
                return f"{found.group(1)} ({machine})"
        return f"linux ({machine})"
    if ctx.platform == "darwin":
        version = platform.mac_ver()[0]
        return f"macOS {version} ({machine})" if version else None
    if ctx.platform.startswith(("win", "cygwin")):
        release, version, _, _ = platform.win32_ver()
        edition = platform.win32_edition() if hasattr(platform, "win32_edition") else ""
        return f"Microsoft Windows {release} {edition or ''} ({version} {machine})".replace(
            "  ", " "
        )
    return ctx.platform


def _cpu_model(ctx: ProbeContext) -> str | None:
    if ctx.platform.startswith("linux"):
        try:
            text = ctx.read_text("/proc/cpuinfo", max_bytes=1 << 20)
        except OSError:
            text = ""
        found = re.search(r"^(?:model name|Model|cpu model)\s*:\s*(.+)$", text, re.M)
        if found:
            return found.group(1).strip()
    return platform.processor() or None


def cudnn_libraries(ctx: ProbeContext) -> list[str]:
    """Real paths of the cuDNN libraries the dynamic loader knows (not necessarily torch's)."""
    if not ctx.platform.startswith("linux"):
        return []
    ldconfig = ctx.which("ldconfig") or ("/sbin/ldconfig" if ctx.exists("/sbin/ldconfig") else None)
    if not ldconfig:
        return []
    try:
        result = ctx.run([ldconfig, "-p"], timeout=COMMAND_TIMEOUT)
    except (CommandTimeout, OSError):
        return []
    found = set()
    for line in result.stdout.splitlines():
        if "libcudnn" not in line or "=>" not in line:
            continue
        target = os.path.realpath(ctx.path(line.rsplit("=>", 1)[1].strip()))
        if os.path.isfile(target):
            found.add(target)
    return sorted(found)


def pip_packages(
    patterns: tuple[str, ...] = PIP_PATTERNS, paths: list[str] | None = None
) -> list[str]:
    """``name==version`` of distributions matching ``patterns`` along ``paths`` (default:
    this interpreter's), as pip lists them."""
    from importlib import metadata

    seen: set[str] = set()
    lines = []
    found = metadata.distributions(path=paths) if paths else metadata.distributions()
    for dist in found:
        name = distribution_field(dist, "Name")
        version = distribution_field(dist, "Version") if name else None
        if not name or not version:
            continue
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        if canonical in seen:
            continue
        seen.add(canonical)
        line = f"{name}=={version}"
        if any(p in line for p in patterns):
            lines.append(line)
    return sorted(lines, key=str.lower)


@probe("system", timeout=3.0, enabled=lambda ctx: bool(ctx.options.get("report")))
def probe_system(ctx: ProbeContext) -> dict[str, Any]:
    """OS, libc, compilers, Python, nvcc, cuDNN files, CPU and packages (collect_env's fields)."""
    from concurrent.futures import ThreadPoolExecutor  # report only: not on check's path

    commands: dict[str, Callable[[], str | None]] = {
        "gcc_version": lambda: _first_match(ctx, ["gcc", "--version"], r"gcc (.*)", 1.5),
        "clang_version": lambda: _first_match(
            ctx, ["clang", "--version"], r"clang version (.*)", 1.5
        ),
        "cmake_version": lambda: _first_match(ctx, ["cmake", "--version"], r"cmake (.*)", 1.5),
        "nvcc_version": lambda: _first_match(ctx, ["nvcc", "--version"], r"release .+ V(.*)", 2.0),
    }
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="gpudoctor-system") as pool:
        futures = {key: pool.submit(fn) for key, fn in commands.items()}
        cudnn = pool.submit(cudnn_libraries, ctx)
        packages = pool.submit(pip_packages, PIP_PATTERNS, target_paths(ctx))
        facts: dict[str, Any] = {key: future.result() for key, future in futures.items()}
        facts["cudnn_libraries"] = cudnn.result()
        facts["pip_packages"] = packages.result()
    bits = sys.maxsize.bit_length() + 1
    facts.update(
        os=_os_name(ctx),
        libc_version="-".join(platform.libc_ver()) if ctx.platform.startswith("linux") else "N/A",
        python_version=f"{sys.version.replace(chr(10), ' ')} ({bits}-bit runtime)",
        python_platform=platform.platform(),
        python_executable=sys.executable,
        cpu_model=_cpu_model(ctx),
        pip_version="pip3",
        caching_allocator_config={
            name: ctx.env[name] for name in ALLOCATOR_VARIABLES if ctx.env.get(name)
        },
    )
    return facts


# -- the slow part, for `gpudoctor report` only -------------------------------------------

#: Run by a child interpreter; prints one JSON object. Importing torch can take seconds and
#: may initialise CUDA, which the doctor process must never do.
TORCH_QUERY = r"""
import json, os, sys
out = {}
try:
    import torch
except Exception as exc:
    print(json.dumps({"error": "%s: %s" % (type(exc).__name__, exc)}))
    sys.exit(0)
v = torch.version
out["torch_version"] = torch.__version__
out["is_debug_build"] = str(getattr(v, "debug", None))
out["cuda_compiled_version"] = getattr(v, "cuda", None)
out["hip_compiled_version"] = getattr(v, "hip", None)
cuda_ok = torch.cuda.is_available()
out["is_cuda_available"] = str(cuda_ok)
try:
    out["cudnn_version"] = torch.backends.cudnn.version() if cuda_ok else None
except Exception:
    out["cudnn_version"] = None
try:
    out["is_xpu_available"] = str(torch.xpu.is_available())
except Exception:
    out["is_xpu_available"] = "N/A"
try:
    import torch.backends.xnnpack
    out["is_xnnpack_available"] = str(torch.backends.xnnpack.enabled)
except Exception:
    out["is_xnnpack_available"] = "N/A"
if getattr(v, "hip", None) is not None:
    cfg = torch._C._show_config().splitlines()
    def pick(word):
        hits = [line.rsplit(None, 1)[-1] for line in cfg if word in line]
        return hits[0] if hits else "N/A"
    out["hip_runtime_version"] = pick("HIP Runtime")
    out["miopen_runtime_version"] = pick("MIOpen")
if cuda_ok:
    torch.cuda.init()
    out["cuda_module_loading"] = os.environ.get("CUDA_MODULE_LOADING", "")
    out["device_names"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
else:
    out["cuda_module_loading"] = "N/A"
# torch's own collect_env, so the report carries the fields of the torch installed here
# (they differ between versions). Bounded: its commands (pip, conda, nvidia-smi) can hang.
try:
    import threading
    from torch.utils import collect_env as ce
    template = getattr(ce, "env_info_fmt", "")
    answer = {}
    def ask():
        try:
            answer["text"] = ce.pretty_str(ce.get_env_info())
        except Exception as exc:
            answer["error"] = "%s: %s" % (type(exc).__name__, exc)
    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(COLLECT_ENV_SECONDS)
    labels = [line.split(": {", 1)[0] for line in template.splitlines() if ": {" in line]
    if labels and "text" in answer:
        out["collect_env_labels"] = labels
        out["collect_env_text"] = answer["text"]
    else:
        out["collect_env_error"] = answer.get("error", "torch's collect_env did not answer in time")
except Exception as exc:
    out["collect_env_error"] = "%s: %s" % (type(exc).__name__, exc)
sys.stdout.flush()
print(json.dumps(out))
sys.stdout.flush()
os._exit(0)
"""


def torch_answers(ctx: ProbeContext, python: str | None = None) -> dict[str, Any]:
    """What torch says about itself, asked in a child interpreter with a timeout."""
    code = TORCH_QUERY.replace("COLLECT_ENV_SECONDS", repr(COLLECT_ENV_SECONDS))
    argv = [python or sys.executable, "-c", code]
    try:
        result = ctx.run(argv, timeout=TORCH_TIMEOUT)
    except CommandTimeout:
        return {"error": f"importing torch took longer than {TORCH_TIMEOUT:g} s"}
    except OSError as exc:
        return {"error": f"cannot start {argv[0]}: {exc}"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {result.returncode}: {tail[:300]}"}
    import json  # report only: ``check`` never asks torch itself

    try:
        return dict(json.loads(lines[-1]))
    except ValueError:
        return {"error": "unreadable answer from the torch child process"}


def nvidia_smi(ctx: ProbeContext) -> dict[str, Any]:
    """Driver version and GPU list as nvidia-smi prints them (UUIDs dropped)."""
    smi = ctx.which("nvidia-smi") or ctx.which("nvidia-smi.exe")
    if not smi:
        return {"driver_version": None, "gpu_models": None}
    driver = _first_match(ctx, [smi], r"Driver Version: (.*?) ", 5.0)
    models = None
    try:
        listing = ctx.run([smi, "-L"], timeout=5.0)
        if listing.ok:
            models = re.sub(r" \(UUID: .+?\)", "", listing.stdout.strip())
    except (CommandTimeout, OSError):
        pass
    return {"driver_version": driver, "gpu_models": models}


def cpu_details(ctx: ProbeContext) -> str | None:
    """The CPU block collect_env prints: ``lscpu`` on Linux, the brand string on macOS."""
    if ctx.platform.startswith("linux"):
        argv = ["lscpu"]
    elif ctx.platform == "darwin":
        argv = ["sysctl", "-n", "machdep.cpu.brand_string"]
    else:
        return platform.processor() or None
    try:
        result = ctx.run(argv, timeout=3.0)
    except (CommandTimeout, OSError):
        return None
    return result.stdout.strip() if result.ok else (result.stderr.strip() or None)


def conda_packages(ctx: ProbeContext) -> list[str] | None:
    """Lines of ``conda list`` matching collect_env's patterns; None without conda."""
    conda = ctx.env.get("CONDA_EXE") or ctx.which("conda")
    if not conda:
        return None
    try:
        result = ctx.run([conda, "list"], timeout=CONDA_TIMEOUT)
    except (CommandTimeout, OSError):
        return None
    if not result.ok:
        return None
    return [
        line
        for line in result.stdout.splitlines()
        if not line.startswith("#") and any(p in line for p in CONDA_PATTERNS)
    ]


@probe("collect_env", timeout=25.0, enabled=lambda ctx: bool(ctx.options.get("report")))
def probe_collect_env(ctx: ProbeContext) -> dict[str, Any]:
    """torch's own answers (child process), nvidia-smi, lscpu and conda: report only."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="gpudoctor-report") as pool:
        torch = pool.submit(torch_answers, ctx, target_executable(ctx))
        smi = pool.submit(nvidia_smi, ctx)
        cpu = pool.submit(cpu_details, ctx)
        conda = pool.submit(conda_packages, ctx)
        return {
            "torch": torch.result(),
            "nvidia_smi": smi.result(),
            "cpu_info": cpu.result(),
            "conda_packages": conda.result(),
        }
