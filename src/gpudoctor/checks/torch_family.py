"""Which torchvision / torchaudio / torchtext release goes with which torch release.

Built 2026-11-27 from the published compatibility tables:

* torchvision: the "`torch` / `torchvision` / Python" table in pytorch/vision ``README.md``
  (rows 1.13 - 2.13).
* torchaudio: the install commands per release on pytorch.org/get-started/previous-versions
  (pytorch/pytorch.github.io), which pair ``torch==2.N.x`` with ``torchaudio==2.N.x`` for
  2.0 - 2.10, and the compatibility matrix in the torchaudio installation docs
  (docs.pytorch.org/audio/stable/installation.html) for 1.13.
* torchtext: the version table in pytorch/text ``README.rst`` (development stopped at 0.18,
  the release for torch 2.3).

Most binary wheels also pin their torch in their metadata (``Requires-Dist: torch==2.5.1``);
the pin is read first and this table is the fallback for builds without one.

Refresh: add the new row of the vision README table, and the torchaudio version of the
``v2.N.0`` commands on the previous-versions page; keep the sources above.
"""

from __future__ import annotations

#: torch minor -> torchvision minor (pytorch/vision README).
TORCHVISION: dict[str, str] = {
    "1.13": "0.14",
    "2.0": "0.15",
    "2.1": "0.16",
    "2.2": "0.17",
    "2.3": "0.18",
    "2.4": "0.19",
    "2.5": "0.20",
    "2.6": "0.21",
    "2.7": "0.22",
    "2.8": "0.23",
    "2.9": "0.24",
    "2.10": "0.25",
    "2.11": "0.26",
    "2.12": "0.27",
    "2.13": "0.28",
}

#: torch minor -> torchaudio minor (previous-versions commands; torchaudio docs for 1.13).
TORCHAUDIO: dict[str, str] = {
    "1.13": "0.13",
    **{f"2.{n}": f"2.{n}" for n in range(0, 11)},
}

#: torch minor -> torchtext minor (pytorch/text README).
TORCHTEXT: dict[str, str] = {
    "1.13": "0.14",
    "2.0": "0.15",
    "2.1": "0.16",
    "2.2": "0.17",
    "2.3": "0.18",
}

TABLES: dict[str, tuple[dict[str, str], str]] = {
    "torchvision": (TORCHVISION, "pytorch/vision README compatibility table"),
    "torchaudio": (TORCHAUDIO, "pytorch.org previous-versions install commands"),
    "torchtext": (TORCHTEXT, "pytorch/text README version table"),
}


def expected_minor(package: str, torch_minor: str) -> tuple[str, str] | None:
    """(expected minor of ``package`` for ``torch_minor``, source) or None when unknown."""
    table = TABLES.get(package)
    if table is None or torch_minor not in table[0]:
        return None
    return table[0][torch_minor], table[1]


def torch_for(package: str, package_minor: str) -> str | None:
    """The torch minor a ``package`` release was made for (reverse lookup)."""
    table = TABLES.get(package)
    if table is None:
        return None
    for torch_minor, minor in table[0].items():
        if minor == package_minor:
            return torch_minor
    return None
