"""Which NVIDIA driver a CUDA release needs, for Linux and Windows.

From NVIDIA's CUDA Toolkit release notes (Table 3, "CUDA Toolkit and minimum required
driver version") and the CUDA Compatibility guide. A driver at or above a release's GA
minimum runs it fully; a driver between the major family's floor and that minimum runs it
under minor-version compatibility (no JIT of newer PTX, which Triton and torch.compile need);
a driver below the family floor cannot run it at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

#: CUDA release -> (Linux x86_64 GA minimum, Windows GA minimum); None where the notes give
#: no Windows number (13.x Windows installers no longer bundle a driver; PyTorch asks R580).
GA_MINIMUM: dict[str, tuple[str, str | None]] = {
    "11.8": ("520.61.05", "520.06"),
    "12.1": ("530.30.02", "531.14"),
    "12.2": ("535.54.03", None),
    "12.3": ("545.23.06", None),
    "12.4": ("550.54.14", "551.61"),
    "12.6": ("560.28.03", "560.76"),
    "12.8": ("570.26", "570.65"),
    "12.9": ("575.51.03", "576.02"),
    "13.0": ("580.65.06", "580.88"),
    "13.1": ("590.44.01", None),
}

#: CUDA major -> (Linux, Windows) floor for minor-version compatibility.
FAMILY_FLOOR: dict[int, tuple[str, str]] = {
    11: ("450.80.02", "452.39"),
    12: ("525.60.13", "527.41"),
    13: ("580.65.06", "580.88"),
}

#: CUDA builds published on download.pytorch.org, newest first.
PYTORCH_INDEXES = ("13.0", "12.9", "12.8", "12.6", "12.4", "12.1", "11.8")


@dataclass(frozen=True)
class DriverVerdict:
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
    for release, drivers in known:
        if release <= wanted and drivers[_column(windows)] is not None:
            best = drivers[_column(windows)]
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


def newest_supported_index(driver: str, *, windows: bool) -> str | None:
    """The newest PyTorch CUDA build this driver fully supports ("12.8"), if any."""
    have = _version(driver)
    if have is None:
        return None
    for cuda in PYTORCH_INDEXES:
        needed = ga_minimum(cuda, windows=windows)
        if needed is not None and have >= Version(needed):
            return cuda
    return None


def index_url(cuda: str | None) -> str:
    """``"12.8"`` -> the PyTorch wheel index for cu128 (``cpu`` when None)."""
    tag = "cpu" if cuda is None else "cu" + cuda.replace(".", "")
    return f"https://download.pytorch.org/whl/{tag}"
