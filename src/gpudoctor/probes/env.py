"""Environment variables that change how GPU training behaves, and nothing else.

Only names on the allow-list are recorded, and a value that looks like a secret is replaced
even then, so a snapshot can be attached to a public ticket.
"""

from __future__ import annotations

from typing import Any

from gpudoctor.privacy import REDACTED, looks_secret
from gpudoctor.probes.base import ProbeContext, probe

#: Variables recorded verbatim (their values steer CUDA, PyTorch, threading or WSL).
ALLOWED_ENV = frozenset(
    {
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "CUDA_LAUNCH_BLOCKING",
        "CUDA_MODULE_LOADING",
        "CUDA_CACHE_DISABLE",
        "CUDA_CACHE_MAXSIZE",
        "CUDA_HOME",
        "CUDA_PATH",
        "CUDA_PROFILE",
        "CUDA_FORCE_PTX_JIT",
        "CUDA_DISABLE_PTX_JIT",
        "CUBLAS_WORKSPACE_CONFIG",
        "CUDNN_LOGINFO_DBG",
        "CUDNN_LOGDEST_DBG",
        "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES",
        "NVIDIA_TF32_OVERRIDE",
        "PYTORCH_CUDA_ALLOC_CONF",
        "PYTORCH_ALLOC_CONF",
        "PYTORCH_HIP_ALLOC_CONF",
        "PYTORCH_NO_CUDA_MEMORY_CACHING",
        "PYTORCH_ENABLE_MPS_FALLBACK",
        "PYTORCH_MPS_HIGH_WATERMARK_RATIO",
        "PYTORCH_NVML_BASED_CUDA_CHECK",
        "TORCH_USE_CUDA_DSA",
        "TORCH_SHOW_CPP_STACKTRACES",
        "TORCH_CUDA_ARCH_LIST",
        "TORCH_DISTRIBUTED_DEBUG",
        "TORCH_CPP_LOG_LEVEL",
        "TORCH_LOGS",
        "TORCHDYNAMO_VERBOSE",
        "NCCL_DEBUG",
        "NCCL_P2P_DISABLE",
        "NCCL_IB_DISABLE",
        "NCCL_SHM_DISABLE",
        "NCCL_SOCKET_IFNAME",
        "NCCL_ASYNC_ERROR_HANDLING",
        "TORCH_NCCL_ASYNC_ERROR_HANDLING",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "KMP_AFFINITY",
        "OMP_PROC_BIND",
        "OBJC_DISABLE_INITIALIZE_FORK_SAFETY",
        "PYTHONMALLOC",
        "PYTHONFAULTHANDLER",
        "PYTHONUNBUFFERED",
        "PYTHONHASHSEED",
        "PYTHONDEVMODE",
        "PYTHONNOUSERSITE",
        "VIRTUAL_ENV",
        "CONDA_DEFAULT_ENV",
        "CONDA_PREFIX",
        "CONDA_EXE",
        "CUDNN_LIBRARY",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        "PATH",
        "WSL_DISTRO_NAME",
        "WSL_INTEROP",
        "WSLENV",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "HSA_OVERRIDE_GFX_VERSION",
    }
)


def safe_environment(env: dict[str, str] | Any) -> dict[str, str]:
    """The allow-listed variables that are set, with secret-looking values replaced."""
    result = {}
    for name in sorted(ALLOWED_ENV):
        value = env.get(name)
        if value is None:
            continue
        is_path_list = name in ("PATH", "LD_LIBRARY_PATH")
        result[name] = value if is_path_list or not looks_secret(value) else REDACTED
    return result


@probe("env", timeout=0.5)
def probe_env(ctx: ProbeContext) -> dict[str, Any]:
    """Allow-listed environment variables (values that look like secrets are withheld)."""
    return {"variables": safe_environment(ctx.env), "allow_list_size": len(ALLOWED_ENV)}
