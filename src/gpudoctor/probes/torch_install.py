"""Which torch this interpreter would import, and how it was built, without importing it.

``import torch`` costs seconds and hundreds of MB, and a broken install can crash it, so
everything here comes from files: the ``torch-*.dist-info`` metadata, ``torch/version.py``
(plain assignments, parsed with :mod:`ast`, never executed) and the metadata of the
``nvidia-*`` wheels that CUDA builds of torch pull in. Every sys.path entry is scanned, so a
user-site copy shadowing the environment's copy shows up as two installs.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import platform
import re
import site
import sys
from collections.abc import Iterable, Sequence
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import CommandTimeout, ProbeContext, probe

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


def _python(env: Any) -> dict[str, Any]:
    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
        "in_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "conda_prefix": env.get("CONDA_PREFIX"),
        "user_site": site.getusersitepackages() if site.ENABLE_USER_SITE else None,
        "user_site_enabled": bool(site.ENABLE_USER_SITE),
    }


def _sysctl(ctx: ProbeContext, name: str) -> Any:
    try:
        result = ctx.run(["sysctl", "-n", name], timeout=1.0)
    except (FileNotFoundError, CommandTimeout) as exc:
        return Unavailable(f"sysctl {name}: {exc}")
    # An unknown name (sysctl.proc_translated on Intel Macs) means "not translated".
    return result.stdout.strip() if result.ok else None


def _apple(ctx: ProbeContext) -> dict[str, Any]:
    translated = _sysctl(ctx, "sysctl.proc_translated")
    arm64 = _sysctl(ctx, "hw.optional.arm64")
    return {
        "machine": platform.machine(),
        "macos_version": platform.mac_ver()[0] or None,
        "apple_silicon": arm64 if isinstance(arm64, Unavailable) else arm64 == "1",
        "rosetta": translated if isinstance(translated, Unavailable) else translated == "1",
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


@probe("torch", timeout=2.0)
def probe_torch(ctx: ProbeContext) -> dict[str, Any]:
    """torch installs on this interpreter's path and how they were built (never imported)."""
    paths = list(sys.path)
    python = _python(ctx.env)
    facts = torch_facts(paths, python["user_site"], _active_location(paths))
    facts["python"] = python
    if ctx.platform == "darwin":
        facts["apple"] = _apple(ctx)
    return facts
