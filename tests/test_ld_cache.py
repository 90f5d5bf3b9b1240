"""The loader cache read directly gives what ``ldconfig -p`` prints, or nothing.

The synthetic caches follow glibc's layout (``sysdeps/generic/dl-cache.h``): the
new-format header ``glibc-ld.so.cache1.1`` with its entry count and byte-order flag, 24-byte
entries of string offsets counted from that header, optionally behind an old-format
``ld.so-1.7.0`` block (what glibc before 2.32 wrote by default, ``ldconfig -c compat``).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

import pytest

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.ld_cache import MAX_BYTES
from gpudoctor.probes.ld_cache import NEW_MAGIC
from gpudoctor.probes.ld_cache import OLD_MAGIC
from gpudoctor.probes.ld_cache import cache_entries
from gpudoctor.probes.ld_cache import read_loader_cache

ENTRIES = [
    ("libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"),
    ("libcuda.so.1", "/usr/lib/i386-linux-gnu/libcuda.so.1"),
    ("libcuda.so", "/usr/lib/x86_64-linux-gnu/libcuda.so"),
    ("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
]


def new_format(entries, *, order="<", flag=2) -> bytes:
    """A new-format cache: header, entries, then the strings they point at."""
    strings = bytearray()
    offsets = []
    table_start = 48 + 24 * len(entries)
    for soname, path in entries:
        key = table_start + len(strings)
        strings += soname.encode() + b"\0"
        value = table_start + len(strings)
        strings += path.encode() + b"\0"
        offsets.append((key, value))
    header = NEW_MAGIC + struct.pack(order + "II", len(entries), len(strings))
    header += bytes([flag, 0, 0, 0]) + struct.pack(order + "IIII", 0, 0, 0, 0)
    assert len(header) == 48
    body = b"".join(struct.pack(order + "iIIIQ", 0x0303, k, v, 0, 0) for k, v in offsets)
    return header + body + bytes(strings)


def with_old_block(new: bytes, old_count: int = 3, align: int = 8) -> bytes:
    old = OLD_MAGIC + b"\0" + struct.pack("=I", old_count) + b"\0" * (12 * old_count)
    padding = (-len(old)) % align
    return old + b"\0" * padding + new


@pytest.mark.parametrize(
    ("order", "flag"), [("<", 2), (">", 3), ("=", 0)], ids=["little", "big", "unset"]
)
def test_new_format_entries_come_back_in_order(order, flag):
    assert cache_entries(new_format(ENTRIES, order=order, flag=flag)) == ENTRIES


@pytest.mark.parametrize("align", [8, 4])
def test_the_new_format_behind_an_old_block_is_found(align):
    for old_count in (0, 1, 2, 5):
        data = with_old_block(new_format(ENTRIES), old_count, align)
        if align == 4 and (16 + 12 * old_count) % 8 == 0:
            continue  # both alignments agree
        assert cache_entries(data) == ENTRIES, old_count


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a cache at all",
        OLD_MAGIC + b"\0" + struct.pack("=I", 2) + b"\0" * 24,  # old format only
        new_format(ENTRIES)[:40],  # cut inside the header
        new_format(ENTRIES)[:100],  # cut inside the entries
        new_format(ENTRIES, flag=1),  # a byte order glibc calls invalid
        NEW_MAGIC + struct.pack("<II", 10**6, 0) + bytes([2]) + b"\0" * 19,  # count too big
    ],
    ids=["empty", "garbage", "old-only", "short-header", "short-entries", "bad-order", "count"],
)
def test_what_is_not_understood_is_none(data):
    assert cache_entries(data) is None


def test_an_offset_past_the_end_is_none():
    data = bytearray(new_format(ENTRIES))
    struct.pack_into("<I", data, 48 + 4, len(data) + 10)  # first entry's key
    assert cache_entries(bytes(data)) is None


@pytest.mark.skipif(
    not os.path.isfile("/etc/ld.so.cache") or not shutil.which("ldconfig", path="/sbin:/usr/sbin"),
    reason="no loader cache or no ldconfig here",
)
def test_this_machines_cache_reads_as_ldconfig_prints_it():
    program = shutil.which("ldconfig", path="/sbin:/usr/sbin")
    printed = subprocess.run([program, "-p"], capture_output=True, text=True, check=True).stdout
    expected = []
    for line in printed.splitlines()[1:]:
        name, arrow, target = line.strip().partition(" => ")
        if arrow:
            expected.append((name.split(" (", 1)[0].strip(), target.strip()))
    with open("/etc/ld.so.cache", "rb") as handle:
        assert cache_entries(handle.read()) == expected
    assert expected


def _root_with(tmp_path, make):
    (tmp_path / "etc").mkdir(parents=True)
    make(tmp_path / "etc" / "ld.so.cache")
    return ProbeContext(root=str(tmp_path))


def test_the_probe_reads_the_cache_under_its_root(tmp_path):
    ctx = _root_with(tmp_path, lambda p: p.write_bytes(new_format(ENTRIES)))
    assert read_loader_cache(ctx) == ENTRIES


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_a_fifo_in_place_of_the_cache_does_not_hang(tmp_path):
    ctx = _root_with(tmp_path, os.mkfifo)
    assert read_loader_cache(ctx) is None


def test_a_folder_or_a_huge_file_is_not_read(tmp_path):
    assert read_loader_cache(_root_with(tmp_path / "a", lambda p: p.mkdir())) is None

    def huge(path):
        with open(path, "wb") as handle:
            handle.truncate(MAX_BYTES + 1)  # sparse: nothing written

    assert read_loader_cache(_root_with(tmp_path / "b", huge)) is None


def test_the_loader_probe_takes_libcuda_from_the_cache_without_running_ldconfig(
    tmp_path, monkeypatch
):
    from gpudoctor.probes import toolchain

    ctx = _root_with(tmp_path, lambda p: p.write_bytes(new_format(ENTRIES)))

    def no_program(*args, **kwargs):
        raise AssertionError("ldconfig was run although the cache was readable")

    monkeypatch.setattr(ctx, "run", no_program)
    assert toolchain._ldconfig(ctx) == {
        "libcuda.so.1": [ENTRIES[0][1], ENTRIES[1][1]],
        "libcuda.so": [ENTRIES[2][1]],
    }


def test_without_a_readable_cache_ldconfig_is_asked_and_its_failure_said(tmp_path, monkeypatch):
    from gpudoctor.facts.model import Unavailable
    from gpudoctor.probes.base import CommandResult
    from gpudoctor.probes.base import CommandTimeout
    from gpudoctor.probes.ld_cache import loader_entries

    ctx = ProbeContext(root=str(tmp_path), env={"PATH": str(tmp_path / "bin")})
    (tmp_path / "sbin").mkdir()
    (tmp_path / "sbin" / "ldconfig").write_text("")
    printed = "2 libs found in cache\n" + "".join(
        f"\t{soname} (libc6,x86-64) => {path}\n" for soname, path in ENTRIES[:2]
    )
    ran = []

    def answered(argv, timeout=2.0):
        ran.append(list(argv))
        return CommandResult(tuple(argv), 0, printed, "")

    monkeypatch.setattr(ctx, "run", answered)
    assert loader_entries(ctx, 1.5) == ENTRIES[:2]
    assert ran == [["/sbin/ldconfig", "-p"]]

    def hung(argv, timeout=2.0):
        raise CommandTimeout(f"{argv[0]} did not answer within {timeout:g} s")

    monkeypatch.setattr(ctx, "run", hung)
    assert loader_entries(ctx, 1.5) == Unavailable("/sbin/ldconfig did not answer within 1.5 s")
    (tmp_path / "sbin" / "ldconfig").unlink()
    assert loader_entries(ctx, 1.5) == Unavailable("ldconfig not found")
