"""Which GPU architectures each published torch wheel carries, and which CUDA builds exist.

Built 2026-11-27 from PyTorch's own build configuration (``TORCH_CUDA_ARCH_LIST`` per CUDA
version in the manywheel build script) and the install commands PyTorch publishes per release.

Sources, per row (``source`` names the one a row came from):

* ``builder/release/2.x``: pytorch/builder, branch ``release/2.x``, ``manywheel/build_cuda.sh``
  (torch 2.0 - 2.5 wheels were built from it).
* ``pytorch@00c7a380``: pytorch/pytorch ``.ci/manywheel/build_cuda.sh`` at commit 00c7a380,
  whose CUDA cases (12.6 / 12.8 / 12.9) are exactly torch 2.8's published builds.
* ``pytorch@799d09f2``: the same file at commit 799d09f2 (cases 12.6 / 12.8 / 12.9 / 13.0),
  used for torch 2.9 and 2.10, whose published builds are 12.6 / 12.8 / 13.0. The commits are
  main-branch snapshots, not the release branches: ``check --deep`` asks the installed torch
  itself, and the refresh below replaces these rows with the release branches' lists.
* ``conda-cuobjdump``: moi90/pytorch_compute_capabilities ``table.md``, the architectures
  ``cuobjdump`` finds in PyTorch's published 2.6.0 and 2.7.0 packages (the release branches of
  those versions are not readable here).
* ``previous-versions``: pytorch.org/get-started/previous-versions (pytorch/pytorch.github.io),
  the pip commands per release, for which ``--index-url .../cuXYZ`` exists.

Refresh: for a new release ``2.N``, read ``.ci/manywheel/build_cuda.sh`` on pytorch/pytorch
branch ``release/2.N`` and copy the x86_64 ``TORCH_CUDA_ARCH_LIST`` for each CUDA version
listed for ``v2.N.0`` on the previous-versions page; add one :data:`CUDA_BUILDS` row and one
:data:`WHEEL_ARCHES` row per CUDA tag; keep the source names. ``torch.cuda.get_arch_list()``
in the new wheel (``gpudoctor check --deep`` runs it) must print the same list.
"""

from __future__ import annotations

from typing import NamedTuple

from packaging.version import InvalidVersion
from packaging.version import Version

#: The date the tables below were last compared with their sources.
TABLE_DATE = "2026-11-27"

#: torch minor release -> CUDA builds on download.pytorch.org, and the source.
CUDA_BUILDS: dict[str, tuple[tuple[str, ...], str]] = {
    "2.0": (("11.7", "11.8"), "previous-versions"),
    "2.1": (("11.8", "12.1"), "previous-versions"),
    "2.2": (("11.8", "12.1"), "previous-versions"),
    "2.3": (("11.8", "12.1"), "previous-versions"),
    "2.4": (("11.8", "12.1", "12.4"), "previous-versions"),
    "2.5": (("11.8", "12.1", "12.4"), "previous-versions"),
    "2.6": (("11.8", "12.4", "12.6"), "previous-versions"),
    "2.7": (("11.8", "12.6", "12.8"), "previous-versions"),
    "2.8": (("12.6", "12.8", "12.9"), "previous-versions"),
    "2.9": (("12.6", "12.8", "13.0"), "previous-versions"),
    "2.10": (("12.6", "12.8", "13.0"), "previous-versions"),
}

_PRE_2_1 = "5.0;6.0;7.0;7.5;8.0;8.6"
_LEGACY = "5.0;6.0;7.0;7.5;8.0;8.6;9.0"

#: (torch minor, CUDA) -> (TORCH_CUDA_ARCH_LIST of the x86_64 wheel, source).
WHEEL_ARCHES: dict[tuple[str, str], tuple[str, str]] = {
    ("2.0", "11.7"): ("3.7;5.0;6.0;7.0;7.5;8.0;8.6", "builder/release/2.0"),
    ("2.0", "11.8"): ("3.7;5.0;6.0;7.0;7.5;8.0;8.6;9.0", "builder/release/2.0"),
    ("2.1", "11.8"): (_PRE_2_1 + ";3.7;9.0", "builder/release/2.1"),
    ("2.1", "12.1"): (_LEGACY, "builder/release/2.1"),
    ("2.2", "11.8"): (_PRE_2_1 + ";3.7;9.0", "builder/release/2.2"),
    ("2.2", "12.1"): (_LEGACY, "builder/release/2.2"),
    ("2.3", "11.8"): (_PRE_2_1 + ";3.7;9.0", "builder/release/2.3"),
    ("2.3", "12.1"): (_LEGACY, "builder/release/2.3"),
    ("2.4", "11.8"): (_PRE_2_1 + ";3.7;9.0", "builder/release/2.4"),
    ("2.4", "12.1"): (_LEGACY, "builder/release/2.4"),
    ("2.4", "12.4"): (_LEGACY, "builder/release/2.4"),
    ("2.5", "11.8"): (_PRE_2_1 + ";3.7;9.0", "builder/release/2.5"),
    ("2.5", "12.1"): (_LEGACY, "builder/release/2.5"),
    ("2.5", "12.4"): (_LEGACY, "builder/release/2.5"),
    ("2.6", "11.8"): (_PRE_2_1 + ";3.7;9.0", "conda-cuobjdump"),
    ("2.6", "12.4"): (_LEGACY, "conda-cuobjdump"),
    ("2.6", "12.6"): (_LEGACY, "conda-cuobjdump"),
    ("2.7", "11.8"): (_PRE_2_1 + ";3.7;9.0", "conda-cuobjdump"),
    ("2.7", "12.6"): (_LEGACY, "conda-cuobjdump"),
    ("2.7", "12.8"): ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "conda-cuobjdump"),
    ("2.8", "12.6"): (_LEGACY, "pytorch@00c7a380"),
    ("2.8", "12.8"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0", "pytorch@00c7a380"),
    ("2.8", "12.9"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0+PTX", "pytorch@00c7a380"),
    ("2.9", "12.6"): (_LEGACY, "pytorch@799d09f2"),
    ("2.9", "12.8"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0", "pytorch@799d09f2"),
    ("2.9", "13.0"): ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "pytorch@799d09f2"),
    ("2.10", "12.6"): (_LEGACY, "pytorch@799d09f2"),
    ("2.10", "12.8"): ("7.0;7.5;8.0;8.6;9.0;10.0;12.0", "pytorch@799d09f2"),
    ("2.10", "13.0"): ("7.5;8.0;8.6;9.0;10.0;12.0+PTX", "pytorch@799d09f2"),
}


class ArchList(NamedTuple):
    """The architectures of one wheel: SASS per compute capability, PTX for some."""

    sass: tuple[tuple[int, int], ...]
    ptx: tuple[tuple[int, int], ...]
    source: str
    #: The torch release the row is for (may be older than the installed one; see ``exact``).
    release: str
    exact: bool

    def names(self) -> list[str]:
        out = [f"sm_{a}{b}" for a, b in self.sass]
        return out + [f"compute_{a}{b}" for a, b in self.ptx]


def minor_of(version: str) -> str | None:
    """``"2.5.1+cu124"`` -> ``"2.5"``."""
    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    return f"{release[0]}.{release[1]}" if len(release) >= 2 else None


def cuda_minor(cuda: str) -> str | None:
    """``"12.4.1"`` or ``"cu124"`` -> ``"12.4"``."""
    text = cuda.strip()
    if text.startswith("cu") and text[2:].isdigit() and len(text) >= 5:
        return f"{text[2:-1]}.{text[-1]}"
    return minor_of(text)


def parse_arch_list(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """``"8.6;9.0;12.0+PTX"`` -> SASS and PTX capabilities (``sm_90a`` style ignored)."""
    sass: list[tuple[int, int]] = []
    ptx: list[tuple[int, int]] = []
    for item in text.replace(" ", ";").split(";"):
        item = item.strip()
        if not item:
            continue
        with_ptx = item.endswith("+PTX")
        major, _, minor = item.removesuffix("+PTX").partition(".")
        if not (major.isdigit() and minor[:1].isdigit()):
            continue
        cap = (int(major), int(minor[:1]))
        sass.append(cap)
        if with_ptx:
            ptx.append(cap)
    return tuple(sorted(set(sass))), tuple(sorted(set(ptx)))


def parse_get_arch_list(names: list[str]) -> tuple[tuple[tuple[int, int], ...], ...]:
    """``torch.cuda.get_arch_list()`` (``["sm_86", "compute_90"]``) -> (SASS, PTX)."""
    sass: list[tuple[int, int]] = []
    ptx: list[tuple[int, int]] = []
    for name in names:
        kind, _, digits = name.partition("_")
        digits = digits.rstrip("af")
        if not digits.isdigit() or len(digits) < 2:
            continue
        cap = (int(digits[:-1]), int(digits[-1]))
        (sass if kind == "sm" else ptx).append(cap)
    return tuple(sorted(set(sass))), tuple(sorted(set(ptx)))


def wheel_arches(torch_version: str, cuda: str) -> ArchList | None:
    """The architectures of the published wheel, or the newest older row for the same CUDA."""
    minor, tag = minor_of(torch_version), cuda_minor(cuda)
    if minor is None or tag is None:
        return None
    row = WHEEL_ARCHES.get((minor, tag))
    exact = row is not None
    release = minor
    if row is None:
        older = sorted(
            (Version(m), m) for m, c in WHEEL_ARCHES if c == tag and Version(m) < Version(minor)
        )
        if not older:
            return None
        release = older[-1][1]
        row = WHEEL_ARCHES[(release, tag)]
    sass, ptx = parse_arch_list(row[0])
    return ArchList(sass, ptx, row[1], release, exact)


def runs_on(
    capability: tuple[int, int], sass: tuple[tuple[int, int], ...], ptx: tuple[tuple[int, int], ...]
) -> str | None:
    """How a GPU runs the wheel's kernels: ``"sass"``, ``"ptx"`` (JIT), or None (it cannot).

    SASS built for ``sm_XY`` runs on GPUs of the same major with minor >= Y; PTX for
    ``compute_XY`` is JIT-compiled by the driver for any GPU of capability >= X.Y.
    """
    major, minor = capability
    if any(m == major and n <= minor for m, n in sass):
        return "sass"
    if any((m, n) <= capability for m, n in ptx):
        return "ptx"
    return None


def capability_of(text: object) -> tuple[int, int] | None:
    """``"12.0"`` -> (12, 0)."""
    if not isinstance(text, str):
        return None
    major, _, minor = text.partition(".")
    if major.isdigit() and minor.isdigit():
        return int(major), int(minor)
    return None


def builds_for(torch_minor: str) -> tuple[str, ...]:
    """The CUDA builds published for ``torch_minor`` (empty when the table has no row)."""
    row = CUDA_BUILDS.get(torch_minor)
    return row[0] if row else ()


def supporting_builds(capability: tuple[int, int]) -> list[tuple[str, str]]:
    """Every (torch minor, CUDA) published wheel that runs on ``capability``, newest first."""
    found = []
    for (minor, cuda), (arches, _source) in WHEEL_ARCHES.items():
        if cuda not in builds_for(minor):
            continue
        sass, ptx = parse_arch_list(arches)
        if runs_on(capability, sass, ptx):
            found.append((minor, cuda))
    return sorted(found, key=lambda mc: (Version(mc[0]), Version(mc[1])), reverse=True)
