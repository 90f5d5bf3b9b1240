"""Bench results as pictures: terminal bars in 80 columns, Mermaid in Markdown, PNG/SVG files."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import run_cli
from gpudoctor.errors import BadInputError
from gpudoctor.probes.bench.loader import summarize
from gpudoctor.report.bench import disk_lines
from gpudoctor.report.bench import disk_markdown
from gpudoctor.report.bench import disk_series
from gpudoctor.report.bench import loader_lines
from gpudoctor.report.bench import loader_markdown
from gpudoctor.report.bench import loader_series
from gpudoctor.report.chart_file import check_chart_path


def _row(workers: int, rate: float, **extra: object) -> dict[str, object]:
    return {
        "num_workers": workers,
        "samples_per_s": rate,
        "status": "ok",
        "first_batch_s": 0.4 + workers / 10,
        "stutter": 1.3,
        "gap_p50_ms": 10.0,
        "gap_p95_ms": 14.0,
        "gap_p99_ms": 40.0,
        "peak_worker_uss_bytes": 150 << 20,
        **extra,
    }


def loader_result() -> dict[str, object]:
    return summarize(
        {
            "configs": [
                _row(0, 95.5, prefetch_factor=None),
                _row(2, 310.0, prefetch_factor=2),
                _row(4, 402.0, prefetch_factor=2, persistent_workers=True, pin_memory=True),
                _row(4, 398.0, prefetch_factor=4),
                {"num_workers": 8, "status": "hang", "error": "no batch in 60 s"},
            ],
            "hang": None,
            "source": {"kind": "synthetic"},
            "batch_size": 32,
            "start_method": "spawn",
            "cpus": 8,
            "torch": "2.8.0+cu128",
            "mode": "smart",
            "elapsed_s": 41.2,
        }
    )


DISK = {
    "path": "/data/train",
    "filesystem": {
        "fstype": "ext4",
        "source": "/dev/nvme0n1p2",
        "mount_point": "/data",
        "kind": "local disk",
        "meaning": "fast enough for most image datasets",
    },
    "files_seen": 12000,
    "bytes_seen": 3 << 30,
    "sequential": {
        "files_per_s": 5.2,
        "mb_per_s": 1850.0,
        "files": 3,
        "bytes": 1 << 30,
        "seconds": 0.58,
        "cache": "cold",
    },
    "small_files": {
        "mb_per_s": 95.0,
        "files_per_s": 820.0,
        "files": 2400,
        "mean_file_bytes": 110_000,
        "cache": "cold",
    },
}


@pytest.mark.parametrize("plain", [True, False])
def test_loader_table_and_bars_fit_80_columns(plain):
    lines = loader_lines(loader_result(), plain=plain)
    assert max(len(line) for line in lines) <= 80
    bars = [line for line in lines if ("#" if plain else "█") in line]
    assert len(bars) == 4  # every setting that ran, not the hung one
    assert any("HANG" in line for line in lines)


def test_loader_markdown_has_an_xychart_of_the_json_numbers():
    result = loader_result()
    md = loader_markdown(result)
    assert "```mermaid\nxychart-beta" in md
    assert loader_series(result) == [(0, 95.5), (2, 310.0), (4, 402.0)]
    assert 'x-axis "num_workers" ["0", "2", "4"]' in md
    assert "bar [95.5, 310.0, 402.0]" in md
    assert md.index("xychart") < md.index("| workers |")


def test_disk_text_chart_and_markdown_chart():
    lines = disk_lines(DISK, plain=True)
    assert max(len(line) for line in lines) <= 80
    assert disk_series(DISK) == [("sequential, large files", 1850.0), ("small files, random", 95.0)]
    assert "#" * 32 in "\n".join(lines)
    md = disk_markdown(DISK)
    assert "xychart-beta" in md
    assert "bar [1850.0, 95.0]" in md


def test_chart_file_needs_a_png_or_svg_name():
    with pytest.raises(BadInputError, match=r"\.png or \.svg"):
        check_chart_path("chart.txt")


def test_chart_file_without_matplotlib_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(BadInputError, match=r"pip install 'gpudoctor\[chart\]'"):
        check_chart_path("chart.png")


def test_cli_chart_with_a_bad_name_is_one_line_exit_2(tmp_path):
    (tmp_path / "a.jpg").write_bytes(os.urandom(2000))
    result = run_cli("bench", "disk", str(tmp_path), "--chart", str(tmp_path / "chart.txt"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_cli_writes_the_chart_file(tmp_path, suffix):
    pytest.importorskip("matplotlib")
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        (data / f"{i}.jpg").write_bytes(os.urandom(20_000))
    chart = tmp_path / f"disk{suffix}"
    result = run_cli("bench", "disk", str(data), "--seconds", "0.5", "--chart", str(chart))
    assert result.returncode == 0, result.stderr
    head = chart.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in chart.read_bytes()
