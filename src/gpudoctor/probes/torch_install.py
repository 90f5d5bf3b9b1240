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
import importlib.metadata
import json
import os
import platform
import re
from collections.abc import Iterable
from collections.abc import Sequence
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.target import metadata_field
from gpudoctor.probes.target import target

#: CUDA libraries that torch wheels bundle as separate PyPI distributions.
BUNDLED_LIBRARY = re.compile(r"^nvidia-(cudnn|nccl|cublas|cuda-runtime|cuda-nvrtc)(-cu\d+)?$")

_VERSION_FIELDS = ("__version__", "cuda", "hip", "rocm", "xpu", "debug", "git_version")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_version_py(path: Path) -> dict[str, Any] | Unavailable:
    """The constant assignments in ``torch/version.py`` (``cuda`` is annotated, hence AnnAssign)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
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


def _dist_infos(entry: Path) -> Iterable[tuple[str, Path]]:
    """``(normalized name, metadata dir)`` for each dist-info / egg-info in a path entry."""
    try:
        children = list(entry.iterdir())
    except OSError:
        return
    for child in children:
        suffix = child.suffix
        if suffix not in (".dist-info", ".egg-info") or not child.is_dir():
            continue
        name = child.name[: -len(suffix)].split("-")[0]
        yield _normalize(name), child


def _metadata(info_dir: Path) -> Any:
    for name in ("METADATA", "PKG-INFO"):
        try:
            return HeaderParser().parsestr((info_dir / name).read_text(errors="replace"))
        except OSError:
            continue
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _wheel_tags(info_dir: Path) -> list[str]:
    text = _read(info_dir / "WHEEL") or ""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def _install(entry: Path, info_dir: Path | None, user_site: str | None) -> dict[str, Any]:
    package = entry / "torch"
    meta = _metadata(info_dir) if info_dir else None
    built = read_version_py(package / "version.py") if package.is_dir() else {}
    if isinstance(built, Unavailable):
        built_values: dict[str, Any] = {}
    else:
        built_values = built
    version = built_values.get("__version__") or (meta.get("Version") if meta else None)
    requires = meta.get_all("Requires-Dist") if meta else None
    return {
        "location": str(entry),
        "version": version,
        "metadata_version": meta.get("Version") if meta else None,
        "local_tag": version.split("+", 1)[1] if version and "+" in version else None,
        "cuda": built_values.get("cuda"),
        "rocm": built_values.get("hip") or built_values.get("rocm"),
        "xpu": built_values.get("xpu"),
        "debug": built_values.get("debug"),
        "git_version": built_values.get("git_version"),
        "version_py": "missing" if not package.is_dir() else ("ok" if built_values else str(built)),
        "has_package": (package / "__init__.py").is_file(),
        "has_metadata": info_dir is not None,
        "installer": ((_read(info_dir / "INSTALLER") or "").strip() or None) if info_dir else None,
        "wheel_tags": _wheel_tags(info_dir) if info_dir else [],
        "bundled_requirements": sorted(
            r.split(";")[0].strip() for r in (requires or ()) if r.startswith("nvidia-")
        ),
        "user_site": user_site is not None and _same(entry, Path(user_site)),
    }


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def scan_torch_installs(paths: Sequence[str], user_site: str | None = None) -> dict[str, Any]:
    """Every torch install and bundled CUDA library found along ``paths``, in path order."""
    installs: list[dict[str, Any]] = []
    bundled: dict[str, str] = {}
    seen: list[Path] = []
    for raw in paths:
        entry = Path(raw or ".")
        if not entry.is_dir() or any(_same(entry, s) for s in seen):
            continue
        seen.append(entry)
        torch_info = None
        for name, info_dir in _dist_infos(entry):
            if name == "torch":
                torch_info = info_dir
            elif BUNDLED_LIBRARY.match(name) and name not in bundled:
                meta = _metadata(info_dir)
                if meta is not None and meta.get("Version"):
                    bundled[name] = str(meta.get("Version"))
        if torch_info is not None or (entry / "torch" / "__init__.py").is_file():
            installs.append(_install(entry, torch_info, user_site))
    return {"installs": installs, "bundled_libraries": bundled}


def _active_location(paths: Sequence[str]) -> str | None:
    """Where ``import torch`` would load from; a top-level lookup that imports nothing."""
    spec = importlib.machinery.PathFinder.find_spec("torch", list(paths))
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


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


def torch_facts(paths: Sequence[str], user_site: str | None, active: str | None) -> dict[str, Any]:
    """The ``torch`` section from a scan of ``paths`` (pure apart from file reads)."""
    scan = scan_torch_installs(paths, user_site)
    installs = scan["installs"]
    chosen = next(
        (i for i in installs if active and _same(Path(i["location"]), Path(active))),
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
#: The import package of each, where it differs from the distribution name.
_PACKAGE_DIR = {"flash-attn": "flash_attn", "mmcv-full": "mmcv", "pytorch-triton": "triton"}


def _dist_dir(dist: importlib.metadata.Distribution) -> Path | None:
    path = getattr(dist, "_path", None)
    return Path(path) if isinstance(path, (str, os.PathLike)) else None


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None


def family_packages(paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The torch family found along ``paths`` (first in path order), from metadata files.

    ``importlib.metadata.distributions(path=...)`` reads dist-info directories; the package's
    own ``version.py`` is parsed (never run) because PyPI builds of torchvision and torchaudio
    keep their CUDA tag (``0.28.0+cu130``) there and not in the metadata.
    """
    found: dict[str, dict[str, Any]] = {}
    search = [p for p in paths if p]
    for dist in importlib.metadata.distributions(path=search):
        if not _may_be_family(dist):
            continue
        name = _normalize(metadata_field(dist, "Name") or "")
        if name not in FAMILY or name in found:
            continue
        info_dir = _dist_dir(dist)
        location = info_dir.parent if info_dir is not None else None
        package = _PACKAGE_DIR.get(name, name.replace("-", "_"))
        built: dict[str, Any] = {}
        if location is not None and (location / package / "version.py").is_file():
            parsed = read_version_py(location / package / "version.py")
            built = parsed if isinstance(parsed, dict) else {}
        url = None
        try:
            direct_url = dist.read_text("direct_url.json")
            url = json.loads(direct_url).get("url") if direct_url else None
        except (ValueError, AttributeError, OSError):  # undecodable or not JSON: no URL
            url = None
        try:
            requires = sorted(r for r in (dist.requires or []) if _pins_family(r))
        except (ValueError, OSError):
            requires = []
        found[name] = {
            "version": str(metadata_field(dist, "Version")),
            "built_version": built.get("__version__"),
            "location": str(location) if location else None,
            "requires": requires,
            "direct_url": url,
            "installed_at": _mtime(info_dir),
            "has_extension": _has_extension(location / package) if location else None,
        }
    return found


def _may_be_family(dist: importlib.metadata.Distribution) -> bool:
    """Whether the metadata folder's name (``torchvision-0.28.0.dist-info``) allows a member.

    Parsing the METADATA of every installed distribution to learn its name costs about a
    millisecond each, hundreds of them in a training environment. The folder is named after
    the distribution, as ``importlib.metadata.distribution(name)`` itself relies on; only
    folders that may belong to the family have their metadata read.
    """
    folder = getattr(getattr(dist, "_path", None), "name", None)
    if not isinstance(folder, str) or not folder.endswith((".dist-info", ".egg-info")):
        return True  # not a plain folder (a zip entry): read the metadata to be sure
    stem = _normalize(folder.rsplit(".", 1)[0])
    return any(stem == name or stem.startswith(name + "-") for name in FAMILY)


def _pins_family(requirement: str) -> bool:
    """A requirement on torch or triton (``torch==2.5.1``, ``triton==3.1.0; ...``)."""
    name = re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0]
    return _normalize(name) in ("torch", "triton", "pytorch-triton")


def _has_extension(package: Path) -> bool | None:
    """True when the package ships compiled code (``.so`` / ``.pyd``) at its top level."""
    try:
        return any(c.suffix in (".so", ".pyd") for c in package.iterdir())
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
    facts = torch_facts(paths, user_site, _active_location(paths))
    facts["packages"] = family_packages(paths)
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
