"""The CUDA toolkit that would build extensions, and the libraries the loader would find.

Two sections. ``toolkit``: ``nvcc`` on ``PATH`` and the CUDA home that
``torch.utils.cpp_extension`` would use (``CUDA_HOME``, then ``CUDA_PATH``, then the
directory above ``nvcc``, then ``/usr/local/cuda``), each with its version. ``loader``: the
cuDNN / cuBLAS / NCCL / CUDA runtime libraries in ``LD_LIBRARY_PATH`` directories with the
versions in their file names, what ``ldconfig -p`` lists for ``libcuda``, ``/usr/lib/wsl/lib``
and ``TRITON_LIBCUDA_PATH`` — the places Triton looks for ``libcuda.so``.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe

if TYPE_CHECKING:
    from gpudoctor.facts.sections import LoaderFacts
    from gpudoctor.facts.sections import ToolkitFacts

#: Seconds ``nvcc --version`` and ``ldconfig -p`` may take.
COMMAND_TIMEOUT = 3.0
_NVCC_RELEASE = lazy_compile(r"release (\d+\.\d+), V([\d.]+)")
#: Library families that pip's ``nvidia-*`` wheels also ship (and a system copy can shadow).
LIBRARY_FAMILIES = {
    "libcudnn": "cudnn",
    "libcublas": "cublas",
    "libcublasLt": "cublas",
    "libnccl": "nccl",
    "libcudart": "cudart",
}
_LIBRARY_NAME = lazy_compile(
    r"^(libcudnn|libcublasLt|libcublas|libnccl|libcudart)\.so\.(\d[\d.]*)$"
)
WSL_LIB = "/usr/lib/wsl/lib"


def parse_nvcc(text: str) -> str | None:
    """``Cuda compilation tools, release 12.4, V12.4.131`` -> ``"12.4.131"``."""
    found = _NVCC_RELEASE.search(text)
    return found.group(2) if found else None


def _nvcc_version(
    ctx: ProbeContext, nvcc: str, asked: dict[str, str | Unavailable] | None = None
) -> str | Unavailable:
    """``nvcc --version``, run once per path: the nvcc on PATH is often the CUDA home's."""
    key = os.path.normpath(nvcc)
    if asked is not None and key in asked:
        return asked[key]
    version = _run_nvcc(ctx, nvcc)
    if asked is not None:
        asked[key] = version
    return version


def _run_nvcc(ctx: ProbeContext, nvcc: str) -> str | Unavailable:
    result = ctx.run_or_unavailable([nvcc, "--version"], COMMAND_TIMEOUT)
    if isinstance(result, Unavailable):
        return result
    return parse_nvcc(result.stdout) or Unavailable(f"{nvcc} --version printed no release")


def _home_version(
    ctx: ProbeContext, home: str, asked: dict[str, str | Unavailable] | None = None
) -> str | Unavailable | None:
    """The toolkit version from ``version.json`` / ``version.txt``, else its ``nvcc``."""
    try:
        text = ctx.read_text(os.path.join(home, "version.json"))
        import json  # only for a CUDA home that has the file

        data = json.loads(text)
        version = data.get("cuda", {}).get("version")
        if isinstance(version, str):
            return version
    except (OSError, ValueError, AttributeError):
        pass
    try:
        found = re.search(
            r"CUDA Version ([\d.]+)", ctx.read_text(os.path.join(home, "version.txt"))
        )
        if found:
            return found.group(1)
    except OSError:
        pass
    for name in ("nvcc", "nvcc.exe"):
        candidate = os.path.join(home, "bin", name)
        if ctx.exists(candidate):
            return _nvcc_version(ctx, candidate, asked)
    return None


def cuda_home(ctx: ProbeContext, nvcc: str | None) -> tuple[str | None, str | None]:
    """The CUDA home ``torch.utils.cpp_extension`` picks, and from where."""
    for variable in ("CUDA_HOME", "CUDA_PATH"):
        if ctx.env.get(variable):
            return ctx.env[variable], variable
    if nvcc:
        return os.path.dirname(os.path.dirname(os.path.realpath(nvcc))), "the nvcc on PATH"
    if not ctx.platform.startswith("win") and ctx.exists("/usr/local/cuda"):
        return "/usr/local/cuda", "/usr/local/cuda"
    return None, None


@probe("toolkit", timeout=5.0)
def probe_toolkit(ctx: ProbeContext) -> ToolkitFacts:
    """nvcc on PATH and the CUDA home that extension builds would use, with versions."""
    nvcc = ctx.which("nvcc")
    home, source = cuda_home(ctx, nvcc)
    asked: dict[str, str | Unavailable] = {}
    # Versions may be Unavailable markers (see gpudoctor.facts.sections).
    return cast(
        "ToolkitFacts",
        {
            "nvcc_path": nvcc,
            "nvcc_version": _nvcc_version(ctx, nvcc, asked) if nvcc else None,
            "cuda_home": home,
            "cuda_home_source": source,
            "cuda_home_version": _home_version(ctx, home, asked) if home else None,
        },
    )


def scan_library_dir(ctx: ProbeContext, directory: str) -> list[dict[str, Any]]:
    """CUDA libraries in one directory: soname, full version from the real file's name."""
    try:
        names = sorted(os.listdir(ctx.path(directory)))
    except OSError:
        return []
    found = []
    for name in names:
        match = _LIBRARY_NAME.match(name)
        if not match or match.group(2).count(".") > 0:
            continue  # keep sonames (libcudnn.so.8); their targets carry the full version
        real = os.path.basename(os.path.realpath(ctx.path(os.path.join(directory, name))))
        full = _LIBRARY_NAME.match(real)
        found.append(
            {
                "name": name,
                "family": LIBRARY_FAMILIES[match.group(1)],
                "major": int(match.group(2)),
                "version": full.group(2) if full else match.group(2),
                "path": os.path.join(directory, name),
            }
        )
    return found


def parse_ldconfig(text: str) -> dict[str, list[str]]:
    """``ldconfig -p`` lines -> paths of ``libcuda.so.1`` and ``libcuda.so``."""
    from gpudoctor.probes.ld_cache import parse_ldconfig_output

    return _libcuda_paths(parse_ldconfig_output(text))


def _libcuda_paths(entries: list[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"libcuda.so.1": [], "libcuda.so": []}
    for soname, path in entries:
        if soname in found:
            found[soname].append(path)
    return found


def _ldconfig(ctx: ProbeContext) -> dict[str, list[str]] | Unavailable:
    """What Triton's ``/sbin/ldconfig -p`` lists for libcuda.

    ``ldconfig -p`` prints the loader's cache file, so the cache is read directly; the
    program runs, with a timeout, only where the file is missing or not understood
    (:func:`gpudoctor.probes.ld_cache.loader_entries`).
    """
    from gpudoctor.probes.ld_cache import loader_entries

    entries = loader_entries(ctx, COMMAND_TIMEOUT)
    if isinstance(entries, Unavailable):
        return entries
    return _libcuda_paths(entries)


@probe("loader", timeout=5.0)
def probe_loader(ctx: ProbeContext) -> LoaderFacts | NotApplicable:
    """CUDA libraries on LD_LIBRARY_PATH and where libcuda.so is found (Linux and WSL)."""
    if not ctx.platform.startswith("linux"):
        return NotApplicable(f"the dynamic loader path is a Linux matter, not {ctx.platform}'s")
    dirs = [d for d in ctx.env.get("LD_LIBRARY_PATH", "").split(":") if d]
    triton_path = ctx.env.get("TRITON_LIBCUDA_PATH")
    return {
        "ld_library_path": [
            {"dir": d, "libraries": scan_library_dir(ctx, d), "has_libcuda": _has_libcuda(ctx, d)}
            for d in dirs
        ],
        "libcuda": {
            "ldconfig": _ldconfig(ctx),
            "wsl_lib_exists": ctx.exists(WSL_LIB),
            "wsl_lib_has_libcuda": _has_libcuda(ctx, WSL_LIB),
            "triton_libcuda_path": triton_path,
            "triton_path_has_libcuda": _has_libcuda(ctx, triton_path) if triton_path else None,
        },
    }


def _has_libcuda(ctx: ProbeContext, directory: str) -> bool:
    return ctx.exists(os.path.join(directory, "libcuda.so.1")) or ctx.exists(
        os.path.join(directory, "libcuda.so")
    )
