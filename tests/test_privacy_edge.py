"""Output safety at the edge: linear-time redaction, replay identity, control characters,
strict JSON, safe writes, bounded reads and the one error rule."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from conftest import REPO
from conftest import make_facts
from conftest import run_cli
from gpudoctor.errors import BadInputError
from gpudoctor.facts.snapshot import snapshot_document
from gpudoctor.files import atomic_write_text
from gpudoctor.files import read_bounded
from gpudoctor.privacy import REDACTED
from gpudoctor.privacy import Identity
from gpudoctor.privacy import Redactor
from gpudoctor.privacy import strip_control
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.env import probe_env

ADVERSARIAL = [
    "a" * 200_000,
    "a-" * 100_000,
    "--token " * 25_000,
    "http://" * 30_000,
    "a@" * 100_000,
    "1." * 100_000,
    "eyJ" * 60_000,
    'password="' * 20_000,
    "-----BEGIN PRIVATE KEY-----" * 8_000,
    ":" * 200_000,
    "bearer " * 30_000,
    "A1" * 100_000,
    "ff:" * 60_000,
    "0123456789abcdef" * 12_000,
    "/home/x" * 30_000,
    "x=" * 100_000,
    "ip-1-" * 40_000,
    "\x1b[" * 100_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[repr(t[:8]) for t in ADVERSARIAL])
def test_redaction_is_linear_on_adversarial_strings(text):
    """8x the input costs about 8x the CPU time, never 64x (a quadratic regex: minutes).

    CPU time of this process, not wall time, so a busy machine does not fail the test.
    """
    r = Redactor(Identity(users=("alice",), homes=("/home/alice",), hosts=("gpubox",)))
    small = text[: len(text) // 8]
    start = time.process_time()
    r.text(small)
    t_small = time.process_time() - start
    start = time.process_time()
    r.text(text)
    t_full = time.process_time() - start
    assert t_full < 10.0
    assert t_full < max(0.25, 30 * t_small)


def test_secrets_in_command_line_spellings_and_truncation():
    r = Redactor(Identity())
    line = (
        "train.py --api-key=myShortApiKey99 --password Hunter3Pass --token tok3nShort99 "
        "-p pw4Short -H 'Authorization: Bearer b3arerTok' PIP_EXTRA_INDEX_URL=https://x/s?auth=qq9 "
        "https://Tok3n:@host/simple --master_addr=10.20.30.40 http://user:Pr0xyPassw0r…"
    )
    out = r.text(line)
    for secret in (
        "myShortApiKey99",
        "Hunter3Pass",
        "tok3nShort99",
        "pw4Short",
        "b3arerTok",
        "qq9",
        "Tok3n",
        "10.20.30.40",
        "Pr0xyPassw0r",
    ):
        assert secret not in out
    assert out.count(REDACTED) == 8
    assert "--master_addr=<ip-1>" in out


def test_versions_hashes_and_wheel_tags_survive():
    r = Redactor(Identity())
    doc = {
        "bundled_libraries": {"nvidia-cudnn-cu12": "9.1.0.70"},
        "git_version": "e2d141dbde55c2a4370fac5165b0561b6af4798b",
        "wheel_tags": ["cp311-cp311-manylinux_2_17_x86_64"],
        "line": "cuDNN 9.1.0.70 from nvidia-cudnn-cu12==9.1.0.70",
    }
    assert r.value(doc) == doc


def test_replay_is_not_redacted_again_with_the_local_identity(tmp_path):
    """USER=nvidia (Jetson) must not turn "NVIDIA driver" into "<user> driver"."""
    facts = make_facts(host__distro="NVIDIA driver host")
    snap = tmp_path / "s.json"
    doc = snapshot_document(facts, "gpudoctor snapshot")
    snap.write_text(json.dumps(doc))
    env = {"USER": "nvidia", "LOGNAME": "nvidia", "HOME": "/home/nvidia"}
    done = run_cli("check", "--replay", str(snap), "-f", "json", env=env)
    assert done.returncode in (0, 1), done.stderr
    assert "NVIDIA driver host" in done.stdout
    assert "<user> driver" not in done.stdout


def test_gpu_and_mig_uuids_reach_the_checks_raw():
    mig = "MIG-9a8b7c6d-5e4f-3a2b-1c0d-ffeeddccbbaa"
    facts = probe_env(ProbeContext(env={"CUDA_VISIBLE_DEVICES": mig, "PIP_INDEX_URL": "x"}))
    assert facts["variables"]["CUDA_VISIBLE_DEVICES"] == mig
    out = Redactor(Identity()).value(facts)
    assert out["variables"]["CUDA_VISIBLE_DEVICES"] == "MIG-<uuid-1>"


def test_control_characters_never_reach_a_terminal_or_markdown(tmp_path):
    evil = "python x.py \x1b[2J\x1b[H\x1b]0;pwned\x07 all clear \x9b31m \u202e"
    assert "\x1b" not in strip_control(evil)
    assert "\x9b" not in strip_control(evil)
    assert "\u202e" not in strip_control(evil)
    facts = make_facts(host__distro=evil)
    snap = tmp_path / "s.json"
    snap.write_text(json.dumps(snapshot_document(facts, evil)))
    for fmt in ("text", "markdown", "json"):
        done = run_cli("check", "--replay", str(snap), "-f", fmt)
        assert done.returncode in (0, 1), done.stderr
        assert "\x1b" not in done.stdout
        assert "\x9b" not in done.stdout


def test_json_output_is_strict_even_with_non_finite_facts(tmp_path):
    facts = make_facts(memory__weird=math.nan, memory__huge=math.inf)
    out = Redactor(Identity()).value(facts.to_json())
    text = json.dumps(out, allow_nan=False)

    def refuse(name: str) -> None:
        raise ValueError(name)

    json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested"),
        (
            b'{"format": "gpudoctor-snapshot", "schema_version": 1, "x": ' + b"9" * 5000 + b"}",
            "digits",
        ),
        (b'{"format": "gpudoctor-snapshot", "schema_version": 1, "s": 1e400}', "out of range"),
        (b'{"format": "gpudoctor-snapshot", "schema_version": 1, "s": NaN}', "NaN"),
    ],
    ids=["deep", "bigint", "1e400", "nan"],
)
def test_bounded_replay_json(tmp_path, content, fragment):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    done = run_cli("check", "--replay", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert fragment in done.stderr


def test_host_section_that_is_not_an_object_and_lone_surrogates(tmp_path):
    doc = snapshot_document(make_facts(), "x")
    doc["facts"]["host"]["distro"] = "\ud800 lone"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    done = run_cli("check", "--replay", str(path))
    assert done.returncode in (0, 1), done.stderr
    doc["facts"]["host"] = "not an object"
    path.write_text(json.dumps(doc))
    done = run_cli("check", "--replay", str(path))
    assert done.returncode in (0, 1, 2)
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 1


def test_non_regular_and_oversized_inputs_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero, tmp_path):
        with pytest.raises(BadInputError):
            read_bounded(path, 1024)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(BadInputError, match="larger than"):
        read_bounded(big, 1024)
    start = time.monotonic()
    for args in (
        ("check", "--replay", str(fifo)),
        ("check", "--replay", str(zero)),
        ("check", "--wslconfig", str(fifo)),
        ("check", "--script", str(zero)),
        ("diff", str(fifo), str(zero)),
        ("fix", "--wslconfig", "--wslconfig-path", str(zero), "--memory", "8GB", "--yes"),
    ):
        done = run_cli(*args, timeout=30)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert time.monotonic() - start < 60


def test_outputs_are_created_with_the_umask_and_keep_an_existing_mode(tmp_path):
    fresh = tmp_path / "new.md"
    old = os.umask(0o022)
    try:
        atomic_write_text(fresh, "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    kept = tmp_path / "kept.md"
    kept.write_text("old")
    kept.chmod(0o640)
    atomic_write_text(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert kept.read_text() == "new"
    link = tmp_path / "link.md"
    link.symlink_to(kept)
    atomic_write_text(link, "via link")
    assert link.is_symlink()
    assert kept.read_text() == "via link"
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    atomic_write_text(fifo, "through the pipe\n")
    assert reader.communicate(timeout=10)[0] == b"through the pipe\n"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_error_rule_one_line_exit_2_and_debug(tmp_path):
    long_name = tmp_path / ("x" * 300)
    done = run_cli(
        "check",
        "--replay",
        str(REPO / "fixtures/machines/linux-workstation-healthy.json"),
        "-o",
        str(long_name),
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = run_cli("bench", "disk", "--max-bytes", "nan")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("encoding", ["cp437", "ascii", "latin-1"])
def test_narrow_stdout_encodings_do_not_crash(encoding):
    fixture = str(REPO / "fixtures/machines/linux-workstation-healthy.json")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONIOENCODING": encoding}
    for command in ("check", "report"):
        done = subprocess.run(
            [sys.executable, "-m", "gpudoctor", command, "--replay", fixture],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr
        assert b"Verdict" in done.stdout or b"verdict" in done.stdout.lower()


UNSHARE = shutil.which("unshare")


@pytest.mark.skipif(
    not (UNSHARE and sys.platform.startswith("linux") and os.geteuid() == 0),
    reason="needs root and unshare for a private mount namespace",
)
def test_dev_null_and_dev_stdout_survive_as_root():
    """In a private mount namespace (a throwaway /dev), -o /dev/null and -o /dev/stdout."""
    fixture = REPO / "fixtures/machines/linux-workstation-healthy.json"
    script = f"""
set -e
mount -t tmpfs none /dev 2>/dev/null || exit 77
mknod -m 666 /dev/null c 1 3
ln -s /proc/self/fd/1 /dev/stdout
before_null=$(stat -c '%F %t:%T %a' /dev/null)
before_link=$(readlink /dev/stdout)
{sys.executable} -m gpudoctor check --replay {fixture} -o /dev/null || test $? -eq 1
{sys.executable} -m gpudoctor check --replay {fixture} -o /dev/stdout > /tmp/gd-out.txt \\
  || test $? -eq 1
test "$(stat -c '%F %t:%T %a' /dev/null)" = "$before_null"
test -L /dev/stdout && test "$(readlink /dev/stdout)" = "$before_link"
grep -q "Verdict" /tmp/gd-out.txt
echo SURVIVED
"""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [UNSHARE, "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    if done.returncode == 77:
        pytest.skip("cannot mount a private /dev here")
    assert done.returncode == 0, done.stderr
    assert "SURVIVED" in done.stdout


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_dev_full_is_written_in_place_and_fails_with_one_line():
    fixture = str(REPO / "fixtures/machines/linux-workstation-healthy.json")
    done = run_cli("check", "--replay", fixture, "-o", "/dev/full")
    assert done.returncode == 2
    assert "No space left" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_an_output_fifo_nobody_reads_is_one_error_not_a_hang(tmp_path, monkeypatch):
    from gpudoctor import files

    monkeypatch.setattr(files, "FIFO_WAIT", 0.3)
    fifo = tmp_path / "nobody.fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(BadInputError, match="FIFO .* that no process read within 0.3 s"):
        atomic_write_text(fifo, "lost\n")
    assert time.monotonic() - start < 5
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the FIFO, never replaced


def test_an_output_fifo_waits_for_a_reader_that_comes_late(tmp_path):
    fifo = tmp_path / "late.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["sh", "-c", f"sleep 0.5; cat '{fifo}'"], stdout=subprocess.PIPE)
    atomic_write_text(fifo, "worth the wait\n")
    assert reader.communicate(timeout=10)[0] == b"worth the wait\n"
