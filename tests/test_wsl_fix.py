"""`gpudoctor fix --wslconfig`: exact diff, backup, atomic UTF-8 write, idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import REPO
from gpudoctor.errors import BadInputError
from gpudoctor.fixes.wslconfig import parse_user_size
from gpudoctor.fixes.wslconfig import plan
from gpudoctor.fixes.wslconfig import suggested_memory
from gpudoctor.fixes.wslconfig import suggested_swap
from gpudoctor.readers.wslconfig import GiB
from gpudoctor.readers.wslconfig import MiB
from gpudoctor.readers.wslconfig import parse_wslconfig

SAMPLES = sorted((REPO / "fixtures" / "wslconfig").glob("*.wslconfig"))


def _comments_and_keys(data: bytes) -> list[str]:
    """Comment lines and key lines other than memory/swap, as the author wrote them."""
    from gpudoctor.fixes.wslconfig_edit import text_for_diff as _text_for_diff

    kept = []
    for line in _text_for_diff(data).splitlines():
        bare = line.strip()
        # memory/swap are rewritten; "memmory" is the misspelt memory the fix repairs.
        if not bare or bare.split("=")[0].strip().lower() in ("memory", "swap", "memmory"):
            continue
        kept.append(bare)
    return kept


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_round_trip_on_each_sample(tmp_path, cli, sample):
    target = tmp_path / ".wslconfig"
    shutil.copyfile(sample, target)
    original = target.read_bytes()
    args = ["fix", "--wslconfig", "--wslconfig-path", str(target), "--yes"]
    done = cli(*args, "--memory", "12GB", "--swap", "6GB", "--processors", "4")
    assert done.returncode == 0, done.stderr
    assert "wsl --shutdown" in done.stdout
    written = target.read_bytes()
    assert not written.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    parsed = parse_wslconfig(written)
    assert parsed.encoding == "utf-8"
    assert (parsed.memory_bytes, parsed.swap_bytes, parsed.processors) == (12 * GiB, 6 * GiB, 4)
    assert not [d for d in parsed.diagnostics if d.code in ("invalid-value", "duplicate-key")]
    new_text = written.decode()
    for kept in _comments_and_keys(original):
        if kept.lower().startswith("processors"):
            continue
        # ';' lines are not comments to WSL: the fix turns them into '#' comments.
        assert kept in new_text or kept.startswith(";") and "#" + kept[1:] in new_text
    backups = list(tmp_path.glob(".wslconfig.gpudoctor-*.bak"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == original
    again = cli(*args, "--memory", "12GB", "--swap", "6GB", "--processors", "4")
    assert again.returncode == 0
    assert "nothing to change" in again.stdout
    assert target.read_bytes() == written
    assert len(list(tmp_path.glob(".wslconfig.gpudoctor-*.bak"))) == 1


def test_dry_run_changes_nothing_and_shows_diff(tmp_path, cli):
    target = tmp_path / ".wslconfig"
    shutil.copyfile(REPO / "fixtures/wslconfig/plain-utf8.wslconfig", target)
    before = target.read_bytes()
    done = cli("fix", "--wslconfig", "--wslconfig-path", str(target), "--memory", "12GB", "-n")
    assert done.returncode == 0
    assert "-memory=6GB   # too small, raised later" in done.stdout
    assert "+memory=12GB   # too small, raised later" in done.stdout
    assert target.read_bytes() == before
    assert list(tmp_path.iterdir()) == [target]


def test_refusing_confirmation_writes_nothing(tmp_path, cli):
    target = tmp_path / ".wslconfig"
    target.write_bytes(b"[wsl2]\nmemory=4GB\n")
    done = cli("fix", "--wslconfig", "--wslconfig-path", str(target), "--memory", "12GB")
    assert done.returncode == 1
    assert target.read_bytes() == b"[wsl2]\nmemory=4GB\n"


def test_creates_a_missing_file(tmp_path, cli):
    target = tmp_path / ".wslconfig"
    done = cli("fix", "--wslconfig", "--wslconfig-path", str(target), "--memory", "12GB", "-y")
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == b"[wsl2]\nmemory=12GB\nswap=8GB\n"


def test_bad_size_and_unlocatable_file_are_one_line_errors(tmp_path, cli):
    target = tmp_path / ".wslconfig"
    bad = cli("fix", "--wslconfig", "--wslconfig-path", str(target), "--memory", "lots")
    assert bad.returncode == 2
    assert bad.stderr.startswith("gpudoctor: error: --memory 'lots' is not a size")
    assert "Traceback" not in bad.stderr
    nowhere = cli("fix", "--wslconfig", "--memory", "12GB", "--dry-run")
    assert nowhere.returncode == 2
    assert nowhere.stderr.count("\n") == 1
    assert "cannot locate the Windows .wslconfig" in nowhere.stderr


def test_plan_computes_sensible_values_from_host_ram():
    assert suggested_memory(16 * GiB) == 12 * GiB
    assert suggested_memory(64 * GiB) == 56 * GiB
    assert suggested_swap(12 * GiB) == 8 * GiB
    result = plan(b"", host_ram=16 * GiB)
    assert result.new == b"[wsl2]\nmemory=12GB\nswap=8GB\n"
    kept = plan(b"[wsl2]\nmemory=10GB\nswap=4GB\n", host_ram=16 * GiB)
    assert not kept.changed
    raised = plan(b"[wsl2]\nmemory=4GB\n", host_ram=16 * GiB)
    assert parse_wslconfig(raised.new).memory_bytes == 12 * GiB
    with pytest.raises(BadInputError):
        plan(b"", host_ram=None)


def test_keys_before_section_are_moved_and_crlf_kept():
    original = (REPO / "fixtures/wslconfig/crlf-keys-before-section.wslconfig").read_bytes()
    result = plan(original, host_ram=None)
    parsed = parse_wslconfig(result.new)
    assert parsed.memory_bytes == 10 * GiB
    assert parsed.swap_bytes == 4 * GiB
    assert b"\r\n" in result.new
    assert b"\n" not in result.new.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("text", "value"),
    [("12GB", 12 * GiB), ("12g", 12 * GiB), ("12 GiB", 12 * GiB), ("1.5GB", 1536 * MiB)],
)
def test_user_sizes_are_forgiving(text, value):
    assert parse_user_size(text, "memory") == value


def test_bare_number_is_refused():
    with pytest.raises(BadInputError):
        parse_user_size("12", "memory")


def test_backup_lives_beside_the_file(tmp_path):
    from gpudoctor.fixes.wslconfig import apply

    target = tmp_path / ".wslconfig"
    target.write_bytes(b"\xff\xfe" + "[wsl2]\r\nmemory=4GB\r\n".encode("utf-16-le"))
    original = target.read_bytes()
    backup = apply(plan(original, path=str(target), memory=8 * GiB))
    assert isinstance(backup, Path)
    assert backup.parent == tmp_path
    assert backup.read_bytes() == original
