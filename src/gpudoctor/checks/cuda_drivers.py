"""Which NVIDIA driver a CUDA release needs, for Linux and Windows.

From NVIDIA's CUDA Toolkit release notes (Table 3, "CUDA Toolkit and minimum required
driver version", docs.nvidia.com/cuda/cuda-toolkit-release-notes and the per-release copies
under docs.nvidia.com/cuda/archive/<version>/) and the CUDA Compatibility guide. A driver at
or above a release's GA minimum runs it fully; a driver between the major family's floor and
that minimum runs it under minor-version compatibility (no JIT of newer PTX, which Triton and
torch.compile need); a driver below the family floor cannot run it at all.

Built 2026-11-27. Refresh: for each new CUDA release, copy the GA row of Table 3 (Linux
x86_64 and Windows columns) into :data:`GA_MINIMUM` with the release-notes URL; Windows stays
None where the notes give no number (CUDA 13.1 and later no longer bundle a Windows driver).
Add the release to :data:`PYTORCH_INDEXES` only once download.pytorch.org publishes it, and
keep :mod:`gpudoctor.checks.torch_wheels` (which torch releases have which CUDA builds) in step.
"""

from __future__ import annotations

from typing import NamedTuple

from packaging.version import InvalidVersion
from packaging.version import Version

from gpudoctor.checks.torch_wheels import builds_for
from gpudoctor.checks.torch_wheels import minor_of

_NOTES = "https://docs.nvidia.com/cuda/archive/{}/cuda-toolkit-release-notes/index.html"

#: CUDA release -> (Linux x86_64 GA minimum, Windows GA minimum, source). Windows is None
#: where NVIDIA gives no number.
GA_MINIMUM: dict[str, tuple[str, str | None, str]] = {
    "11.8": ("520.61.05", "520.06", _NOTES.format("11.8.0")),
    "12.1": ("530.30.02", "531.14", _NOTES.format("12.1.0")),
    "12.2": ("535.54.03", "536.25", _NOTES.format("12.2.0")),
    "12.3": ("545.23.06", "545.84", _NOTES.format("12.3.0")),
    "12.4": ("550.54.14", "551.61", _NOTES.format("12.4.0")),
    "12.5": ("555.42.02", "555.85", _NOTES.format("12.5.0")),
    "12.6": ("560.28.03", "560.76", _NOTES.format("12.6.0")),
    "12.8": ("570.26", "570.65", _NOTES.format("12.8.0")),
    "12.9": ("575.51.03", "576.02", _NOTES.format("12.9.0")),
    "13.0": ("580.65.06", None, _NOTES.format("13.0.0")),
    "13.1": ("590.44.01", None, _NOTES.format("13.1.0")),
    "13.2": ("595.45.04", None, _NOTES.format("13.2.0")),
}

#: CUDA major -> (Linux, Windows) floor for minor-version compatibility (CUDA Compatibility
#: guide, "Minor Version Compatibility"; for 13.x NVIDIA names the R580 branch on both).
FAMILY_FLOOR: dict[int, tuple[str, str]] = {
    11: ("450.80.02", "452.39"),
    12: ("525.60.13", "527.41"),
    13: ("580.65.06", "580.0"),
}

#: CUDA builds published on download.pytorch.org, newest first.
PYTORCH_INDEXES = ("13.0", "12.9", "12.8", "12.6", "12.4", "12.1", "11.8")


class DriverVerdict(NamedTuple):
    """``ok``, ``minor-compat`` (runs with limits), ``too-old``, or ``unknown``."""

    status: str
    needed: str | None
    floor: str | None


def _version(text: str | None) -> Version | None:
    try:
        return Version(str(text)) if text else None
    except InvalidVersion:
        return None


def _column(windows: bool) -> int:
    return 1 if windows else 0


def ga_minimum(cuda: str, *, windows: bool) -> str | None:
    """The driver a CUDA release needs, or the nearest older listed release's as a floor."""
    wanted = _version(cuda)
    if wanted is None:
        return None
    known = sorted(
        (Version(k), v) for k, v in GA_MINIMUM.items() if Version(k).major == wanted.major
    )
    best = None
    for release, row in known:
        if release <= wanted and row[_column(windows)] is not None:
            best = row[_column(windows)]
    return best


def judge_driver(cuda: str, driver: str, *, windows: bool) -> DriverVerdict:
    """Can ``driver`` run code built for CUDA ``cuda``?"""
    wanted, have = _version(cuda), _version(driver)
    if wanted is None or have is None:
        return DriverVerdict("unknown", None, None)
    floor_pair = FAMILY_FLOOR.get(wanted.major)
    needed = ga_minimum(cuda, windows=windows)
    floor = floor_pair[_column(windows)] if floor_pair else None
    if floor is not None and have < Version(floor):
        return DriverVerdict("too-old", needed, floor)
    if needed is not None and have < Version(needed):
        return DriverVerdict("minor-compat", needed, floor)
    if floor is None and needed is None:
        return DriverVerdict("unknown", None, None)
    return DriverVerdict("ok", needed, floor)


def newest_supported_index(
    driver: str, *, windows: bool, torch_version: str | None = None
) -> str | None:
    """The newest PyTorch CUDA build this driver fully supports ("12.8"), if any.

    With ``torch_version``, only builds published for that torch release count (torch 2.7.1
    has no cu121 wheel: pip would silently fall back to an older torch); None when the release
    is not in the table, so no remedy names a wheel that may not exist.
    """
    have = _version(driver)
    if have is None:
        return None
    allowed: tuple[str, ...] = PYTORCH_INDEXES
    if torch_version is not None:
        minor = minor_of(torch_version)
        allowed = builds_for(minor) if minor else ()
    for cuda in PYTORCH_INDEXES:
        if cuda not in allowed:
            continue
        needed = ga_minimum(cuda, windows=windows)
        if needed is not None and have >= Version(needed):
            return cuda
    return None


def index_url(cuda: str | None) -> str:
    """``"12.8"`` -> the PyTorch wheel index for cu128 (``cpu`` when None)."""
    tag = "cpu" if cuda is None else "cu" + cuda.replace(".", "")
    return f"https://download.pytorch.org/whl/{tag}"


def newest_release_for_driver(driver: str, *, windows: bool) -> tuple[str, str] | None:
    """``(torch minor, CUDA)``: the newest torch release with a build ``driver`` fully runs."""
    from gpudoctor.checks.torch_wheels import CUDA_BUILDS

    have = _version(driver)
    if have is None:
        return None
    for minor in sorted(CUDA_BUILDS, key=Version, reverse=True):
        for cuda in sorted(builds_for(minor), key=Version, reverse=True):
            needed = ga_minimum(cuda, windows=windows)
            if needed is not None and have >= Version(needed):
                return minor, cuda
    return None
