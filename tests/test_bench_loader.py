"""gpudoctor bench loader: the real CPU DataLoader on small datasets, hangs, bad input."""

from __future__ import annotations

import json
import textwrap

import pytest

from gpudoctor.errors import BadInputError
from gpudoctor.probes.bench.loader import LoaderBenchRequest
from gpudoctor.probes.bench.loader import aggregate
from gpudoctor.probes.bench.loader import climb_should_stop
from gpudoctor.probes.bench.loader import confirm_candidates
from gpudoctor.probes.bench.loader import gap_stats
from gpudoctor.probes.bench.loader import needs_more_rounds
from gpudoctor.probes.bench.loader import pick_stability
from gpudoctor.probes.bench.loader import recommend
from gpudoctor.probes.bench.loader import run_loader_bench
from gpudoctor.probes.bench.loader import summarize
from gpudoctor.probes.bench.loader import worker_candidates

pytest.importorskip("torch")

USER_MODULE = textwrap.dedent(
    '''
    import time

    import torch
    from torch.utils.data import Dataset


    class SlowDataset(Dataset):
        """Every sample waits 10 ms, like a slow decode or a remote read."""

        def __len__(self):
            return 10_000

        def __getitem__(self, index):
            time.sleep(0.01)
            return torch.full((4,), float(index))


    class BlocksWhenPickled(SlowDataset):
        """Sending it to a spawned worker never finishes (a stand-in for a spawn deadlock)."""

        def __getstate__(self):
            time.sleep(3600)
            return {}


    class FastDataset(Dataset):
        """Tiny samples: the cost is moving batches between processes, so worker counts
        measure close to each other and the pick must be confirmed by repeats."""

        def __len__(self):
            return 10_000

        def __getitem__(self, index):
            return torch.full((4,), float(index))


    def slow():
        return SlowDataset()


    def fast():
        return FastDataset()


    def pickles_forever():
        return BlocksWhenPickled()


    def init_forever(worker_id):
        time.sleep(3600)


    def raises():
        raise ValueError("the dataset path is not set")


    def not_a_dataset():
        return [1, 2, 3]

    print("importing the user module prints to stdout")
    '''
)


@pytest.fixture
def user_module(tmp_path):
    (tmp_path / "userdata.py").write_text(USER_MODULE)
    return tmp_path


# -- pure decisions -------------------------------------------------------------------------


def test_worker_candidates():
    assert worker_candidates(1) == [0, 1]
    assert worker_candidates(2) == [0, 1, 2]
    assert worker_candidates(6) == [0, 1, 2, 4, 6]
    assert worker_candidates(8) == [0, 1, 2, 4, 8]


def _row(workers, sps, **extra):
    return {"num_workers": workers, "samples_per_s": sps, "status": "ok", **extra}


def test_recommend_takes_fewest_workers_within_tolerance():
    rows = [_row(0, 100), _row(2, 390), _row(4, 400), _row(8, 405)]
    assert recommend(rows)["num_workers"] == 2
    assert recommend([_row(0, 100), _row(2, 300), _row(4, 400)])["num_workers"] == 4
    assert recommend([{"num_workers": 1, "status": "hang"}]) is None


def test_climb_stops_on_a_plateau_only():
    assert not climb_should_stop([100, 180])
    assert not climb_should_stop([100, 180, 300])
    assert climb_should_stop([100, 180, 182])


def test_gap_stats_scores_stalls():
    even = gap_stats([0.1] * 100)
    assert even["stutter"] == 1.0
    stalls = gap_stats([0.01] * 90 + [1.0] * 10)
    assert stalls["gap_p50_ms"] == 10.0
    assert stalls["gap_p99_ms"] == 1000.0
    assert stalls["stutter"] > 3


def test_summarize_flags_loader_bound_default():
    result = summarize({"configs": [_row(0, 100), _row(2, 200), _row(4, 205)]})
    assert result["recommended"]["num_workers"] == 2
    assert result["loader_bound_at_default"] is True
    assert result["speedup_vs_main_process"] == 2.0


# -- the real DataLoader --------------------------------------------------------------------


def test_slow_getitem_is_loader_bound_and_more_workers_are_recommended(cli, user_module):
    proc = cli(
        "bench",
        "loader",
        "--dataset",
        "userdata:slow",
        "--batch-size",
        "4",
        "--seconds",
        "0.6",
        "--workers",
        "0,1,2",
        "-f",
        "json",
        cwd=user_module,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["hang"] is None
    assert result["loader_bound_at_default"] is True
    assert result["recommended"]["num_workers"] >= 1
    zero = next(c for c in result["configs"] if c["num_workers"] == 0)
    assert result["recommended"]["samples_per_s"] > 1.3 * zero["samples_per_s"]
    assert result["source"] == {"kind": "factory", "spec": "userdata:slow"}


def test_text_report_has_bar_chart_and_recommendation(cli, user_module):
    proc = cli(
        "bench",
        "loader",
        "--dataset",
        "userdata:slow",
        "--batch-size",
        "4",
        "--seconds",
        "0.3",
        "--workers",
        "0,2",
        cwd=user_module,
        timeout=120,
        env={"NO_COLOR": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Recommended: DataLoader(..., num_workers=2" in proc.stdout
    assert "#" in proc.stdout  # the throughput bars
    assert "bottleneck" in proc.stdout


def test_worker_init_that_never_returns_is_reported_within_the_timeout(cli, user_module):
    proc = cli(
        "bench",
        "loader",
        "--dataset",
        "userdata:slow",
        "--worker-init",
        "userdata:init_forever",
        "--batch-size",
        "4",
        "--seconds",
        "0.3",
        "--workers",
        "0,1",
        "--startup-timeout",
        "2",
        "-f",
        "json",
        cwd=user_module,
        timeout=90,
    )
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["hang"]["num_workers"] == 1
    assert result["hang"]["waited_s"] == 2
    # The main-process setting was still measured, and is what remains usable.
    assert result["recommended"]["num_workers"] == 0


def test_spawned_worker_that_never_starts_is_killed_by_the_watchdog(user_module):
    request = LoaderBenchRequest(
        source={"kind": "factory", "spec": "userdata:pickles_forever"},
        batch_size=4,
        seconds=0.2,
        workers=[1],
        start_method="spawn",
        startup_timeout=1.0,
        watchdog_margin_s=1.0,
        cwd=str(user_module),
    )
    result = run_loader_bench(request)
    assert result["hang"]["num_workers"] == 1
    assert "never finished" in result["hang"]["message"]
    assert result["recommended"] is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dataset", "userdata:raises"], "raised ValueError: the dataset path is not set"),
        (["--dataset", "userdata:not_a_dataset"], "returned list, not a torch.utils.data.Dataset"),
        (["--dataset", "userdata"], "expected module:function"),
        (["--dataset", "nosuchmodule:make"], "cannot import nosuchmodule"),
        (["--dataset", "userdata:missing"], "has no function 'missing'"),
        (["--images", "nowhere"], "no such file or directory"),
        (["--images", "userdata.py"], "is a file"),
    ],
)
def test_bad_dataset_is_one_line_exit_2(cli, user_module, args, expected):
    proc = cli("bench", "loader", *args, cwd=user_module, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gpudoctor: error: ")
    assert expected in lines[0]


def test_images_folder_without_images_is_bad_input(tmp_path):
    (tmp_path / "notes.txt").write_text("no images")
    with pytest.raises(BadInputError, match="no image files"):
        run_loader_bench(LoaderBenchRequest(source={"kind": "images", "dir": str(tmp_path)}))


def test_images_folder_is_decoded(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    for i in range(4):
        pil.new("RGB", (320, 240), (i * 40, 100, 200)).save(tmp_path / f"{i}.jpg")
    result = run_loader_bench(
        LoaderBenchRequest(
            source={"kind": "images", "dir": str(tmp_path)},
            batch_size=2,
            seconds=0.3,
            workers=[0],
        )
    )
    assert result["source"] == {"kind": "images", "dir": str(tmp_path), "images": 4}
    row = result["configs"][0]
    assert row["status"] == "ok"
    assert row["samples"] >= 2


def test_markdown_and_text_charts_scale_bars_to_the_best():
    from gpudoctor.report.bench import bar
    from gpudoctor.report.bench import loader_lines
    from gpudoctor.report.bench import loader_markdown

    result = summarize(
        {
            "configs": [_row(0, 100, prefetch_factor=None), _row(2, 400, prefetch_factor=2)],
            "hang": None,
            "source": {"kind": "synthetic"},
        }
    )
    md = loader_markdown(result)
    assert "| workers | prefetch |" in md
    assert f"`{bar(400, 400, 20)}`" in md
    assert len(bar(400, 400, 20)) == 20
    assert len(bar(100, 400, 20)) == 5
    text = "\n".join(loader_lines(result, plain=True))
    assert "#" * 16 in text
    assert "Recommended: DataLoader(..., num_workers=2" in text


# -- repeats, spread and a stable pick (a real noisy run measured 109-451 samples/s for one
# -- setting and changed its pick run to run: 0, 1, 2, 2, 2, 2, 1 workers) ----------------


def _rep(workers, sps, round_no):
    return {**_row(workers, sps), "phase": "repeat", "round": round_no}


def test_aggregate_reports_median_and_spread():
    rows = aggregate([_row(2, 451), _rep(2, 109, 1), _rep(2, 300, 2), _row(0, 100)])
    two = next(r for r in rows if r["num_workers"] == 2)
    assert two["samples_per_s"] == 300
    assert (two["samples_per_s_min"], two["samples_per_s_max"], two["runs"]) == (109, 451, 3)
    assert two["spread"] == round((451 - 109) / 300, 3)


def test_unstable_pick_is_said_to_be_unstable():
    picks = [(0, 400), (1, 400), (2, 400), (2, 400), (1, 400), (0, 400)]
    rows = []
    for number, (winner, sps) in enumerate(picks, start=1):
        for workers in (0, 1, 2):
            rows.append(_rep(workers, sps if workers == winner else sps / 2, number))
    state = pick_stability(rows)
    assert state["stable"] is False
    assert [p[0] for p in state["picks"]] == [0, 1, 2, 2, 1, 0]
    assert needs_more_rounds(rows) is False  # the round budget is spent
    assert needs_more_rounds(rows[:9]) is True  # three rounds, three different picks


def test_stable_pick_stops_after_the_minimum_rounds():
    rows = [_rep(w, 300 if w == 2 else 150, n) for n in (1, 2, 3) for w in (1, 2)]
    assert pick_stability(rows)["stable"] is True
    assert needs_more_rounds(rows) is False
    assert needs_more_rounds(rows[:4]) is True


def test_the_fastest_settings_are_measured_again_however_far_apart():
    rows = [_row(0, 100), _row(1, 190), _row(2, 3132), _row(3, 227), _row(4, 390)]
    assert [r["num_workers"] for r in confirm_candidates(rows)] == [2, 4, 3, 1]


def test_close_settings_are_repeated_and_epoch_restart_is_timed_at_the_epoch_end(cli, user_module):
    proc = cli(
        "bench",
        "loader",
        "--dataset",
        "userdata:fast",
        "--batch-size",
        "4",
        "--seconds",
        "0.4",
        "--workers",
        "2,3",
        "-f",
        "json",
        cwd=user_module,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    repeats = [c for c in result["configs"] if c.get("phase") == "repeat"]
    assert {c["num_workers"] for c in repeats} == {2, 3}
    assert result["stability"]["rounds"] >= 3
    assert result["stability"]["picks"]
    restarts = [c for c in result["configs"] if c.get("phase") == "restart"]
    assert {bool(c["persistent_workers"]) for c in restarts} == {True, False}
    assert all(c["restart_at"] == "epoch boundary" for c in restarts if c["status"] == "ok")
    assert all(c["epoch_batches"] >= 4 for c in restarts if c["status"] == "ok")
