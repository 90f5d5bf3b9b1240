"""The header fields of installed distributions' metadata, read from their folders.

``importlib.metadata`` brings the ``email`` package, ``zipfile`` and ``csv`` with it, about
15 ms of imports before the first file is read, and its ``email`` parser costs a millisecond
per METADATA file. The torch probe needs a few header fields (``Name``, ``Version``,
``Requires-Dist``) of a few ``.dist-info`` folders, which are plain files with a known layout
(the core metadata specification: RFC 822 style headers, a blank line, the description).
Anything else (``.egg-info``, zipped path entries, ``.egg`` folders) goes through
``importlib.metadata``, imported only then.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import importlib.metadata

Headers = dict[str, list[str]]


def parse_headers(text: str) -> Headers:
    """Header fields by lower-cased name, each with its values in file order.

    Parses as the standard library's ``email.parser.HeaderParser`` (compat32) does for
    metadata: a field runs to the next line that does not start with a space or tab, its
    value loses the whitespace after the colon, a folded line before any field is dropped,
    and the headers end at the first empty line or at the first line that is not a field.
    """
    fields: Headers = {}
    last: list[str] | None = None
    for line in text.splitlines(keepends=True):
        if line[0] in " \t":
            if last is not None:
                last[-1] += line
            continue  # a folded first line has nothing to continue: it is dropped
        name, colon, value = line.partition(":")
        if not colon or not name or line in ("\n", "\r\n", "\r"):
            break
        last = fields.setdefault(name.lower(), [])
        last.append(value.lstrip(" \t"))
    for values in fields.values():
        values[:] = [value.rstrip("\r\n") for value in values]
    return fields


def first(fields: Headers | None, name: str) -> str | None:
    """The first value of one field, or None where the field or the metadata is missing."""
    values = fields.get(name.lower()) if fields is not None else None
    return values[0] if values else None


def read_headers(info_dir: str | os.PathLike[str]) -> Headers | None:
    """The header fields of a ``.dist-info`` (METADATA) or ``.egg-info`` (PKG-INFO) folder."""
    for name in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info_dir, name), encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        return parse_headers(text)
    return None


def metadata_dir_names(entry: str | os.PathLike[str]) -> list[str]:
    """The names of the ``.dist-info`` / ``.egg-info`` folders directly inside a path entry.

    ``os.scandir`` knows from the directory itself which entries are folders: a
    site-packages of a training environment lists thousands of names, and a ``stat`` or a
    path object for each cost milliseconds. Callers join only the names they want.
    """
    try:
        with os.scandir(entry) as listing:
            return [
                item.name
                for item in listing
                if item.name.endswith((".dist-info", ".egg-info")) and _is_dir(item)
            ]
    except OSError:
        return []


def _is_dir(item: os.DirEntry[str]) -> bool:
    try:
        return item.is_dir()
    except OSError:
        return False


def other_distributions(entry: str) -> Iterator[importlib.metadata.Distribution]:
    """Distributions of a path entry this module does not read itself (a zip, an egg)."""
    import importlib.metadata

    yield from importlib.metadata.distributions(path=[entry])


def distribution_field(dist: Any, name: str) -> str | None:
    """One METADATA field of an ``importlib.metadata`` distribution, or None where missing.

    ``dist.metadata[name]`` and ``dist.version`` raise KeyError for a missing field when
    the distribution was found by the importlib_metadata backport (other packages install
    its finder on Python 3.9); the standard library's return None.
    """
    try:
        meta = dist.metadata
        values = meta.get_all(name) if meta is not None else None
    except (ValueError, OSError):  # undecodable or unreadable METADATA
        return None
    return str(values[0]) if values else None
