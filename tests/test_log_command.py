"""``gpudoctor log`` as a user runs it: formats, charts, bad input, and ``check --log``."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import REPO
from conftest import run_cli
from gpudoctor.readers.logs import read_log
from gpudoctor.readers.logs.series import CHART_POINTS
from gpudoctor.readers.logs.series import MAX_CANDIDATES
from gpudoctor.readers.logs.series import RESERVOIR
from gpudoctor.readers.logs.series import TimeSeries

CORPUS = REPO / "tests" / "corpus" / "logs"


def fresh(name: str, tmp_path: Path) -> str:
    target = tmp_path / name
    shutil.copyfile(CORPUS / name, target)
    return str(target)


def one_line_error(result) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gpudoctor: error:"), result.stderr


def test_text_report_with_chart_and_exit_code(tmp_path):
    result = run_cli("log", fresh("mmengine_checkpoint_stalls.log", tmp_path))
    assert result.returncode == 1, result.stderr
    assert "GD804 iteration-stalls" in result.stdout
    assert "mmengine text log" in result.stdout
    assert "iteration time" in result.stdout
    assert "!" in result.stdout


def test_healthy_log_exits_0(tmp_path):
    result = run_cli("log", fresh("mmengine_healthy_epochs.log", tmp_path))
    assert result.returncode == 0, result.stdout
    assert "finished" in result.stdout


def test_json_and_markdown(tmp_path):
    path = fresh("mmengine_checkpoint_stalls.log", tmp_path)
    doc = json.loads(run_cli("log", path, "-f", "json").stdout)
    assert {f["id"] for f in doc["findings"] if f["severity"] == "warn"} == {"GD804"}
    assert doc["facts"]["run_log"]["files"][0]["format"] == "mmengine-text"
    markdown = run_cli("log", path, "-f", "markdown").stdout
    assert "```mermaid\nxychart-beta" in markdown
    assert "GD804" in markdown


def test_svg_chart_and_output_file(tmp_path):
    path = fresh("mmengine_checkpoint_stalls.log", tmp_path)
    svg, out = tmp_path / "stalls.svg", tmp_path / "report.md"
    result = run_cli("log", path, "--chart", str(svg), "-f", "markdown", "-o", str(out))
    assert result.returncode == 1, result.stderr
    text = svg.read_text()
    assert text.startswith("<svg")
    assert "<circle" in text  # stalls marked
    assert "gpudoctor" in out.read_text()


@pytest.mark.skipif("matplotlib" in sys.modules, reason="only without matplotlib")
def test_png_chart_without_matplotlib_is_one_line(tmp_path):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("matplotlib is installed")
    result = run_cli(
        "log", fresh("mmengine_checkpoint_stalls.log", tmp_path), "--chart", str(tmp_path / "c.png")
    )
    one_line_error(result)
    assert "matplotlib" in result.stderr


def test_folder_is_searched(tmp_path):
    run = tmp_path / "work_dirs" / "run1"
    run.mkdir(parents=True)
    shutil.copyfile(CORPUS / "mmengine_healthy_epochs.log", run / "20240305_101112.log")
    result = run_cli("log", str(tmp_path / "work_dirs"))
    assert result.returncode == 0, result.stderr
    assert "20240305_101112.log" in result.stdout


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.log", b"", "empty file"),
        ("model.pt", b"\x80\x02}q\x00(X\x05\x00\x00\x00" * 50, "binary"),
        ("notes.txt", b"just some words\nnothing about training\n", "no training metrics"),
        ("events.out.tfevents.1700000000.host", b"\x18\x00\x00\x00", "TensorBoard"),
        ("broken.log.gz", gzip.compress(b"x" * 200000)[:40], "gzip"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    result = run_cli("log", str(path))
    one_line_error(result)
    assert reason in result.stderr


def test_missing_file_and_fifo_are_one_line(tmp_path):
    one_line_error(run_cli("log", str(tmp_path / "nope.log")))
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.log"
        os.mkfifo(fifo)
        result = run_cli("log", str(fifo))
        one_line_error(result)
        assert "not a regular file" in result.stderr


def test_huge_sparse_file_is_refused_quickly(tmp_path):
    huge = tmp_path / "huge.log"
    with open(huge, "wb") as handle:
        handle.truncate(4 << 30)  # 4 GiB of zeros, sparse
    result = run_cli("log", str(huge), timeout=30)
    one_line_error(result)
    assert "binary" in result.stderr


def test_truncated_gzip_is_read_up_to_the_damage(tmp_path):
    data = (CORPUS / "mmengine_checkpoint_stalls.log").read_bytes()
    packed = gzip.compress(data)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    result = run_cli("log", str(path))
    assert result.returncode == 1, result.stderr
    assert "GD801 log-not-understood: cut.log.gz was read only in part" in result.stdout


def test_time_budget_stops_reading_and_says_so(tmp_path):
    body = (CORPUS / "mmengine_checkpoint_stalls.log").read_bytes()
    path = tmp_path / "long.log"
    path.write_bytes(body * 12)  # over two read blocks
    facts = read_log(str(path), deadline=0.0)
    assert facts["understood"]
    assert facts["stopped_early"].startswith("time limit reached")


def test_state_stays_bounded_on_a_long_series():
    series = TimeSeries()
    for step in range(1, 300_001):
        series.add(step, 0.5 + (2.0 if step % 37 == 0 else 0.0), step)
    assert len(series.sample) <= 2 * RESERVOIR
    assert len(series.chart_step) <= 2 * CHART_POINTS
    assert len(series.cand_step) <= MAX_CANDIDATES


def test_check_log_adds_the_log_findings(tmp_path):
    path = fresh("oom_other_process.txt", tmp_path)
    result = run_cli("check", "--no-plugins", "--log", path, "--select", "GD8", "-f", "json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    oom = next(f for f in doc["findings"] if f["id"] == "GD810")
    assert "PID 3817" in oom["title"]
    assert doc["facts"]["run_log"]["files"][0]["understood"] is True


def test_report_attaches_a_log_summary(tmp_path):
    path = fresh("mmengine_checkpoint_stalls.log", tmp_path)
    result = run_cli("report", "--log", path, "--budget", "20", timeout=180)
    assert result.returncode == 0, result.stderr
    assert "GD804" in result.stdout
    assert "run_log" in result.stdout


def test_tensorboard_scalars_are_read(tmp_path):
    from gpudoctor.readers.logs.tensorboard import write_record

    path = tmp_path / "events.out.tfevents.1709633472.node1.12345.0"
    with open(path, "wb") as handle:
        for step in range(10, 3001, 10):
            slow = 5.0 if step % 500 == 10 and step > 10 else 0.0
            write_record(
                handle,
                step,
                {"train/loss": 2.0 - step / 3000, "train/lr": 1e-4, "train/time": 0.3 + slow},
                1709633472.0 + step,
            )
            if step % 500 == 0:
                write_record(handle, step, {"val/loss": 1.5}, 1709633472.0 + step)
    result = run_cli("log", str(path), "-f", "json")
    doc = json.loads(result.stdout)
    item = doc["facts"]["run_log"]["files"][0]
    assert item["format"] == "tensorboard"
    assert item["run"]["points"] == 300
    stall = next(f for f in doc["findings"] if f["id"] == "GD804")
    assert "every 500 iterations, after each evaluation" in stall["title"]


def test_png_chart_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "stalls.png"
    result = run_cli("log", fresh("mmengine_checkpoint_stalls.log", tmp_path), "--chart", str(png))
    assert result.returncode == 1, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
