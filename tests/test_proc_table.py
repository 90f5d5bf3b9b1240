"""The /proc scan on a synthetic tree: who holds a GPU, and whose maps are read at all."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.proc_table import children_of
from gpudoctor.probes.proc_table import scan

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="the synthetic tree uses symbolic links"
)

LIBCUDA = "7f1c30000000-7f1c30100000 r-xp 00000000 08:01 9 /usr/lib/libcuda.so.550\n"
PLAIN = "55d4c0a00000-55d4c0a21000 r--p 00000000 08:01 131 /usr/bin/python3.11\n"


def add_process(proc: Path, pid: int, ppid: int, fds: list[str], maps: str | None) -> None:
    folder = proc / str(pid)
    (folder / "fd").mkdir(parents=True)
    (folder / "stat").write_text(
        f"{pid} (python) S {ppid} {pid} {pid} 0 -1 4194304 100 0 0 0 "
        f"5 7 0 0 20 0 1 0 {1000 + pid} 1000000 200 "
        "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
    )
    for number, target in enumerate(fds):
        os.symlink(target, folder / "fd" / str(number))
    if maps is not None:
        (folder / "maps").write_text(maps)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  1 2 3 4\nbtime 1795000000\n")
    add_process(proc, 1, 0, ["/dev/null"], PLAIN)
    # Holds the driver's files and maps libcuda: both sources.
    add_process(proc, 10, 1, ["/dev/null", "/dev/nvidiactl", "/dev/nvidia0"], PLAIN + LIBCUDA)
    # WSL2: the driver's device is /dev/dxg.
    add_process(proc, 11, 1, ["/dev/pts/0", "/dev/dxg"], LIBCUDA)
    # A device under a name gpudoctor does not know, and libcuda mapped: still found.
    add_process(proc, 12, 10, ["/dev/null", "/dev/accel/accel0"], LIBCUDA)
    # libcuda loaded but the driver never initialised (no device file open): no GPU memory.
    add_process(proc, 13, 10, ["/dev/null", "/dev/pts/1", "socket:[1]"], LIBCUDA)
    # Everyday descriptors only: its maps are not read (there is none to read here).
    add_process(proc, 14, 10, ["/dev/null", "/dev/urandom", "pipe:[2]"], None)
    return tmp_path


def test_holders_are_found_by_device_file_and_by_maps(tree: Path) -> None:
    table = scan(ProbeContext(root=tree, platform="linux"))
    assert sorted(table.stats) == [1, 10, 11, 12, 13, 14]
    assert table.sources == {
        10: {"open device file", "maps libcuda"},
        11: {"open device file", "maps libcuda"},
        12: {"maps libcuda"},
    }
    assert table.devices[10] == {"/dev/nvidiactl", "/dev/nvidia0"}
    assert table.devices[11] == {"/dev/dxg"}
    assert table.devices[12] == set()
    assert table.unreadable == 0


def test_custom_device_paths_and_no_map_markers(tree: Path) -> None:
    table = scan(ProbeContext(root=tree, platform="linux"), ["/dev/accel/"], [])
    assert table.sources == {12: {"open device file"}}


def test_children_come_from_one_index(tree: Path) -> None:
    table = scan(ProbeContext(root=tree, platform="linux"))
    assert children_of(table, 10) == [12, 13, 14]
    assert children_of(table, 1) == [10, 11]
    assert children_of(table, 14) == []
    del table.stats[13]
    assert children_of(table, 10) == [12, 14]
