"""Leaving the process: ``gpudoctor`` skips the interpreter's teardown, nothing else.

``cli.run`` ends with ``os._exit`` once the command is done; these tests hold it to what an
ordinary exit gives: the status, every byte of output, exit handlers, and the wait for
threads that Python waits for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import weakref

import pytest

from conftest import REPO
from gpudoctor import gc_pause
from gpudoctor.cli import exit_status


def _python(code: str, tmp_path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )


def test_a_piped_listing_arrives_whole_with_its_status(tmp_path):
    ordinary = _python(
        "from gpudoctor.cli import main\nmain(['list'], prog_name='gpudoctor')", tmp_path
    )
    fast = _python("from gpudoctor.cli import run\nrun(['list'])", tmp_path)
    assert fast.returncode == ordinary.returncode == 0
    assert len(fast.stdout) > 4096  # more than one pipe buffer's worth of a small write
    assert fast.stdout == ordinary.stdout


def test_usage_errors_keep_exit_code_2_and_their_message(tmp_path):
    done = _python("from gpudoctor.cli import run\nrun(['explain', 'GD0000'])", tmp_path)
    assert done.returncode == 2
    assert "GD0000" in done.stderr
    assert "Traceback" not in done.stderr


def test_exit_handlers_run_before_the_process_ends(tmp_path):
    code = (
        "import atexit\n"
        "atexit.register(lambda: open('handler-ran', 'w').write('yes'))\n"
        "from gpudoctor.cli import run\n"
        "run(['--version'])\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "handler-ran").read_text() == "yes"


def test_a_running_non_daemon_thread_is_waited_for(tmp_path):
    code = (
        "import threading, time\n"
        "def late():\n"
        "    time.sleep(0.5)\n"
        "    open('thread-finished', 'w').write('yes')\n"
        "threading.Thread(target=late).start()\n"
        "from gpudoctor.cli import run\n"
        "run(['--version'])\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0
    assert (tmp_path / "thread-finished").read_text() == "yes"


@pytest.mark.parametrize(
    ("status", "code", "printed"),
    [(None, 0, ""), (0, 0, ""), (1, 1, ""), (130, 130, ""), ("gpudoctor: stopped", 1, "stopped")],
)
def test_exit_status_is_what_system_exit_gives(status, code, printed, capsys):
    assert exit_status(status) == code
    assert printed in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "collector_on"),
    [(["list"], False), (["--debug", "explain", "GD101"], False), (["log", "--help"], True)],
)
def test_one_shot_commands_run_without_the_cycle_collector(tmp_path, args, collector_on):
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: open('collector', 'w').write(str(gc.isenabled())))\n"
        "from gpudoctor.cli import run\n"
        f"run({args!r})\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "collector").read_text() == str(collector_on)


def test_a_replayed_check_leaves_its_report_to_the_exit_and_prints_the_same(tmp_path):
    """``check`` releases its report through ``gc_pause.release``; under ``run`` the report
    is kept for the OS (not freed object by object), and the output does not change."""
    replay = REPO / "fixtures" / "machines" / "linux-server-stale-gpu-holders.json"
    args = ["check", "--replay", str(replay)]
    ordinary = _python(
        f"from gpudoctor.cli import main\nmain({args!r}, prog_name='gpudoctor')", tmp_path
    )
    code = (
        "import atexit\n"
        "from gpudoctor import gc_pause\n"
        "atexit.register(lambda: open('kept', 'w').write(\n"
        "    ','.join(type(v).__name__ for v in gc_pause._left_to_exit or ())))\n"
        "from gpudoctor.cli import run\n"
        f"run({args!r})\n"
    )
    fast = _python(code, tmp_path)
    assert fast.returncode == ordinary.returncode == 1  # the fixture has stale holders
    assert fast.stdout == ordinary.stdout
    assert (tmp_path / "kept").read_text() == "Report"


def test_release_frees_at_once_unless_the_process_ends_with_os_exit(monkeypatch):
    class Held:
        pass

    monkeypatch.setattr(gc_pause, "_left_to_exit", None)
    held = Held()
    ref = weakref.ref(held)
    gc_pause.release(held)
    del held
    assert ref() is None
    gc_pause.leave_to_exit()
    held = Held()
    ref = weakref.ref(held)
    gc_pause.release(held)
    del held
    assert ref() is not None


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_output_onto_a_full_device_is_one_line_and_not_called_a_bug():
    """A report written where the disk is full fails as the machine's state, exit 2."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "gpudoctor", "check", "--no-plugins"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gpudoctor: error: cannot write: No space left on device"
    ]
    assert "bug" not in done.stderr
