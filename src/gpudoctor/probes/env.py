"""Environment variables that change how GPU training behaves, and nothing else.

Only names on the allow-list are recorded. Values are kept raw for the checks; outputs
redact them at the edge, so a snapshot can still be attached to a public ticket.
"""

from __future__ import annotations

from typing import Any

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

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


def allowed_environment(env: dict[str, str] | Any) -> dict[str, str]:
    """The allow-listed variables that are set, exactly as the process sees them.

    Nothing is redacted here: checks must see the true value (a MIG or GPU UUID in
    ``CUDA_VISIBLE_DEVICES`` is 40+ characters and looks random). Every output redacts
    at the edge (:mod:`gpudoctor.privacy`), including credentials in ``PIP_INDEX_URL``.
    """
    result = {}
    for name in sorted(ALLOWED_ENV):
        value = env.get(name)
        if isinstance(value, str):
            result[name] = value
    return result


@probe("env", timeout=0.5)
def probe_env(ctx: ProbeContext) -> dict[str, Any]:
    """Allow-listed environment variables, raw (outputs redact them)."""
    return {"variables": allowed_environment(ctx.env), "allow_list_size": len(ALLOWED_ENV)}
