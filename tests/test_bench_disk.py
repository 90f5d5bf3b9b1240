"""gpudoctor bench disk: real reads of real files, filesystem classification, bad input."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from gpudoctor.probes.bench.disk import CACHE_DIRECT
from gpudoctor.probes.bench.disk import CACHE_DROPPED
from gpudoctor.probes.bench.disk import CACHE_MAYBE
from gpudoctor.probes.bench.disk import CACHE_MEMORY
from gpudoctor.probes.bench.disk import CACHE_WARM
from gpudoctor.probes.bench.disk import LARGE_FILE_BYTES
from gpudoctor.probes.bench.disk import MiB
from gpudoctor.probes.bench.disk import bench_disk
from gpudoctor.probes.bench.disk import classify_filesystem

LABELS = {CACHE_DIRECT, CACHE_DROPPED, CACHE_MAYBE, CACHE_WARM, CACHE_MEMORY}


def _dataset(folder, *, large=1, small=40, small_size=30_000):
    folder.mkdir(exist_ok=True)
    for i in range(large):
        (folder / f"shard{i}.tar").write_bytes(os.urandom(1024) * (LARGE_FILE_BYTES // 1024 + 3))
    sub = folder / "images"
    sub.mkdir(exist_ok=True)
    for i in range(small):
        (sub / f"{i:04d}.jpg").write_bytes(os.urandom(small_size))
    return folder


def _listing(folder):
    return sorted(
        (p.relative_to(folder), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
    )


def test_reads_large_and_small_files_and_writes_nothing(tmp_path):
    folder = _dataset(tmp_path / "data")
    before = _listing(folder)
    result = bench_disk(str(folder), seconds=5, byte_budget=512 * MiB, seed=1)
    assert _listing(folder) == before
    assert result["files_seen"] == 41
    assert result["large_files_seen"] == 1
    seq, small = result["sequential"], result["small_files"]
    assert seq["files"] == 1
    assert seq["bytes"] == LARGE_FILE_BYTES + 3 * 1024
    assert small["files"] == 40
    assert small["bytes"] == 40 * 30_000
    assert small["mean_file_bytes"] == 30_000
    assert seq["cache"] in LABELS
    assert small["cache"] in LABELS
    assert seq["mb_per_s"] > 0
    assert small["files_per_s"] > 0


def test_byte_budget_bounds_the_reads(tmp_path):
    folder = _dataset(tmp_path / "data", large=2, small=0)
    result = bench_disk(str(folder), seconds=5, byte_budget=2 * MiB)
    assert result["small_files"] is None
    # Reads go in 1 MiB blocks, so the budget can be passed by at most one block.
    assert result["sequential"]["bytes"] <= 3 * MiB


def test_only_small_files_gives_no_sequential_figure(tmp_path):
    folder = _dataset(tmp_path / "data", large=0, small=10)
    result = bench_disk(str(folder), seconds=2)
    assert result["sequential"] is None
    assert result["small_files"]["files"] == 10


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux only")
def test_tmpfs_is_labelled_memory_not_cold(tmp_path):
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm")
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        folder = _dataset(Path(shm) / "d", large=0, small=5)
        fs = classify_filesystem(str(folder), Path("/proc/self/mountinfo").read_text())
        result = bench_disk(str(folder), seconds=1, filesystem=fs)
    assert fs["kind"] == "memory"
    assert result["small_files"]["cache"] == CACHE_MEMORY


# -- classification -------------------------------------------------------------------------

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw
40 27 0:50 / /data rw,relatime - nfs4 server:/export/data rw,vers=4.2
41 27 0:51 / /mnt/c rw,noatime - 9p drvfs rw,aname=drvfs;path=C:\\;uid=1000
42 27 0:52 / /var/lib/docker/x/merged rw - overlay overlay rw,lowerdir=/a,upperdir=/b
43 27 0:53 / /scratch rw - tmpfs tmpfs rw,size=100k
44 27 0:54 / /remote rw - fuse.sshfs me@host:/srv rw
45 27 259:1 / /fast rw - ext4 /dev/nvme0n1p1 rw
46 27 0:55 / /my\\040data rw - cifs //nas/share rw
"""


def _sys_tree(tmp_path):
    """A recorded /sys: 8:2 is a partition of a spinning sda, 259:1 of an NVMe drive."""
    root = tmp_path / "sys"
    sda = root / "devices/pci0000:00/ata1/block/sda"
    (sda / "sda2").mkdir(parents=True)
    (sda / "sda2" / "partition").write_text("2\n")
    (sda / "queue").mkdir()
    (sda / "queue" / "rotational").write_text("1\n")
    nvme = root / "devices/pci0000:00/nvme/nvme0n1"
    (nvme / "nvme0n1p1").mkdir(parents=True)
    (nvme / "nvme0n1p1" / "partition").write_text("1\n")
    (nvme / "queue").mkdir()
    (nvme / "queue" / "rotational").write_text("0\n")
    links = root / "dev/block"
    links.mkdir(parents=True)
    os.symlink(sda / "sda2", links / "8:2")
    os.symlink(nvme / "nvme0n1p1", links / "259:1")

    def sys_path(absolute):
        return root / absolute.removeprefix("/sys/")

    return sys_path


@pytest.mark.parametrize(
    ("path", "kind", "fstype"),
    [
        ("/home/u/data", "local-hdd", "ext4"),
        ("/fast/imagenet", "local-ssd", "ext4"),
        ("/data/train", "network", "nfs4"),
        ("/mnt/c/Users/u/data", "wsl-drive", "9p"),
        ("/var/lib/docker/x/merged/data", "overlay", "overlay"),
        ("/scratch/x", "memory", "tmpfs"),
        ("/remote/x", "network", "fuse.sshfs"),
        ("/my data/x", "network", "cifs"),
    ],
)
def test_classify_filesystem(tmp_path, path, kind, fstype):
    fs = classify_filesystem(path, MOUNTINFO, sys_path=_sys_tree(tmp_path), is_wsl=True)
    assert fs["kind"] == kind
    assert fs["fstype"] == fstype
    assert fs["meaning"]


def test_longest_mount_point_wins_and_prefix_is_not_enough(tmp_path):
    fs = classify_filesystem("/database/x", MOUNTINFO, sys_path=_sys_tree(tmp_path))
    assert fs["fstype"] == "ext4"  # /database is not under /data


def test_9p_outside_wsl_is_a_network_share(tmp_path):
    text = "50 1 0:60 / /share rw - 9p hostshare rw,trans=virtio\n"
    assert classify_filesystem("/share/a", text, is_wsl=False)["kind"] == "network"


# -- command line ---------------------------------------------------------------------------


def test_cli_json(cli, tmp_path):
    folder = _dataset(tmp_path / "data", large=0, small=8)
    proc = cli("bench", "disk", str(folder), "--seconds", "1", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["small_files"]["files"] == 8
    assert doc["filesystem"]["kind"]


def test_cli_text_and_markdown(cli, tmp_path):
    folder = _dataset(tmp_path / "data", large=0, small=8)
    text = cli("bench", "disk", str(folder), "--seconds", "1")
    assert text.returncode == 0
    assert "small files, random order" in text.stdout
    md = cli("bench", "disk", str(folder), "--seconds", "1", "-f", "markdown")
    assert md.stdout.startswith("## gpudoctor bench disk")
    assert "| small files, random | 8 |" in md.stdout


@pytest.mark.parametrize("case", ["missing", "file", "empty", "empty-files"])
def test_cli_bad_input_is_one_line_exit_2(cli, tmp_path, case):
    target = tmp_path / "x"
    if case == "file":
        target.write_bytes(b"abc")
    elif case == "empty":
        target.mkdir()
    elif case == "empty-files":
        target.mkdir()
        (target / "zero.bin").write_bytes(b"")
    proc = cli("bench", "disk", str(target))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gpudoctor: error: ")
    assert str(target) in lines[0]
    assert "Traceback" not in proc.stderr


def _run_unprivileged(args):
    """Run the CLI in a forked child that has given up root, so permissions apply."""
    import gpudoctor.commands.bench
    import gpudoctor.probes.bench.disk
    import gpudoctor.report.bench
    import gpudoctor.report.text  # noqa: F401 - imported before giving up access to them
    from gpudoctor.cli import main

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.dup2(write_end, 2)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            main(args=args, prog_name="gpudoctor")
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        except BaseException as exc:  # noqa: BLE001
            os.write(2, repr(exc).encode())
            os._exit(99)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as stream:
        err = stream.read()
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("what", ["folder", "files"])
def test_cli_unreadable_is_one_line_exit_2(what):
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="gpudoctor-test-"))
    base.chmod(0o755)  # others may enter, so only the folder's own mode decides
    folder = _dataset(base / "locked", large=0, small=3)
    if what == "folder":
        os.chmod(folder, 0o000)
    else:
        for p in (folder / "images").iterdir():
            p.chmod(0o000)
    try:
        code, err = _run_unprivileged(["bench", "disk", str(folder)])
    finally:
        os.chmod(folder, 0o755)
        for p in (folder / "images").iterdir():
            p.chmod(0o644)
        shutil.rmtree(base)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "permission denied" in lines[0]
