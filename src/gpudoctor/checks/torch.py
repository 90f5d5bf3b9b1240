"""Does the installed torch fit this machine's GPU and driver, and is it configured sanely?

Facts come from the ``torch`` section (read from files, torch is never imported), the
``gpu`` section (NVML) and the allow-listed environment variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from packaging.version import InvalidVersion
from packaging.version import Version

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
from gpudoctor.checks.cuda_drivers import newest_release_for_driver
from gpudoctor.checks.cuda_drivers import newest_supported_index
from gpudoctor.checks.gpu import gpus
from gpudoctor.checks.torch_wheels import builds_for
from gpudoctor.checks.torch_wheels import minor_of
from gpudoctor.facts.model import Facts
from gpudoctor.lazy_regex import lazy_compile


def _windows_driver(facts: Facts) -> bool:
    """WSL2 runs on the Windows driver, so Windows driver numbers apply there too."""
    return facts.get("host.kind") in ("windows", "wsl2")


def _torch_version(facts: Facts) -> Version | None:
    text = facts.get("torch.version")
    try:
        return Version(str(text)) if isinstance(text, str) else None
    except InvalidVersion:
        return None


def _pinned_torch(facts: Facts) -> str:
    """``torch==2.7.1``: the remedy keeps the user's release, so pip cannot fall back."""
    version = _torch_version(facts)
    return f"torch=={version.base_version}" if version is not None else "torch"


def _pip(facts: Facts) -> str:
    return "py -m pip" if facts.get("host.kind") == "windows" else "python -m pip"


@check(
    "GD201",
    "torch-cpu-only",
    summary="torch is a CUDA build when the machine has an NVIDIA GPU",
    requires=("torch.installed", "gpu.devices", "host.kind"),
    uses=("gpu.driver_version", "torch.cuda", "torch.rocm", "torch.version"),
    tags=("torch", "install"),
)
def torch_cpu_only(facts: Facts) -> Verdict:
    """A CPU-only wheel (plain ``pip install torch`` on Windows) cannot use the GPU at all."""
    if not facts.get("torch.installed"):
        return skip("torch is not installed for this Python")
    devices = gpus(facts)
    if not devices or facts.get("host.kind") == "macos":
        return skip("No NVIDIA GPU: a CPU build of torch is the right one here")
    ev = [
        evidence("torch", facts.get("torch.version"), "torch/version.py"),
        evidence(
            "built for CUDA", facts.get("torch.cuda") or "none (CPU-only build)", "torch/version.py"
        ),
        evidence("GPUs", ", ".join(str(d.get("name")) for d in devices), "NVML"),
    ]
    if facts.get("torch.cuda") or facts.get("torch.rocm"):
        return passed(f"torch {facts.get('torch.version')} is a GPU build", evidence=ev)
    driver = facts.get("gpu.driver_version")
    windows = _windows_driver(facts)
    version = facts.get("torch.version")
    cuda = (
        newest_supported_index(
            driver, windows=windows, torch_version=version if isinstance(version, str) else None
        )
        if isinstance(driver, str)
        else None
    )
    ev.append(evidence("NVIDIA driver", driver, "nvmlSystemGetDriverVersion"))
    minor = minor_of(version) if isinstance(version, str) else None
    if cuda is None and minor is not None and not builds_for(minor):
        older = newest_release_for_driver(str(driver), windows=windows)
        fixes = [
            remedy(
                f"Reinstall torch {version} from the CUDA index of a build that driver {driver} "
                "supports: pytorch.org/get-started lists the builds of this release "
                "(gpudoctor's table stops at an older one)."
            )
        ]
        if older:
            fixes.append(
                remedy(
                    f"Or install torch {older[0]}, whose CUDA {older[1]} build this driver runs.",
                    f"{_pip(facts)} install --force-reinstall torch=={older[0]}.* "
                    f"--index-url {index_url(older[1])}",
                )
            )
        return fail(
            f"torch {version} is a CPU-only build, but this machine has {len(devices)} "
            "NVIDIA GPU(s): training runs on the CPU",
            evidence=ev,
            remedies=fixes,
        )
    if cuda is None:
        return fail(
            "torch is a CPU-only build, and the NVIDIA driver is too old for any current "
            "PyTorch CUDA build",
            evidence=ev,
            remedies=[
                remedy(
                    "Update the NVIDIA driver first, then reinstall torch from "
                    "PyTorch's CUDA index (see pytorch.org/get-started)."
                )
            ],
        )
    command = (
        f"{_pip(facts)} install --force-reinstall {_pinned_torch(facts)} "
        f"--index-url {index_url(cuda)}"
    )
    return fail(
        f"torch {facts.get('torch.version')} is a CPU-only build, but this machine has "
        f"{len(devices)} NVIDIA GPU(s): training runs on the CPU",
        evidence=ev,
        remedies=[
            remedy(
                f"Reinstall torch built for CUDA {cuda}, which driver {driver} supports "
                "(add torchvision/torchaudio to the same command if you use them).",
                command,
            ),
            remedy(
                "In requirements files, put the index on its own line so the next install "
                f"keeps the CUDA build: --index-url {index_url(cuda)}"
            ),
        ],
    )


@check(
    "GD202",
    "torch-driver-too-old",
    summary="The NVIDIA driver supports the CUDA release torch was built for",
    requires=("torch.cuda", "gpu.driver_version", "host.kind"),
    uses=("gpu.cuda_driver_version", "torch.version"),
    tags=("torch", "driver"),
)
def torch_driver_too_old(facts: Facts) -> Verdict:
    """Compare torch's CUDA build with NVIDIA's minimum driver per CUDA release."""
    cuda, driver = facts.get("torch.cuda"), facts.get("gpu.driver_version")
    if not cuda:
        return skip("torch is not a CUDA build")
    windows = _windows_driver(facts)
    verdict = judge_driver(str(cuda), str(driver), windows=windows)
    platform = "Windows" if windows else "Linux"
    ev = [
        evidence("torch built for CUDA", cuda, "torch/version.py"),
        evidence("NVIDIA driver", driver, "nvmlSystemGetDriverVersion"),
        evidence(
            "newest CUDA the driver supports",
            facts.get("gpu.cuda_driver_version"),
            "nvmlSystemGetCudaDriverVersion",
        ),
        evidence(
            f"{platform} driver CUDA {cuda} needs",
            verdict.needed or "unknown",
            "CUDA Toolkit release notes",
        ),
    ]
    version = facts.get("torch.version")
    fallback = newest_supported_index(
        str(driver), windows=windows, torch_version=version if isinstance(version, str) else None
    )
    fixes = [
        remedy(
            f"Update the NVIDIA driver to {verdict.needed} or newer"
            + (" (the Windows driver: WSL uses it)" if facts.get("host.kind") == "wsl2" else "")
            + "."
        )
    ]
    older = newest_release_for_driver(str(driver), windows=windows) if not fallback else None
    if older:
        fixes.append(
            remedy(
                f"Or install torch {older[0]}, the newest release with a build for CUDA "
                f"{older[1]}, which this driver supports (gpudoctor's table lists no such "
                f"build of torch {facts.get('torch.version')}).",
                f"{_pip(facts)} install --force-reinstall torch=={older[0]}.* "
                f"--index-url {index_url(older[1])}",
            )
        )
    if fallback:
        fixes.append(
            remedy(
                f"Or install a torch built for CUDA {fallback}, which this driver supports.",
                f"{_pip(facts)} install --force-reinstall {_pinned_torch(facts)} "
                f"--index-url {index_url(fallback)}",
            )
        )
    if verdict.status == "too-old":
        return fail(
            f"torch is built for CUDA {cuda}, but driver {driver} is older than CUDA "
            f"{cuda.split('.')[0]}.x's minimum ({verdict.floor}): torch will report "
            "'The NVIDIA driver on your system is too old'",
            evidence=ev,
            remedies=fixes,
        )
    if verdict.status == "minor-compat":
        return warn(
            f"Driver {driver} runs CUDA {cuda} code only in compatibility mode (needs "
            f"{verdict.needed} for full support): torch.compile and Triton kernels may fail "
            "with 'unsupported PTX version'",
            evidence=ev,
            remedies=fixes,
        )
    if verdict.status == "unknown":
        return skip(f"No driver table entry for CUDA {cuda}", evidence=ev)
    return passed(f"Driver {driver} supports torch's CUDA {cuda}", evidence=ev)


@check(
    "GD203",
    "multiple-torch",
    summary="Only one torch installation is visible to this Python",
    requires=("torch.installs",),
    tags=("torch", "install"),
)
def multiple_torch(facts: Facts) -> Verdict:
    """A user-site or leftover copy shadows the one pip reports, and upgrades 'do nothing'."""
    installs = facts.get("torch.installs") or ()
    if len(installs) < 2:
        return passed(f"{len(installs)} torch installation(s) visible")
    active = facts.get("torch.location")
    ev = [
        evidence(
            "torch " + ("(imported)" if i.get("location") == active else "(shadowed)"),
            f"{i.get('version')} in {i.get('location')}"
            + (" [user site]" if i.get("user_site") else "")
            + ("" if i.get("has_metadata") else " [no metadata: leftover files]"),
            "sys.path scan",
        )
        for i in installs
    ]
    fixes = [
        remedy(
            "Uninstall until pip finds no torch, then install the one you want once.",
            f"{_pip(facts)} uninstall -y torch",
        )
    ]
    if any(i.get("user_site") for i in installs):
        fixes.append(
            remedy(
                "Or keep the user site out of this environment.",
                "export PYTHONNOUSERSITE=1",
                platforms=("linux", "wsl", "macos"),
            )
        )
    return warn(
        f"{len(installs)} torch installations are visible to this Python; "
        f"'import torch' loads {facts.get('torch.version')} from {active}",
        evidence=ev,
        remedies=fixes,
    )


# -- environment variables --------------------------------------------------------------

#: Debugging switches that slow training a lot (warn) or a little (info) when left on.
DEBUG_VARIABLES = {
    "CUDA_LAUNCH_BLOCKING": ("warn", "makes every CUDA launch synchronous"),
    "PYTORCH_NO_CUDA_MEMORY_CACHING": ("warn", "turns off the CUDA caching allocator"),
    "CUDA_CACHE_DISABLE": ("info", "disables the PTX JIT cache (recompiles every start)"),
    "TORCH_USE_CUDA_DSA": ("info", "enables device-side assertions where compiled in"),
    "TORCH_DISTRIBUTED_DEBUG": ("info", "adds collective consistency checks"),
    "NCCL_DEBUG": ("info", "logs every NCCL operation at INFO/TRACE"),
    "TORCH_LOGS": ("info", "turns on torch.compile logging"),
    "TORCHDYNAMO_VERBOSE": ("info", "turns on verbose torch.compile tracing"),
    "CUDNN_LOGINFO_DBG": ("info", "logs every cuDNN call"),
}
_OFF_VALUES = {"", "0", "false", "off", "no", "warn", "version"}


def _env(facts: Facts) -> Mapping[str, str]:
    variables = facts.get("env.variables")
    return variables if isinstance(variables, Mapping) else {}


@check(
    "GD204",
    "debug-env-left-on",
    summary="No CUDA or PyTorch debugging switch is left on in the environment",
    requires=("env.variables",),
    tags=("torch", "performance", "env"),
)
def debug_env_left_on(facts: Facts) -> Verdict:
    """These variables help find a bug and then quietly make every run slower."""
    env = _env(facts)
    found = [
        (name, env[name], *DEBUG_VARIABLES[name])
        for name in DEBUG_VARIABLES
        if name in env and env[name].strip().lower() not in _OFF_VALUES
    ]
    if not found:
        return passed("No debugging variables set")
    ev = [evidence(name, value, f"environment: {why}") for name, value, _, why in found]
    names = ", ".join(name for name, *_ in found)
    unset = [
        remedy(
            "Unset them in the shell or job script that starts training.",
            *(f"unset {name}" for name, *_ in found),
            platforms=("linux", "wsl", "macos"),
        ),
        remedy(
            "On Windows remove them for this session (and from System Properties > "
            "Environment Variables if set there).",
            *(f"set {name}=" for name, *_ in found),
            platforms=("windows",),
        ),
    ]
    if any(level == "warn" for _, _, level, _ in found):
        return warn(
            f"Debugging variables are on and slow training down: {names}",
            evidence=ev,
            remedies=unset,
        )
    return info(f"Debugging variables are on: {names}", evidence=ev, remedies=unset)


#: PYTORCH_CUDA_ALLOC_CONF options and the first torch release that accepts each, from torch's
#: own parsers: c10/cuda/CUDAAllocatorConfig.cpp (CUDA-only keys; the list of names is also in
#: the installed ``torch/include/c10/cuda/CUDAAllocatorConfig.h``) and, from torch 2.9,
#: c10/core/AllocatorConfig.cpp (keys shared by every device; their names are in
#: ``torch/lib/libc10.so``). ``exact`` is False for keys first read in 2.13 that the 2.10
#: parser did not have: torch 2.10 and older reject them, 2.11 and 2.12 may or may not.
#: Built 2026-11-27 against torch 2.13.0.
#: Refresh: for a new torch, list the keys in both files on its release branch (or
#: ``strings libc10.so`` plus the header of the installed wheel) and add the new ones.
ALLOC_OPTIONS_CHECKED_UP_TO = "2.13"
_KEY_SINCE: dict[str, tuple[str, bool]] = {
    "backend": ("2.0", True),
    "max_split_size_mb": ("1.0", True),
    "roundup_power2_divisions": ("1.0", True),
    "garbage_collection_threshold": ("1.0", True),
    "expandable_segments": ("2.1", True),
    "release_lock_on_cudamalloc": ("2.1", True),
    "release_lock_on_hipmalloc": ("2.1", True),
    "pinned_use_cuda_host_register": ("2.1", True),
    "pinned_use_hip_host_register": ("2.1", True),
    "pinned_num_register_threads": ("2.1", True),
    "max_non_split_rounding_mb": ("2.6", True),
    "pinned_use_background_threads": ("2.6", True),
    "graph_capture_record_stream_reuse": ("2.9", True),
    "pinned_reserve_segment_size_mb": ("2.10", True),
    "large_segment_size_mb": ("2.13", False),
    "pinned_max_cached_size_mb": ("2.13", False),
    "pinned_max_round_threshold_mb": ("2.13", False),
    "per_process_memory_fraction": ("2.13", False),
    "pinned_free_catch_all": ("2.13", False),
    "throw_on_cudamalloc_oom": ("2.13", False),
}
_BOOL_KEYS = {
    "expandable_segments",
    "release_lock_on_cudamalloc",
    "release_lock_on_hipmalloc",
    "pinned_use_cuda_host_register",
    "pinned_use_hip_host_register",
    "pinned_use_background_threads",
    "graph_capture_record_stream_reuse",
    "pinned_free_catch_all",
    "throw_on_cudamalloc_oom",
}
_MB_KEYS = {
    "max_split_size_mb",
    "max_non_split_rounding_mb",
    "pinned_reserve_segment_size_mb",
    "large_segment_size_mb",
    "pinned_max_cached_size_mb",
    "pinned_max_round_threshold_mb",
}
_CHECKED = Version(ALLOC_OPTIONS_CHECKED_UP_TO)
_LAST_WITHOUT_NEW_KEYS = Version("2.10")
_NATIVE_ONLY = {
    "max_split_size_mb",
    "garbage_collection_threshold",
    "roundup_power2_divisions",
    "expandable_segments",
    "max_non_split_rounding_mb",
}


def _split_pairs(text: str) -> list[str]:
    """Split on commas outside ``[...]`` (roundup_power2_divisions takes a list)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def _value_problem(key: str, value: str) -> str | None:
    """Why ``value`` is wrong for ``key``, in PyTorch's terms; None when it is fine."""
    if key in _BOOL_KEYS:
        return None if value in ("True", "False") else "must be exactly True or False"
    if key == "backend":
        ok = value in ("native", "cudaMallocAsync")
        return None if ok else "must be native or cudaMallocAsync"
    if key == "per_process_memory_fraction":
        try:
            fraction = float(value)
        except ValueError:
            return "must be a number between 0 and 1"
        return None if 0.0 < fraction <= 1.0 else "must be above 0 and at most 1"
    if key in _MB_KEYS:
        if not value.isdigit():
            return "must be a whole number of MB"
        if key == "max_split_size_mb" and int(value) < 20:
            return "is below PyTorch's minimum of 20 MB"
        return None
    if key == "garbage_collection_threshold":
        try:
            number = float(value)
        except ValueError:
            return "must be a number between 0 and 1"
        return None if 0.0 < number < 1.0 else "must be strictly between 0 and 1"
    if key == "pinned_num_register_threads":
        ok = value.isdigit() and _power_of_two(int(value)) and int(value) <= 128
        return None if ok else "must be a power of two up to 128"
    if key == "roundup_power2_divisions":
        if value.startswith("["):
            entries = [e.split(":", 1) for e in re.findall(r"[^\[\],:]+:[^\[\],:]+", value)]
            if not entries:
                return "must be a list of interval:divisions pairs"
            for interval, divisions in ((i.strip(), d.strip()) for i, d in entries):
                if interval != ">" and not (interval.isdigit() and _power_of_two(int(interval))):
                    return (
                        f"interval {interval} must be a power of 2 (in MB) or '>' "
                        "(PyTorch: 'For roundups, the intervals have to be power of 2')"
                    )
                if not divisions.isdigit() or (
                    int(divisions) and not _power_of_two(int(divisions))
                ):
                    return f"divisions {divisions} must be a power of 2 or 0"
            return None
        return None if value.isdigit() and _power_of_two(int(value)) else "must be a power of 2"
    return None


def validate_alloc_conf(
    text: str, *, torch_version: Version | None, windows: bool
) -> list[tuple[str, str, str]]:
    """Problems as ``(severity, key, message)``, checked the way PyTorch parses the string."""
    problems: list[tuple[str, str, str]] = []
    stripped = text.strip()
    if stripped[:1] in ("'", '"') or stripped[-1:] in ("'", '"'):
        problems.append(("fail", "", "the value contains quotes (Windows 'set' keeps them)"))
        stripped = stripped.strip("'\"")
    seen: dict[str, str] = {}
    for pair in _split_pairs(stripped):
        if ":" not in pair:
            hint = " (use ':' not '=')" if "=" in pair else ""
            problems.append(("fail", pair, f"'{pair}' is not key:value{hint}"))
            continue
        key, value = (p.strip() for p in pair.split(":", 1))
        if key not in _KEY_SINCE:
            newer = torch_version is not None and torch_version.release[:2] > _CHECKED.release[:2]
            problems.append(
                (
                    "warn" if newer else "fail",
                    key,
                    f"unknown option '{key}' (PyTorch raises 'Unrecognized ... option')"
                    + (
                        f"; gpudoctor knows the options up to torch {_CHECKED}, so torch "
                        f"{torch_version} may accept it"
                        if newer
                        else ""
                    ),
                )
            )
            continue
        since_text, exact = _KEY_SINCE[key]
        since = Version(since_text)
        if torch_version is not None and torch_version.release[:2] < since.release[:2]:
            if exact:
                problems.append(("fail", key, f"'{key}' needs torch {since} or newer"))
            elif torch_version.release[:2] <= _LAST_WITHOUT_NEW_KEYS.release:
                problems.append(
                    (
                        "fail",
                        key,
                        f"'{key}' is not an option of torch {torch_version} (torch 2.10's "
                        f"parser lacks it; torch {since} has it)",
                    )
                )
            else:
                problems.append(
                    (
                        "warn",
                        key,
                        f"'{key}' is accepted by torch {since}; older releases such as "
                        f"{torch_version} may reject it as unrecognized",
                    )
                )
            continue
        why = _value_problem(key, value)
        if why:
            problems.append(("fail", key, f"{key}:{value} {why}"))
            continue
        seen[key] = value
    if seen.get("expandable_segments") == "True" and windows:
        problems.append(
            (
                "warn",
                "expandable_segments",
                "expandable_segments is not supported "
                "on Windows and is ignored (it works under WSL2 and Linux)",
            )
        )
    if seen.get("backend") == "cudaMallocAsync":
        ignored = sorted(set(seen) & _NATIVE_ONLY)
        if ignored:
            problems.append(("warn", "backend", "cudaMallocAsync ignores " + ", ".join(ignored)))
    return problems


@check(
    "GD205",
    "alloc-conf",
    summary="PYTORCH_CUDA_ALLOC_CONF / PYTORCH_ALLOC_CONF parse and take effect",
    requires=("env.variables",),
    uses=("host.kind", "torch.version"),
    tags=("torch", "memory", "env"),
)
def alloc_conf(facts: Facts) -> Verdict:
    """Mistakes here surface only at the first CUDA allocation, deep into a run."""
    env = _env(facts)
    names = [n for n in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF") if env.get(n)]
    if not names:
        return passed("No caching-allocator settings in the environment")
    version = _torch_version(facts)
    windows = facts.get("host.kind") == "windows"
    ev, severity, messages = [], "pass", []
    order = {"pass": 0, "info": 1, "warn": 2, "fail": 3}
    for name in names:
        ev.append(evidence(name, env[name], "environment"))
        for level, _key, message in validate_alloc_conf(
            env[name], torch_version=version, windows=windows
        ):
            messages.append(f"{name}: {message}")
            severity = max(severity, level, key=order.__getitem__)
    if "PYTORCH_ALLOC_CONF" in names and version is not None:
        base = Version(version.base_version)
        if base < Version("2.9"):
            messages.append(f"PYTORCH_ALLOC_CONF is ignored by torch {version} (read from 2.9)")
            severity = max(severity, "warn", key=order.__getitem__)
        elif base < Version("2.11") and "PYTORCH_CUDA_ALLOC_CONF" not in names:
            messages.append(
                f"torch {version}'s CUDA allocator still reads only "
                "PYTORCH_CUDA_ALLOC_CONF, so settings such as expandable_segments "
                "in PYTORCH_ALLOC_CONF are ignored on CUDA"
            )
            severity = max(severity, "warn", key=order.__getitem__)
    if len(names) == 2:
        messages.append(
            "both variables are set; torch reads PYTORCH_ALLOC_CONF first and warns "
            "that the other is deprecated"
        )
        severity = max(severity, "info", key=order.__getitem__)
    ev.extend(evidence("problem", m, "gpudoctor parser") for m in messages)
    unknown = [
        what
        for what, value in (("torch version", version), ("platform", facts.get("host.kind")))
        if value is None or isinstance(value, (Unavailable, NotApplicable))
    ]
    if severity == "pass" and unknown:
        return info(
            "Caching-allocator settings parse, but the "
            + " and ".join(unknown)
            + " could not be read, so options that depend on them were not checked",
            evidence=ev,
        )
    if severity == "pass":
        return passed("Caching-allocator settings are valid", evidence=ev)
    fixes = [
        remedy(
            "Write it as comma-separated key:value pairs without quotes, for example",
            "export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True,max_split_size_mb:128",
            platforms=("linux", "wsl", "macos"),
        ),
        remedy(
            "On Windows: no quotes, and no expandable_segments.",
            "set PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128",
            platforms=("windows",),
        ),
    ]
    title = "Caching-allocator settings have problems: " + "; ".join(messages)
    return {"info": info, "warn": warn, "fail": fail}[severity](title, evidence=ev, remedies=fixes)


_UUID_TOKEN = lazy_compile(r"^(GPU|MIG)-[0-9a-fA-F-]+$")


@check(
    "GD206",
    "cuda-visible-devices",
    summary="CUDA_VISIBLE_DEVICES names GPUs that exist",
    requires=("env.variables",),
    uses=("gpu.devices",),
    tags=("cuda", "env"),
)
def cuda_visible_devices(facts: Facts) -> Verdict:
    """CUDA stops reading the list at the first entry it cannot resolve."""
    env = _env(facts)
    if "CUDA_VISIBLE_DEVICES" not in env:
        return passed("CUDA_VISIBLE_DEVICES is not set: all GPUs are visible")
    raw = env["CUDA_VISIBLE_DEVICES"]
    devices = gpus(facts)
    ev = [
        evidence("CUDA_VISIBLE_DEVICES", repr(raw), "environment"),
        evidence("GPUs NVML lists", len(devices), "NVML (ignores CUDA_VISIBLE_DEVICES)"),
    ]
    tokens = [t.strip() for t in raw.split(",")]
    if not devices:
        return skip("No NVIDIA GPU listed by NVML to compare with", evidence=ev)
    if raw.strip() in ("", "-1") or (tokens[0].lstrip("-").isdigit() and int(tokens[0]) < 0):
        return warn(
            "CUDA_VISIBLE_DEVICES hides every GPU: torch.cuda.is_available() will be False",
            evidence=ev,
            remedies=[
                remedy(
                    "Unset it, or list the GPUs to use.",
                    "unset CUDA_VISIBLE_DEVICES",
                    platforms=("linux", "wsl", "macos"),
                )
            ],
        )
    uuids = [str(d.get("uuid")) for d in devices if isinstance(d.get("uuid"), str)]
    mig = any(
        isinstance(d.get("mig_mode"), Mapping) and d["mig_mode"].get("current") for d in devices
    )
    usable: list[str] = []
    for position, token in enumerate(tokens):
        problem = _token_problem(token, len(devices), uuids, mig)
        if problem:
            dropped = tokens[position + 1 :]
            tail = f"; CUDA also ignores what follows it ({', '.join(dropped)})" if dropped else ""
            shown = ", ".join(usable) or "no GPU at all"
            return fail(
                f"CUDA_VISIBLE_DEVICES entry '{token}' {problem}{tail}: CUDA will use {shown}",
                evidence=ev,
                remedies=[
                    remedy(
                        f"Use indices 0-{len(devices) - 1} or GPU UUIDs from 'nvidia-smi -L'.",
                        "nvidia-smi -L",
                    )
                ],
            )
        usable.append(token)
    return passed(f"CUDA_VISIBLE_DEVICES selects {', '.join(usable)}", evidence=ev)


def _token_problem(token: str, count: int, uuids: list[str], mig: bool) -> str | None:
    if token.isdigit():
        return None if int(token) < count else f"names GPU {token}, which does not exist"
    if _UUID_TOKEN.match(token):
        if token.startswith("MIG-"):
            return None if mig else "is a MIG instance, but no GPU has MIG enabled"
        matches = [u for u in uuids if u.startswith(token) or token.startswith(u)]
        return None if matches else "matches no GPU's UUID"
    return "is neither a GPU index nor a GPU-/MIG- UUID"


@check(
    "GD207",
    "mps-unavailable",
    summary="On Apple silicon, Python and torch run natively so MPS can be used",
    requires=("host.kind",),
    uses=("torch.apple",),
    tags=("torch", "macos"),
)
def mps_unavailable(facts: Facts) -> Verdict:
    """x86_64 Python under Rosetta, or an x86_64 torch wheel, has no MPS backend."""
    if facts.get("host.kind") != "macos":
        return skip("MPS exists only on macOS")
    apple = facts.get("torch.apple")
    if not isinstance(apple, Mapping):
        return skip("torch facts for macOS were not collected")
    ev = [
        evidence("Apple silicon", apple.get("apple_silicon"), "sysctl hw.optional.arm64"),
        evidence("under Rosetta", apple.get("rosetta"), "sysctl sysctl.proc_translated"),
        evidence("Python architecture", apple.get("machine"), "platform.machine()"),
        evidence("macOS", apple.get("macos_version"), "platform.mac_ver()"),
    ]
    if apple.get("apple_silicon") is not True:
        return skip("Intel Mac: MPS needs Apple silicon or a supported AMD GPU", evidence=ev)
    native = remedy(
        "Install a native arm64 Python (python.org universal2 installer, or "
        "conda with CONDA_SUBDIR=osx-arm64) and reinstall torch there.",
        'python3 -c "import platform; print(platform.machine())"',
        platforms=("macos",),
    )
    if apple.get("rosetta") is True:
        return fail(
            "Python runs under Rosetta (x86_64) on Apple silicon: torch cannot use the "
            "GPU (MPS) and runs slowly",
            evidence=ev,
            remedies=[native],
        )
    tags = [t for i in (facts.get("torch.installs") or ()) for t in (i.get("wheel_tags") or ())]
    if (
        facts.get("torch.installed")
        and tags
        and not any("arm64" in t or "universal" in t for t in tags)
    ):
        ev.append(evidence("torch wheel", ", ".join(tags), "torch dist-info WHEEL"))
        return fail(
            "The installed torch wheel is for x86_64, so MPS is missing",
            evidence=ev,
            remedies=[native],
        )
    version = str(apple.get("macos_version") or "")
    try:
        too_old = bool(version) and Version(version) < Version("12.3")
    except InvalidVersion:
        too_old = False
    if too_old:
        return fail(
            f"macOS {version} is older than 12.3, the first release with MPS",
            evidence=ev,
            remedies=[remedy("Update macOS.")],
        )
    return passed("Native arm64 Python on Apple silicon: MPS can be used", evidence=ev)
