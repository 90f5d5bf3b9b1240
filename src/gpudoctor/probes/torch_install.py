"""Which torch this interpreter would import, and how it was built, without importing it.

``import torch`` costs seconds and hundreds of MB, and a broken install can crash it, so
everything here comes from files: the ``torch-*.dist-info`` metadata, ``torch/version.py``
(plain assignments, parsed with :mod:`ast`, never executed) and the metadata of the
``nvidia-*`` wheels that CUDA builds of torch pull in. Every path entry of the target
interpreter (:mod:`gpudoctor.probes.target`) is scanned, so a user-site copy shadowing the
environment's copy shows up as two installs.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import platform
import re
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.dist_info import Headers
from gpudoctor.probes.dist_info import distribution_field
from gpudoctor.probes.dist_info import first
from gpudoctor.probes.dist_info import metadata_dir_names
from gpudoctor.probes.dist_info import other_distributions
from gpudoctor.probes.dist_info import read_headers
from gpudoctor.probes.target import target

#: CUDA libraries that torch wheels bundle as separate PyPI distributions.
BUNDLED_LIBRARY = lazy_compile(r"^nvidia-(cudnn|nccl|cublas|cuda-runtime|cuda-nvrtc)(-cu\d+)?$")

_VERSION_FIELDS = ("__version__", "cuda", "hip", "rocm", "xpu", "debug", "git_version")


_SEPARATORS = lazy_compile(r"[-_.]+")


def _normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it (``Torch_Vision`` -> ``torch-vision``)."""
    lowered = name.lower()
    if "_" not in lowered and "." not in lowered and "--" not in lowered:
        return lowered  # most names: nothing to replace
    return _SEPARATORS.sub("-", lowered)


def read_version_py(path: str | os.PathLike[str]) -> dict[str, Any] | Unavailable:
    """The constant assignments in ``torch/version.py`` (``cuda`` is annotated, hence AnnAssign)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError) as exc:
        return Unavailable(f"{path} unreadable: {exc}")
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if (
            isinstance(target, ast.Name)
            and target.id in _VERSION_FIELDS
            and isinstance(value, ast.Constant)
            and isinstance(value.value, (str, bool, type(None)))
        ):
            values[target.id] = value.value
    return values


#: The metadata folder names of each path entry, listed once for the whole torch probe
#: (the installs and the family read the same site-packages).
Listings = dict[str, list[str]]


def _listed(entry: str, listings: Listings | None) -> list[str]:
    if listings is None:
        return metadata_dir_names(entry)
    names = listings.get(entry)
    if names is None:
        names = listings[entry] = metadata_dir_names(entry)
    return names


def _dist_infos(entry: str, listings: Listings | None = None) -> Iterable[tuple[str, str]]:
    """``(normalized name, folder name)`` for each dist-info / egg-info in a path entry."""
    for folder in _listed(entry, listings):
        yield _normalize(os.path.splitext(folder)[0].split("-")[0]), folder


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _wheel_tags(info_dir: str) -> list[str]:
    text = _read(os.path.join(info_dir, "WHEEL")) or ""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def _install(entry: str, info_dir: str | None, user_site: str | None) -> dict[str, Any]:
    package = os.path.join(entry, "torch")
    has_package_dir = os.path.isdir(package)
    meta = read_headers(info_dir) if info_dir else None
    built = read_version_py(os.path.join(package, "version.py")) if has_package_dir else {}
    if isinstance(built, Unavailable):
        built_values: dict[str, Any] = {}
    else:
        built_values = built
    version = built_values.get("__version__") or first(meta, "Version")
    requires = meta.get("requires-dist") if meta else None
    return {
        "location": entry,
        "version": version,
        "metadata_version": first(meta, "Version"),
        "local_tag": version.split("+", 1)[1] if version and "+" in version else None,
        "cuda": built_values.get("cuda"),
        "rocm": built_values.get("hip") or built_values.get("rocm"),
        "xpu": built_values.get("xpu"),
        "debug": built_values.get("debug"),
        "git_version": built_values.get("git_version"),
        "version_py": "missing" if not has_package_dir else ("ok" if built_values else str(built)),
        "has_package": os.path.isfile(os.path.join(package, "__init__.py")),
        "has_metadata": info_dir is not None,
        "installer": (
            ((_read(os.path.join(info_dir, "INSTALLER")) or "").strip() or None)
            if info_dir
            else None
        ),
        "wheel_tags": _wheel_tags(info_dir) if info_dir else [],
        "bundled_requirements": sorted(
            r.split(";")[0].strip() for r in (requires or ()) if r.startswith("nvidia-")
        ),
        "user_site": user_site is not None and _same(entry, user_site),
    }


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def scan_torch_installs(
    paths: Sequence[str], user_site: str | None = None, listings: Listings | None = None
) -> dict[str, Any]:
    """Every torch install and bundled CUDA library found along ``paths``, in path order."""
    installs: list[dict[str, Any]] = []
    bundled: dict[str, str] = {}
    seen: list[str] = []
    for raw in paths:
        entry = os.path.normpath(raw or ".")
        if not os.path.isdir(entry) or any(_same(entry, s) for s in seen):
            continue
        seen.append(entry)
        torch_info = None
        for name, folder in _dist_infos(entry, listings):
            if name == "torch":
                torch_info = os.path.join(entry, folder)
            elif BUNDLED_LIBRARY.match(name) and name not in bundled:
                version = first(read_headers(os.path.join(entry, folder)), "Version")
                if version:
                    bundled[name] = version
        if torch_info is not None or os.path.isfile(os.path.join(entry, "torch", "__init__.py")):
            installs.append(_install(entry, torch_info, user_site))
    return {"installs": installs, "bundled_libraries": bundled}


def _active_location(paths: Sequence[str]) -> str | None:
    """Where ``import torch`` would load from; a top-level lookup that imports nothing."""
    spec = importlib.machinery.PathFinder.find_spec("torch", list(paths))
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.dirname(os.path.normpath(next(iter(spec.submodule_search_locations))))


def _cudnn(bundled: dict[str, str]) -> str | None:
    for name, version in bundled.items():
        if name.startswith("nvidia-cudnn"):
            return version
    return None


def _sysctl(ctx: ProbeContext, name: str) -> Any:
    try:
        result = ctx.run(["sysctl", "-n", name], timeout=1.0)
    except (FileNotFoundError, CommandTimeout) as exc:
        return Unavailable(f"sysctl {name}: {exc}")
    # An unknown name (sysctl.proc_translated on Intel Macs) means "not translated".
    return result.stdout.strip() if result.ok else None


def _apple(ctx: ProbeContext, chosen: dict[str, Any]) -> dict[str, Any]:
    """Apple silicon and Rosetta, for the target interpreter (whose architecture may differ
    from gpudoctor's: an x86_64 Python on Apple silicon runs under Rosetta)."""
    arm64 = _sysctl(ctx, "hw.optional.arm64")
    if chosen.get("is_gpudoctor", True):
        translated = _sysctl(ctx, "sysctl.proc_translated")
        rosetta: Any = translated if isinstance(translated, Unavailable) else translated == "1"
        machine = platform.machine()
    else:
        machine = str(chosen.get("machine") or "")
        rosetta = (
            arm64 if isinstance(arm64, Unavailable) else (arm64 == "1" and machine == "x86_64")
        )
    return {
        "machine": machine,
        "macos_version": platform.mac_ver()[0] or None,
        "apple_silicon": arm64 if isinstance(arm64, Unavailable) else arm64 == "1",
        "rosetta": rosetta,
    }


def torch_facts(
    paths: Sequence[str],
    user_site: str | None,
    active: str | None,
    listings: Listings | None = None,
) -> dict[str, Any]:
    """The ``torch`` section from a scan of ``paths`` (pure apart from file reads)."""
    scan = scan_torch_installs(paths, user_site, listings)
    installs = scan["installs"]
    chosen = next(
        (i for i in installs if active and _same(i["location"], active)),
        installs[0] if installs else None,
    )
    facts: dict[str, Any] = {
        "installed": chosen is not None,
        "installs": installs,
        "bundled_libraries": scan["bundled_libraries"],
        "cudnn_version": _cudnn(scan["bundled_libraries"]),
    }
    keys = ("version", "local_tag", "cuda", "rocm", "debug", "location", "user_site")
    for key in keys:
        facts[key] = chosen[key] if chosen else None
    return facts


#: Distributions whose versions and builds must match torch's (read from metadata only).
FAMILY = (
    "torch",
    "torchvision",
    "torchaudio",
    "torchtext",
    "xformers",
    "triton",
    "pytorch-triton",
    "mmcv",
    "mmcv-full",
    "flash-attn",
    "apex",
    "detectron2",
)
_FAMILY_STARTS = tuple(FAMILY)
#: The import package of each, where it differs from the distribution name.
_PACKAGE_DIR = {"flash-attn": "flash_attn", "mmcv-full": "mmcv", "pytorch-triton": "triton"}


def _mtime(path: str | None) -> float | None:
    try:
        return os.stat(path).st_mtime if path is not None else None
    except OSError:
        return None


class _Candidate:
    """A distribution that may belong to the torch family: its fields and its folder."""

    __slots__ = ("name", "version", "requires", "direct_url", "info_dir")

    def __init__(
        self,
        name: str | None,
        version: str | None,
        requires: list[str],
        direct_url: str | None,
        info_dir: str | None,
    ) -> None:
        self.name = name
        self.version = version
        self.requires = requires
        self.direct_url = direct_url
        self.info_dir = info_dir


def _from_dist_info(info_dir: str) -> _Candidate:
    fields: Headers = read_headers(info_dir) or {}
    direct_url: str | None
    try:
        with open(os.path.join(info_dir, "direct_url.json"), encoding="utf-8") as handle:
            direct_url = handle.read()
    except (OSError, ValueError):
        direct_url = None
    return _Candidate(
        first(fields, "Name"),
        first(fields, "Version"),
        fields.get("requires-dist", []),
        direct_url,
        info_dir,
    )


def _from_distribution(dist: Any) -> _Candidate:
    try:
        direct_url = dist.read_text("direct_url.json")
    except (ValueError, AttributeError, OSError):
        direct_url = None
    try:
        requires = list(dist.requires or [])
    except (ValueError, OSError):
        requires = []
    path = getattr(dist, "_path", None)
    return _Candidate(
        distribution_field(dist, "Name"),
        distribution_field(dist, "Version"),
        requires,
        direct_url,
        os.fspath(path) if isinstance(path, (str, os.PathLike)) else None,
    )


def _family_candidates(entry: str, listings: Listings | None = None) -> Iterator[_Candidate]:
    """The distributions of one path entry whose folder name allows a family member.

    ``.dist-info`` folders are read here (:mod:`gpudoctor.probes.dist_info`); an
    ``.egg-info`` folder, a zipped entry or an ``.egg`` goes through ``importlib.metadata``.
    A missing entry (the interpreter's own ``python311.zip`` often is one) holds nothing.
    """
    folder = os.path.normpath(entry)
    if os.path.isfile(folder) or (folder.endswith(".egg") and os.path.isdir(folder)):
        for dist in other_distributions(entry):
            if _may_be_family(getattr(getattr(dist, "_path", None), "name", None)):
                yield _from_distribution(dist)
        return
    for name in _listed(folder, listings):
        if not _may_be_family(name):
            continue
        info_dir = os.path.join(folder, name)
        if name.endswith(".dist-info"):
            yield _from_dist_info(info_dir)
        else:
            import importlib.metadata
            from pathlib import Path  # importlib.metadata walks a Path

            yield _from_distribution(importlib.metadata.PathDistribution(Path(info_dir)))


def family_packages(
    paths: Sequence[str], listings: Listings | None = None
) -> dict[str, dict[str, Any]]:
    """The torch family found along ``paths`` (first in path order), from metadata files.

    The package's own ``version.py`` is parsed (never run) because PyPI builds of
    torchvision and torchaudio keep their CUDA tag (``0.28.0+cu130``) there and not in the
    metadata.
    """
    found: dict[str, dict[str, Any]] = {}
    for entry in (p for p in paths if p):
        for dist in _family_candidates(entry, listings):
            name = _normalize(dist.name or "")
            if name not in FAMILY or name in found:
                continue
            location = os.path.dirname(dist.info_dir) if dist.info_dir is not None else None
            package = _PACKAGE_DIR.get(name, name.replace("-", "_"))
            built: dict[str, Any] = {}
            version_py = os.path.join(location, package, "version.py") if location else ""
            if location is not None and os.path.isfile(version_py):
                parsed = read_version_py(version_py)
                built = parsed if isinstance(parsed, dict) else {}
            url = _url(dist.direct_url) if dist.direct_url else None
            found[name] = {
                "version": str(dist.version),
                "built_version": built.get("__version__"),
                "location": location or None,
                "requires": sorted(r for r in dist.requires if _pins_family(r)),
                "direct_url": url,
                "installed_at": _mtime(dist.info_dir),
                "has_extension": (
                    _has_extension(os.path.join(location, package)) if location else None
                ),
            }
    return found


def _url(direct_url: str) -> str | None:
    """The ``url`` of a ``direct_url.json`` (PEP 610); None where it is not one."""
    import json  # only for distributions installed from a URL or a folder

    try:
        url = json.loads(direct_url).get("url")
    except (ValueError, AttributeError):  # not JSON, or not an object: no URL
        return None
    return url if isinstance(url, str) else None


def _may_be_family(folder: object) -> bool:
    """Whether the metadata folder's name (``torchvision-0.28.0.dist-info``) allows a member.

    Reading the METADATA of every installed distribution to learn its name costs time for
    each of hundreds in a training environment. The folder is named after the
    distribution, as ``importlib.metadata.distribution(name)`` itself relies on; only
    folders that may belong to the family have their metadata read.
    """
    if not isinstance(folder, str) or not folder.endswith((".dist-info", ".egg-info")):
        return True  # not a plain folder (a zip entry): read the metadata to be sure
    stem = _normalize(folder.rsplit(".", 1)[0])
    if not stem.startswith(_FAMILY_STARTS):
        return False  # nearly every folder: one C-level test
    return any(stem == name or stem.startswith(name + "-") for name in FAMILY)


def _pins_family(requirement: str) -> bool:
    """A requirement on torch or triton (``torch==2.5.1``, ``triton==3.1.0; ...``)."""
    name = re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0]
    return _normalize(name) in ("torch", "triton", "pytorch-triton")


def _has_extension(package: str) -> bool | None:
    """True when the package ships compiled code (``.so`` / ``.pyd``) at its top level."""
    try:
        return any(os.path.splitext(name)[1] in (".so", ".pyd") for name in os.listdir(package))
    except OSError:
        return None


@probe("torch", timeout=5.0)
def probe_torch(ctx: ProbeContext) -> dict[str, Any]:
    """torch installs of the target interpreter and how they were built (never imported)."""
    chosen = target(ctx)
    described = {k: v for k, v in chosen.items() if k != "path"}
    if chosen.get("error"):
        why = Unavailable(f"could not inspect {chosen.get('executable')}: {chosen['error']}")
        keys = ("installed", "installs", "version", "cuda", "location", "packages")
        return {"target": described, **{key: why for key in keys}}
    paths = [p for p in chosen.get("path") or () if isinstance(p, str) and p]
    user_site = chosen.get("user_site") if chosen.get("user_site_enabled") else None
    listings: Listings = {}
    facts = torch_facts(paths, user_site, _active_location(paths), listings)
    facts["packages"] = family_packages(paths, listings)
    facts["target"] = described
    facts["python"] = _python_facts(chosen, ctx.env)
    if ctx.platform == "darwin":
        facts["apple"] = _apple(ctx, chosen)
    return facts


def _python_facts(chosen: dict[str, Any], env: Any) -> dict[str, Any]:
    """The ``torch.python`` block (same keys as before the target interpreter existed)."""
    prefix = chosen.get("prefix")
    return {
        "executable": chosen.get("executable"),
        "version": chosen.get("version"),
        "implementation": chosen.get("implementation"),
        "prefix": prefix,
        "in_venv": prefix != chosen.get("base_prefix", prefix),
        "conda_prefix": env.get("CONDA_PREFIX"),
        "user_site": chosen.get("user_site"),
        "user_site_enabled": bool(chosen.get("user_site_enabled")),
    }
