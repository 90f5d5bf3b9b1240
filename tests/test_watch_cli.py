"""``gpudoctor watch`` as a user runs it: started commands, signals, exit codes, replay, privacy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpudoctor.probes.live.stacks import INSTALL_REMEDY
from gpudoctor.probes.live.stacks import capture

REPO = Path(__file__).resolve().parents[1]

TRAINING = Path(__file__).parent / "watch" / "training.py"
needs_torch = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode != 0,
    reason="needs torch",
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    return env


def _watch(*args: str) -> list[str]:
    return [sys.executable, "-m", "gpudoctor", "watch", "--interval", "0.2", "--no-ui", *args]


def test_started_command_keeps_its_exit_code(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, time\nfor i in range(5):\n    print(f'step {i}', flush=True)\n"
        "    time.sleep(0.1)\nsys.exit(3)\n"
    )
    record = tmp_path / "run.jsonl"
    done = cli(
        "watch",
        "--interval",
        "0.2",
        "--no-ui",
        "--record",
        str(record),
        "--",
        sys.executable,
        str(script),
    )
    assert done.returncode == 3, done.stderr
    assert "step 4" in done.stdout  # the command's own output is untouched
    assert "GD851" in done.stdout  # then the report (passes show with -v only)
    assert "exit code 3" in done.stderr
    replay = cli("watch", "--replay", str(record), "-f", "json")
    assert replay.returncode == 0, replay.stderr
    doc = json.loads(replay.stdout)
    assert doc["facts"]["watch"]["target"] == "command"
    assert {f["id"] for f in doc["findings"]} >= {"GD851", "GD859", "GD861"}


@needs_torch
def test_ctrl_c_is_forwarded_and_its_exit_code_returned(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    watcher = subprocess.Popen(
        _watch("--", sys.executable, str(TRAINING), "interrupt", str(log)),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and "step 3" in log.read_text()):
            assert time.monotonic() < deadline, "training did not start"
            assert watcher.poll() is None, watcher.communicate()
            time.sleep(0.05)
        watcher.send_signal(signal.SIGINT)  # as 'kill -INT <gpudoctor>' would
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 42, err
    assert "interrupted 1" in log.read_text()  # forwarded once
    assert "interrupted" in err


@needs_torch
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_ctrl_c_on_the_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """The terminal already signals the whole foreground group: no second, forwarded copy."""
    import pty
    import threading

    log = tmp_path / "train.log"
    argv = _watch("--", sys.executable, str(TRAINING), "interrupt", str(log))
    pid, fd = pty.fork()
    if pid == 0:  # the child: gpudoctor on a terminal of its own
        os.execve(argv[0], argv, _env())
    output: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            output.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    status = None
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and "step 3" in log.read_text()):
            assert time.monotonic() < deadline, b"".join(output)
            time.sleep(0.05)
        os.write(fd, b"\x03")  # Ctrl+C typed on the terminal
        deadline = time.monotonic() + 60
        while True:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
                break
            assert time.monotonic() < deadline, b"".join(output)
            time.sleep(0.05)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 42, b"".join(output)
    assert "interrupted 1" in log.read_text()


def test_record_is_redacted(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    home_script = Path.home() / ".gpudoctor-watch-test.py"
    home_script.write_text("import time\ntime.sleep(0.5)\n")
    try:
        record = tmp_path / "run.jsonl"
        done = cli(
            "watch",
            "--interval",
            "0.2",
            "--no-ui",
            "--record",
            str(record),
            "--",
            sys.executable,
            str(home_script),
        )
        assert done.returncode == 0, done.stderr
        text = record.read_text()
        assert str(Path.home()) not in text
        assert "<home>" in text
    finally:
        home_script.unlink()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01binary", "binary"),
        (b'{"kind": "sample"}\n', "not a gpudoctor timeline"),
    ],
)
def test_bad_replay_files_are_one_line_errors(
    tmp_path: Path, cli, content: bytes, message: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    done = cli("watch", "--replay", str(path))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_to_watch_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("watch")
    assert done.returncode == 2
    assert "--pid PID" in done.stderr


def test_missing_pid_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("watch", "--pid", "999999999")
    assert done.returncode == 2
    assert "no process" in done.stderr


def test_missing_py_spy_is_a_clear_reason(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        result = capture(
            [(proc.pid, "main")], t=1.0, reason="test", binary=str(tmp_path / "no-py-spy")
        )
    finally:
        proc.kill()
        proc.wait()
    assert result.error.startswith("cannot run py-spy")
    assert result.remedy == INSTALL_REMEDY


def test_py_spy_reads_a_sleeping_process(tmp_path: Path) -> None:
    from gpudoctor.probes.live.stacks import find_py_spy

    if find_py_spy() is None:
        pytest.skip("py-spy not installed")
    script = tmp_path / "sleeper.py"
    script.write_text("import time\ndef wait_here():\n    time.sleep(60)\nwait_here()\n")
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        time.sleep(0.5)
        result = capture([(proc.pid, "main")], t=1.0, reason="test")
    finally:
        proc.kill()
        proc.wait()
    if result.error.startswith("permission denied"):
        pytest.skip("ptrace not allowed here")
    frames = [f for p in result.procs for th in p.threads for f in th.frames]
    assert any(f.startswith("wait_here (sleeper.py:3)") for f in frames), result


def _recorded(tmp_path: Path) -> Path:
    from tests.test_watch_checks import make_timeline

    from gpudoctor.probes.live.timeline import iter_lines

    path = tmp_path / "run.jsonl"
    util = [5.0 if i % 10 == 9 else 95.0 for i in range(60)]
    writes = [300 * 1024**2 if u < 50 else 0 for u in util]
    lines = [json.dumps(r) for r in iter_lines(make_timeline(60, util=util, writes=writes))]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_markdown_report_with_mermaid_and_svg_chart(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    record = _recorded(tmp_path)
    report, chart = tmp_path / "report.md", tmp_path / "run.svg"
    done = cli(
        "watch", "--replay", str(record), "-f", "markdown", "-o", str(report), "--chart", str(chart)
    )
    assert done.returncode == 1, done.stderr  # periodic stalls are a warning
    text = report.read_text()
    assert "GD852" in text
    assert "```mermaid\nxychart-beta" in text
    assert "<svg" in chart.read_text()  # hand-written, or matplotlib's when installed


def test_png_chart_needs_matplotlib_or_says_so(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    record = _recorded(tmp_path)
    chart = tmp_path / "run.png"
    done = cli("watch", "--replay", str(record), "--chart", str(chart))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert done.returncode == 2
        assert "matplotlib" in done.stderr
        assert "Traceback" not in done.stderr
    else:
        assert chart.read_bytes().startswith(b"\x89PNG")


def test_replay_thresholds_come_from_the_recording(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("watch", "--replay", str(_recorded(tmp_path)), "-f", "json")
    doc = json.loads(done.stdout)
    assert doc["facts"]["watch"]["thresholds"]["warmup_s"] == 2.0
    assert len(doc["chart"]["gpu_util"]) == 60


def test_replay_with_other_thresholds(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli(
        "watch", "--replay", str(_recorded(tmp_path)), "-f", "json", "--threshold", "min_stalls=10"
    )
    doc = json.loads(done.stdout)
    stalls = next(f for f in doc["findings"] if f["id"] == "GD852")
    assert stalls["severity"] == "pass"  # 6 stalls are no longer enough


def test_signals_are_forwarded_without_sigtimedwait(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The macOS/Windows path: handlers forward SIGTERM; the command's exit code comes back."""
    import threading

    from gpudoctor.probes.live import watcher

    monkeypatch.setattr(watcher, "_can_sigwait", lambda: False)
    script = tmp_path / "job.py"
    ready = tmp_path / "ready"
    script.write_text(
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(30)\n"
    )
    child = watcher.start_command([sys.executable, str(script)])

    def terminate_me() -> None:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_me, daemon=True).start()
    timeline = watcher.Watch(child.pid, watcher.WatchOptions(interval=0.2), child=child).run()
    assert timeline.end is not None
    assert timeline.end.exit_code == 7
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers put back
