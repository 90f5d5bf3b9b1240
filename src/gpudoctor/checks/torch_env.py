"""The environment around torch: GPU architecture vs wheel, the torch family, toolkits, loader.

Facts: ``torch`` (files of the target interpreter, torch never imported), ``torch_runtime``
(``--deep``: a child process asked torch itself), ``toolkit`` and ``loader`` (nvcc, CUDA
home, ``LD_LIBRARY_PATH``, ``ldconfig -p``) and ``gpu`` (NVML).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.version import InvalidVersion
from packaging.version import Version

from gpudoctor.api import Facts
from gpudoctor.api import NotApplicable
from gpudoctor.api import Unavailable
from gpudoctor.api import Verdict
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.checks.cuda_drivers import index_url
from gpudoctor.checks.cuda_drivers import judge_driver
from gpudoctor.checks.gpu import gpus
from gpudoctor.checks.gpu import label
from gpudoctor.checks.torch_family import TORCHVISION
from gpudoctor.checks.torch_family import expected_minor
from gpudoctor.checks.torch_wheels import ArchList
from gpudoctor.checks.torch_wheels import capability_of
from gpudoctor.checks.torch_wheels import minor_of
from gpudoctor.checks.torch_wheels import parse_get_arch_list
from gpudoctor.checks.torch_wheels import runs_on
from gpudoctor.checks.torch_wheels import supporting_builds
from gpudoctor.checks.torch_wheels import wheel_arches
from gpudoctor.lazy_regex import lazy_compile

_NO_KERNEL = "CUDA error: no kernel image is available for execution on the device"


def _pip(facts: Facts) -> str:
    return "py -m pip" if facts.get("host.kind") == "windows" else "python -m pip"


def _version(text: object) -> Version | None:
    try:
        return Version(str(text)) if isinstance(text, str) else None
    except InvalidVersion:
        return None


def _inspected(facts: Facts) -> list[Any]:
    """Evidence naming the interpreter whose packages were read, and why that one."""
    target = facts.get("torch.target")
    if not isinstance(target, Mapping):
        return []
    return [
        evidence(
            "interpreter inspected",
            f"{target.get('executable')} ({target.get('reason')})",
            "gpudoctor target selection",
        )
    ]


def _arch_source(facts: Facts) -> ArchList | None:
    """torch's own answer under --deep, else the published build configuration."""
    version, cuda = str(facts.get("torch.version")), str(facts.get("torch.cuda"))
    runtime = facts.get("torch_runtime.arch_list")
    same_torch = facts.get("torch_runtime.version") == version
    if isinstance(runtime, (list, tuple)) and runtime and same_torch:
        sass, ptx = parse_get_arch_list([str(a) for a in runtime])
        return ArchList(sass, ptx, "torch.cuda.get_arch_list() (--deep)", str(version), True)
    return wheel_arches(version, cuda)


def _wheel_remedy(facts: Facts, capability: tuple[int, int]) -> list[Any]:
    """The exact published wheel that runs on ``capability`` and on this driver."""
    driver = facts.get("gpu.driver_version")
    windows = facts.get("host.kind") in ("windows", "wsl2")
    fits = [
        (minor, cuda)
        for minor, cuda in supporting_builds(capability)
        if isinstance(driver, str) and judge_driver(cuda, driver, windows=windows).status == "ok"
    ]
    installed = _version(facts.get("torch.version"))
    same = [mc for mc in fits if installed and mc[0] == minor_of(str(installed))]
    if not fits:
        newest = supporting_builds(capability)
        if not newest:
            return [remedy("No published torch wheel in gpudoctor's table runs on this GPU.")]
        minor, cuda = newest[0]
        vision = TORCHVISION.get(minor)
        extra = f" torchvision=={vision}.*" if vision else ""
        return [
            remedy(
                f"Update the NVIDIA driver to one that runs CUDA {cuda}, then install torch "
                f"{minor} built for CUDA {cuda}.",
                f"{_pip(facts)} install --force-reinstall torch=={minor}.*{extra} "
                f"--index-url {index_url(cuda)}",
            )
        ]
    minor, cuda = (same or fits)[0]
    pin = f"torch=={installed.base_version}" if same and installed else f"torch=={minor}.*"
    vision = TORCHVISION.get(minor)
    extra = f" torchvision=={vision}.*" if vision else ""
    return [
        remedy(
            f"Install torch {minor} built for CUDA {cuda}: it has kernels for "
            f"sm_{capability[0]}{capability[1]} and driver {driver} runs it (add torchaudio "
            "to the command if you use it).",
            f"{_pip(facts)} install --force-reinstall {pin}{extra} --index-url {index_url(cuda)}",
        )
    ]


@check(
    "GD208",
    "torch-arch-not-in-wheel",
    summary="The installed torch has kernels for every GPU's architecture",
    requires=("torch.installed", "gpu.devices"),
    uses=(
        "gpu.driver_version",
        "torch.cuda",
        "torch.version",
        "torch.target",
        "host.kind",
        "torch_runtime.arch_list",
        "torch_runtime.version",
    ),
    tags=("torch", "install", "gpu"),
)
def torch_arch_not_in_wheel(facts: Facts) -> Verdict | list[Verdict]:
    """A wheel without SASS or PTX for the GPU fails every kernel launch."""
    if not facts.get("torch.installed"):
        return skip("torch is not installed for the inspected interpreter")
    if not facts.get("torch.cuda"):
        return skip("torch is not a CUDA build (GD201 covers CPU-only wheels)")
    devices = gpus(facts)
    if not devices:
        return skip("No NVIDIA GPU to compare with")
    arches = _arch_source(facts)
    # The deep child ran (its probe is recorded) but its answer is unknown: say so.
    deep = facts.get("torch_runtime", None)
    deep_unknown = isinstance(deep, (Unavailable, NotApplicable)) and "torch_runtime" in (
        facts.probes or {}
    )
    version, cuda = facts.get("torch.version"), facts.get("torch.cuda")
    if arches is None:
        return skip(
            f"No build-configuration row for torch {version} with CUDA {cuda}; "
            "'gpudoctor check --deep' asks torch itself (torch.cuda.get_arch_list())",
            evidence=_inspected(facts),
        )
    table = (
        arches.source
        if arches.exact
        else f"{arches.source}, the row for torch {arches.release} (the closest older release)"
    )
    ev = [
        evidence("torch", version, "torch/version.py"),
        evidence("architectures in the wheel", ", ".join(arches.names()), table),
        *_inspected(facts),
    ]
    verdicts: list[Verdict] = []
    for device in devices:
        capability = capability_of(device.get("compute_capability"))
        name = f"{label(device)} {device.get('name')}"
        if capability is None:
            verdicts.append(skip(f"{name}: compute capability unknown", subject=label(device)))
            continue
        sm = f"sm_{capability[0]}{capability[1]}"
        dev_ev = [*ev, evidence(f"{label(device)} compute capability", sm, "NVML")]
        how = runs_on(capability, arches.sass, arches.ptx)
        if how == "sass" and deep_unknown:
            verdicts.append(
                info(
                    f"{name} ({sm}) has native kernels in torch {version} by the build table; "
                    f"torch's own answer (--deep) could not be read: {deep}",
                    subject=label(device),
                    evidence=dev_ev,
                )
            )
        elif how == "sass":
            verdicts.append(
                passed(
                    f"{name} ({sm}) has native kernels in torch {version}", subject=label(device)
                )
            )
        elif how == "ptx":
            verdicts.append(
                info(
                    f"{name} ({sm}) has no native kernels in torch {version}; the driver "
                    "JIT-compiles its PTX at the first start (minutes; cached in "
                    "~/.nv/ComputeCache) and some kernels can run slower",
                    subject=label(device),
                    evidence=dev_ev,
                    remedies=_wheel_remedy(facts, capability),
                )
            )
        else:
            make = fail if arches.exact else warn
            verdicts.append(
                make(
                    f"torch {version} has no kernels for {name} ({sm}): every CUDA operation "
                    f"fails with '{_NO_KERNEL}'"
                    + ("" if arches.exact else " (confirm with 'gpudoctor check --deep')"),
                    subject=label(device),
                    evidence=dev_ev,
                    remedies=_wheel_remedy(facts, capability),
                )
            )
    return verdicts


# -- the torch family -------------------------------------------------------------------

_TAG = lazy_compile(r"\+(cpu|cu\d{3}|rocm[\d.]+)", re.I)


def _tag(package: Mapping[str, Any]) -> str | None:
    for key in ("built_version", "version"):
        found = _TAG.search(str(package.get(key) or ""))
        if found:
            return found.group(1).lower()
    return None


def _torch_pin(requires: Sequence[str], torch: Version) -> str | None:
    """The torch requirement ``torch`` does not satisfy, if any."""
    public = Version(torch.public)
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.name.lower() != "torch" or not requirement.specifier:
            continue
        if not requirement.specifier.contains(public, prereleases=True):
            return f"torch{requirement.specifier}"
    return None


def _family_problem(
    name: str, package: Mapping[str, Any], torch: Version, torch_tag: str | None
) -> tuple[str, str, list[Any]] | None:
    """``(severity, message, evidence)`` when ``package`` does not go with this torch."""
    version = str(package.get("built_version") or package.get("version"))
    ev = [evidence(name, version, f"{package.get('location')} (metadata)")]
    pin = _torch_pin(package.get("requires") or (), torch)
    if pin:
        ev.append(evidence(f"{name} requires", pin, "Requires-Dist in its metadata"))
        return "fail", f"{name} {version} requires {pin}, but torch {torch} is installed", ev
    expected = expected_minor(name, minor_of(str(torch)) or "")
    own = minor_of(str(package.get("version")))
    if expected and own and own != expected[0]:
        ev.append(evidence(f"{name} for torch {minor_of(str(torch))}", expected[0], expected[1]))
        return (
            "fail",
            f"{name} {version} belongs to another torch release; torch {torch} goes with "
            f"{name} {expected[0]}.x (expect 'operator torchvision::nms does not exist' or "
            "undefined-symbol errors on import)",
            ev,
        )
    tag = _tag(package)
    if tag and torch_tag and tag != torch_tag:
        both_cuda = tag.startswith("cu") and torch_tag.startswith("cu")
        same_major = both_cuda and tag[2:4] == torch_tag[2:4]
        ev.append(evidence("torch build", torch_tag, "torch/version.py"))
        if same_major:
            return (
                "info",
                f"{name} is built for {tag}, torch for {torch_tag} (same CUDA major: works)",
                ev,
            )
        return (
            "fail",
            f"{name} {version} is built for {tag} but torch {torch} for {torch_tag}: its "
            "compiled operators cannot load (torchvision raises 'PyTorch and torchvision were "
            "compiled with different CUDA major versions' or 'operator torchvision::nms does "
            "not exist')",
            ev,
        )
    return None


@check(
    "GD209",
    "torch-family-mismatch",
    summary="torchvision, torchaudio, torchtext, xformers and triton match the installed torch",
    requires=("torch.packages", "torch.version"),
    uses=("torch.local_tag", "torch.target", "host.kind"),
    tags=("torch", "install"),
)
def torch_family_mismatch(facts: Facts) -> Verdict | list[Verdict]:
    """Packages from another torch release or CUDA build fail at import or at the first op."""
    packages = facts.get("torch.packages")
    torch = _version(facts.get("torch.version"))
    if not isinstance(packages, Mapping) or torch is None:
        return skip("torch is not installed for the inspected interpreter")
    torch_tag = facts.get("torch.local_tag")
    torch_tag = str(torch_tag).lower() if torch_tag else None
    verdicts: list[Verdict] = []
    for name in ("torchvision", "torchaudio", "torchtext", "xformers"):
        package = packages.get(name)
        if not isinstance(package, Mapping):
            continue
        problem = _family_problem(name, package, torch, torch_tag)
        if problem is None:
            verdicts.append(passed(f"{name} {package.get('version')} matches", subject=name))
            continue
        severity, message, ev = problem
        make = {"fail": fail, "warn": warn, "info": info}[severity]
        verdicts.append(
            make(
                message,
                subject=name,
                evidence=[*ev, *_inspected(facts)],
                remedies=_family_remedy(facts, name, torch, torch_tag),
            )
        )
    verdicts.extend(_triton(facts, packages))
    if not verdicts:
        return passed("No torchvision, torchaudio, torchtext, xformers or triton installed")
    return verdicts


def _family_remedy(facts: Facts, name: str, torch: Version, tag: str | None) -> list[Any]:
    minor = minor_of(str(torch)) or ""
    expected = expected_minor(name, minor)
    if expected is None:
        return [remedy(f"Reinstall {name} built for torch {torch} in the same pip command.")]
    index = f" --index-url https://download.pytorch.org/whl/{tag}" if tag else ""
    return [
        remedy(
            f"Install {name} {expected[0]} from the same index as torch, in one command so "
            "pip cannot swap torch:",
            f"{_pip(facts)} install torch=={torch.base_version} {name}=={expected[0]}.*{index}",
        )
    ]


def _triton(facts: Facts, packages: Mapping[str, Any]) -> list[Verdict]:
    torch_entry = packages.get("torch")
    pins = torch_entry.get("requires") if isinstance(torch_entry, Mapping) else None
    for name in ("triton", "pytorch-triton"):
        installed = packages.get(name)
        if not isinstance(installed, Mapping):
            continue
        for text in pins or ():
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.name.lower() != name or not requirement.specifier:
                continue
            have = _version(installed.get("version"))
            if have is not None and not requirement.specifier.contains(have, prereleases=True):
                return [
                    warn(
                        f"torch {facts.get('torch.version')} wants {name}"
                        f"{requirement.specifier} but {name} {have} is installed: "
                        "torch.compile may fail to build kernels",
                        subject=name,
                        evidence=[evidence("torch requires", text, "torch metadata")],
                        remedies=[
                            remedy(
                                "Install the triton torch asks for.",
                                f"{_pip(facts)} install '{name}{requirement.specifier}'",
                            )
                        ],
                    )
                ]
            return [passed(f"{name} {have} is the one torch asks for", subject=name)]
    return []


# -- packages with compiled operators ---------------------------------------------------

COMPILED_OPS = ("mmcv", "mmcv-full", "flash-attn", "apex", "detectron2")
_BUILT_TORCH = lazy_compile(r"(?:torch|pt)[-_]?(\d+\.\d+)", re.I)
_BUILT_CUDA = lazy_compile(r"cu(\d{2,3})", re.I)


def built_for(package: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """``(torch minor, CUDA tag, where it was read)`` a compiled package was built for."""
    for key in ("version", "built_version", "direct_url"):
        text = str(package.get(key) or "")
        if key != "direct_url" and "+" not in text:
            continue
        torch_match, cuda_match = _BUILT_TORCH.search(text), _BUILT_CUDA.search(text)
        if torch_match or cuda_match:
            return (
                torch_match.group(1) if torch_match else None,
                f"cu{cuda_match.group(1)}" if cuda_match else None,
                "direct_url.json" if key == "direct_url" else "its version tag",
            )
    return None, None, None


@check(
    "GD210",
    "compiled-ops-other-torch",
    summary="Packages with compiled CUDA ops (mmcv, flash-attn, apex, detectron2) fit this torch",
    requires=("torch.packages", "torch.version"),
    uses=("torch.local_tag", "torch.target", "host.kind"),
    tags=("torch", "install", "extensions"),
)
def compiled_ops_other_torch(facts: Facts) -> Verdict | list[Verdict]:
    """Ops compiled against another torch fail with 'undefined symbol' on import."""
    packages = facts.get("torch.packages")
    torch = _version(facts.get("torch.version"))
    if not isinstance(packages, Mapping) or torch is None:
        return skip("torch is not installed for the inspected interpreter")
    torch_minor = minor_of(str(torch)) or ""
    torch_tag = str(facts.get("torch.local_tag") or "")
    torch_entry = packages.get("torch")
    torch_time = torch_entry.get("installed_at") if isinstance(torch_entry, Mapping) else None
    verdicts: list[Verdict] = []
    for name in COMPILED_OPS:
        package = packages.get(name)
        if not isinstance(package, Mapping):
            continue
        minor, cuda, where = built_for(package)
        ev = [
            evidence(name, package.get("version"), f"{package.get('location')} (metadata)"),
            evidence("torch installed", f"{torch}", "torch/version.py"),
            *_inspected(facts),
        ]
        rebuild = remedy(
            f"Rebuild {name} against the installed torch (needs nvcc of torch's CUDA "
            "major; see GD211), or install the torch it was built for.",
            f"{_pip(facts)} install --force-reinstall --no-cache-dir --no-build-isolation "
            f"{name}=={package.get('version')}",
        )
        wrong_torch = minor is not None and minor != torch_minor
        wrong_cuda = cuda is not None and torch_tag.startswith("cu") and cuda[2:4] != torch_tag[2:4]
        if wrong_torch or wrong_cuda:
            ev.append(evidence("built for", f"torch {minor or '?'}, {cuda or '?'}", str(where)))
            verdicts.append(
                fail(
                    f"{name} {package.get('version')} was built for torch {minor or '?'} "
                    f"({cuda or 'CUDA ?'}) but torch {torch} is installed: importing its ops "
                    "fails with 'undefined symbol'",
                    subject=name,
                    evidence=ev,
                    remedies=[rebuild],
                )
            )
            continue
        if name.startswith("mmcv") and package.get("has_extension") is False:
            verdicts.append(
                warn(
                    f"{name} {package.get('version')} has no compiled ops (mmcv._ext missing): "
                    "mmdet/mmseg fail with \"No module named 'mmcv._ext'\"",
                    subject=name,
                    evidence=ev,
                    remedies=[rebuild],
                )
            )
            continue
        own_time = package.get("installed_at")
        if (
            minor is None
            and isinstance(own_time, (int, float))
            and isinstance(torch_time, (int, float))
            and own_time < torch_time
        ):
            verdicts.append(
                warn(
                    f"{name}'s compiled ops were installed before the torch now installed "
                    f"({torch}): if torch changed version since, they fail with "
                    "'undefined symbol'",
                    subject=name,
                    evidence=ev,
                    remedies=[rebuild],
                )
            )
            continue
        if minor is None and cuda is None:
            verdicts.append(
                skip(
                    f"Cannot tell which torch {name}'s ops were built for (no tag or URL)",
                    subject=name,
                    evidence=ev,
                )
            )
            continue
        verdicts.append(passed(f"{name} was built for torch {torch_minor}", subject=name))
    return verdicts or passed("No packages with compiled CUDA ops installed")


# -- toolkits and libraries -------------------------------------------------------------


@check(
    "GD211",
    "toolkit-vs-torch-cuda",
    summary="nvcc / CUDA_HOME match torch's CUDA (matters when building extensions)",
    requires=("toolkit.cuda_home", "torch.cuda"),
    uses=(
        "toolkit.cuda_home_source",
        "toolkit.cuda_home_version",
        "toolkit.nvcc_path",
        "toolkit.nvcc_version",
    ),
    tags=("torch", "extensions", "cuda"),
)
def toolkit_vs_torch_cuda(facts: Facts) -> Verdict:
    """torch.utils.cpp_extension builds with CUDA_HOME's nvcc and checks it against torch."""
    cuda = facts.get("torch.cuda")
    if not cuda:
        return skip("torch is not a CUDA build")
    home, home_version = facts.get("toolkit.cuda_home"), facts.get("toolkit.cuda_home_version")
    nvcc, nvcc_version = facts.get("toolkit.nvcc_path"), facts.get("toolkit.nvcc_version")
    ev = [
        evidence("torch built for CUDA", cuda, "torch/version.py"),
        evidence(
            "CUDA home for extension builds",
            f"{home} ({facts.get('toolkit.cuda_home_source')}): {home_version}",
            "CUDA_HOME / CUDA_PATH / nvcc / /usr/local/cuda",
        ),
        evidence("nvcc on PATH", f"{nvcc}: {nvcc_version}", "nvcc --version"),
    ]
    if not home:
        return passed(
            "No CUDA toolkit installed: torch's wheel brings its own CUDA libraries; a toolkit "
            "is needed only to build extensions",
            evidence=ev,
        )
    have = _version(home_version)
    want = _version(str(cuda))
    if have is None or want is None:
        return skip(f"The version of the CUDA toolkit in {home} could not be read", evidence=ev)
    fixes = [
        remedy(
            f"Point CUDA_HOME at a CUDA {want.major}.{want.minor} toolkit before building "
            "extensions (mmcv ops, apex, flash-attn, detectron2), or install torch built for "
            f"CUDA {have.major}.{have.minor} if one exists.",
            f"export CUDA_HOME=/usr/local/cuda-{want.major}.{want.minor}",
            platforms=("linux", "wsl"),
        )
    ]
    if have.major != want.major:
        return warn(
            f"Extensions would build with CUDA {have} from {home} but torch uses CUDA {cuda}: "
            "torch.utils.cpp_extension stops with 'The detected CUDA version mismatches the "
            "version that was used to compile PyTorch' (this matters only when building "
            "extensions)",
            evidence=ev,
            remedies=fixes,
        )
    if (have.major, have.minor) != (want.major, want.minor):
        return info(
            f"Extensions would build with CUDA {have.major}.{have.minor} from {home}; torch "
            f"uses {cuda}. Same major, so builds work with a warning; code built this way may "
            "need the newer driver (matters only when building extensions)",
            evidence=ev,
            remedies=fixes,
        )
    return passed(f"CUDA home {home} matches torch's CUDA {cuda}", evidence=ev)


_WHEEL_OF = {
    "cudnn": "nvidia-cudnn-cu",
    "cublas": "nvidia-cublas-cu",
    "nccl": "nvidia-nccl-cu",
    "cudart": "nvidia-cuda-runtime-cu",
}


def _wheel_version(bundled: Mapping[str, Any], family: str) -> tuple[str, str] | None:
    for name, version in bundled.items():
        if name.startswith(_WHEEL_OF[family]) or name == _WHEEL_OF[family].rstrip("-cu"):
            return name, str(version)
    return None


def _same_release(system: str, wheel: str) -> bool:
    """Versions agree as far as both are given (8.9 vs 8.9.2.26; 12.4 vs 12.4.5.8)."""
    a, b = system.split("."), wheel.split(".")
    depth = min(len(a), len(b), 3)
    return a[:depth] == b[:depth]


@check(
    "GD212",
    "cuda-library-shadowing",
    summary="No cuDNN / cuBLAS / NCCL on LD_LIBRARY_PATH competes with torch's own",
    requires=("loader.ld_library_path", "torch.bundled_libraries"),
    uses=("env.variables",),
    tags=("torch", "cuda", "env"),
)
def cuda_library_shadowing(facts: Facts) -> Verdict:
    """A system copy found first is loaded instead of, or next to, the wheel's library."""
    bundled = facts.get("torch.bundled_libraries")
    dirs = facts.get("loader.ld_library_path")
    if not isinstance(bundled, Mapping) or not bundled:
        return skip("torch brings no nvidia-* library wheels to compare with")
    if not isinstance(dirs, (list, tuple)):
        return skip(f"LD_LIBRARY_PATH was not read: {dirs}")
    if not dirs:
        return passed("LD_LIBRARY_PATH is empty: torch loads the libraries of its own wheels")
    clashes: list[tuple[str, Any]] = []
    for entry in dirs:
        for lib in entry.get("libraries") or ():
            wheel = _wheel_version(bundled, str(lib.get("family")))
            if wheel is None or _same_release(str(lib.get("version")), wheel[1]):
                continue
            clashes.append((f"{lib.get('path')} ({lib.get('version')})", wheel))
    if not clashes:
        return passed("No CUDA library on LD_LIBRARY_PATH differs from torch's wheels")
    ev = [
        evidence("on LD_LIBRARY_PATH", where, f"torch's wheel: {name} {version}")
        for where, (name, version) in clashes
    ]
    ev.append(evidence("LD_LIBRARY_PATH", facts.get("env.variables.LD_LIBRARY_PATH"), "env"))
    return warn(
        f"LD_LIBRARY_PATH holds {len(clashes)} CUDA librar{'y' if len(clashes) == 1 else 'ies'} "
        "of other versions than torch's wheels: the loader can pick them first (same major: "
        "'cuDNN version incompatibility: PyTorch was compiled against ... but found runtime "
        "version ...'), or load both majors into one process (extensions, onnxruntime, "
        "TensorFlow) with 'undefined symbol' or CUDNN_STATUS errors",
        evidence=ev,
        remedies=[
            remedy(
                "Drop the CUDA toolkit's library directories from LD_LIBRARY_PATH in the shell "
                "that trains (torch's wheels find their own libraries).",
                "export LD_LIBRARY_PATH=$(echo \"$LD_LIBRARY_PATH\" | tr ':' '\\n' | "
                "grep -v -e cuda -e cudnn | paste -sd:)",
                platforms=("linux", "wsl"),
            )
        ],
    )


@check(
    "GD213",
    "libcuda-for-triton",
    summary="libcuda.so can be found the way Triton (torch.compile) looks for it",
    requires=("loader.libcuda", "torch.packages", "host.kind"),
    uses=("torch.cuda", "gpu.devices", "host.kind", "loader.ld_library_path"),
    tags=("torch", "compile", "cuda"),
)
def libcuda_for_triton(facts: Facts) -> Verdict:
    """Triton asks ``/sbin/ldconfig -p`` for libcuda.so.1, else TRITON_LIBCUDA_PATH."""
    packages = facts.get("torch.packages")
    if not facts.get("torch.cuda"):
        return skip("torch is not a CUDA build")
    if not isinstance(packages, Mapping) or not (
        packages.get("triton") or packages.get("pytorch-triton")
    ):
        return skip("Triton is not installed: torch.compile's GPU backend is not in use")
    if not gpus(facts):
        return skip("No NVIDIA GPU")
    libcuda = facts.get("loader.libcuda")
    if not isinstance(libcuda, Mapping):
        return skip(f"Where libcuda is was not read: {libcuda}")
    ldconfig = libcuda.get("ldconfig")
    override = libcuda.get("triton_libcuda_path")
    wsl = facts.get("host.kind") == "wsl2"
    ev = [
        evidence("TRITON_LIBCUDA_PATH", override or "unset", "environment"),
        evidence("ldconfig -p libcuda", _ldconfig_text(ldconfig), "/sbin/ldconfig -p"),
    ]
    if wsl:
        ev.append(
            evidence(
                "/usr/lib/wsl/lib/libcuda.so.1",
                "present" if libcuda.get("wsl_lib_has_libcuda") else "missing",
                "file system",
            )
        )
    if override:
        if libcuda.get("triton_path_has_libcuda"):
            return passed(f"TRITON_LIBCUDA_PATH points at libcuda ({override})", evidence=ev)
        return fail(
            f"TRITON_LIBCUDA_PATH={override} holds no libcuda.so.1: torch.compile fails",
            evidence=ev,
            remedies=[_triton_remedy(wsl)],
        )
    if not isinstance(ldconfig, Mapping):
        return skip(f"ldconfig could not be read: {ldconfig}", evidence=ev)
    if ldconfig.get("libcuda.so.1"):
        return passed("ldconfig lists libcuda.so.1: Triton finds the driver", evidence=ev)
    dirs = facts.get("loader.ld_library_path")
    if isinstance(dirs, (list, tuple)) and any(d.get("has_libcuda") for d in dirs):
        return passed("libcuda.so.1 is in an LD_LIBRARY_PATH directory", evidence=ev)
    return fail(
        "libcuda.so.1 is not in the loader cache: torch.compile (Triton) fails with "
        "'libcuda.so cannot found!'"
        + (
            " although /usr/lib/wsl/lib has it"
            if wsl and libcuda.get("wsl_lib_has_libcuda")
            else ""
        ),
        evidence=ev,
        remedies=[_triton_remedy(wsl)],
    )


def _ldconfig_text(ldconfig: object) -> str:
    if not isinstance(ldconfig, Mapping):
        return str(ldconfig)
    found = [p for paths in ldconfig.values() for p in paths]
    return ", ".join(found) or "no libcuda entries"


def _triton_remedy(wsl: bool) -> Any:
    if wsl:
        return remedy(
            "Add WSL's driver directory to the loader cache (or set TRITON_LIBCUDA_PATH).",
            "echo /usr/lib/wsl/lib | sudo tee /etc/ld.so.conf.d/ld.wsl.conf && sudo ldconfig",
            "export TRITON_LIBCUDA_PATH=/usr/lib/wsl/lib",
            platforms=("wsl",),
        )
    return remedy(
        "Refresh the loader cache after installing the driver (containers: run with the "
        "NVIDIA runtime so libcuda is mounted), or set TRITON_LIBCUDA_PATH.",
        "sudo ldconfig",
        platforms=("linux",),
    )


@check(
    "GD214",
    "target-interpreter",
    summary="Says which Python's environment the torch checks inspected, and why that one",
    requires=("torch.target",),
    tags=("torch", "install"),
)
def target_interpreter(facts: Facts) -> Verdict:
    """gpudoctor installed as a tool runs apart from the environment that trains."""
    target = facts.get("torch.target")
    if not isinstance(target, Mapping):
        return skip(f"No interpreter was chosen: {target}")
    executable, reason = target.get("executable"), target.get("reason")
    ev = [evidence("interpreter inspected", executable, str(reason))]
    if target.get("error"):
        return warn(
            f"Could not inspect {executable} ({reason}): {target.get('error')}; the torch "
            "checks were skipped",
            evidence=ev,
            remedies=[
                remedy(
                    "Point gpudoctor at the interpreter that runs your training.",
                    "gpudoctor check --python /path/to/env/bin/python",
                )
            ],
        )
    if target.get("is_gpudoctor") is False:
        return info(
            f"torch facts are from {executable}, not gpudoctor's own interpreter: {reason}",
            evidence=ev,
            remedies=[
                remedy(
                    "If training runs elsewhere, name that interpreter.",
                    "gpudoctor check --python /path/to/env/bin/python",
                )
            ],
        )
    return passed(f"Inspected gpudoctor's own interpreter {executable} ({reason})", evidence=ev)
