"""The short-period detector behind GD805's "input-bound from the speed alone"."""

from __future__ import annotations

import random

from gpudoctor.readers.logs.series import PeakRhythm
from gpudoctor.readers.logs.series import TimeSeries


def smoothed(times: list[float], alpha: float = 0.3) -> list[float]:
    """What a progress bar prints: an exponential average of the time per iteration."""
    out, avg = [], 0.0
    for n, value in enumerate(times, start=1):
        avg = alpha * value + (1 - alpha) * avg
        out.append(avg / (1 - (1 - alpha) ** n))
    return out


def workers_pattern(workers: int, n: int = 400, stall: float = 2.0) -> list[float]:
    rng = random.Random(workers)
    return [
        0.4 * (1 + rng.uniform(-0.03, 0.03)) + (stall if i % workers == 0 else 0) for i in range(n)
    ]


def rhythm_of(values: list[float], chunk: int = 37) -> dict | None:  # type: ignore[type-arg]
    rhythm = PeakRhythm()
    steps = list(range(1, len(values) + 1))
    for at in range(0, len(values), chunk):  # fed in uneven batches, as the readers do
        rhythm.extend(steps[at : at + chunk], values[at : at + chunk])
    return rhythm.period()


def test_raw_times_with_a_slow_step_every_n_give_the_period():
    for workers in (2, 3, 4, 8, 16):
        found = rhythm_of(workers_pattern(workers))
        assert found is not None
        assert found["period"] == workers


def test_a_smoothed_rate_keeps_the_rhythm():
    found = rhythm_of(smoothed(workers_pattern(6)))
    assert found is not None
    assert found["period"] == 6


def test_noise_and_single_stalls_give_no_period():
    rng = random.Random(1)
    jitter = [0.3 * (1 + rng.uniform(-0.05, 0.05)) for _ in range(5000)]
    assert rhythm_of(jitter) is None
    assert rhythm_of(smoothed(jitter)) is None
    lumpy = [0.3 * rng.lognormvariate(0, 0.4) for _ in range(5000)]  # heavy but not periodic
    assert rhythm_of(lumpy) is None
    jitter[1000] = jitter[3000] = 3.0
    assert rhythm_of(jitter) is None


def test_a_long_period_is_not_a_worker_rhythm():
    values = [0.3 + (3.0 if i % 500 == 0 else 0.0) for i in range(20000)]
    assert rhythm_of(values) is None


def test_coarse_windows_are_not_fed_to_the_detector():
    series = TimeSeries()
    values = workers_pattern(4, n=400)
    series.extend(list(range(50, 50 * 401, 50)), values, list(range(400)))
    assert series.rhythm.peaks == 0


def bar_log(path, times: list[float], head: bytes) -> str:  # type: ignore[no-untyped-def]
    lines = []
    for n, per_it in enumerate(smoothed(times), start=1):
        lines.append(f"train: {n}/{len(times)} [00:01<00:09, {per_it:.2f}s/it]")
    path.write_bytes(head + "\r".join(lines).encode() + b"\n")
    return str(path)


def gd805(path: str) -> list[str]:
    from gpudoctor.facts.model import Facts
    from gpudoctor.readers.logs import read_logs
    from gpudoctor.registry import load_registry
    from gpudoctor.runner import run_checks

    specs = load_registry(plugins=False).select(["GD805"])
    found = run_checks(Facts({"run_log": read_logs([path])}), specs)
    return [f.title for f in found if f.severity.value == "warn"]


def test_stated_workers_are_read_from_each_config_layout(tmp_path):
    times = workers_pattern(4)
    for head in (
        b"train_dataloader = dict(\n    batch_size=8,\n    num_workers=4,\n",
        b"DATALOADER:\n  NUM_WORKERS: 4\n",
        b"Namespace(arch='resnet18', workers=4, world_size=-1)\n",
        b"dataloader_num_workers=4,\n",
    ):
        titles = gd805(bar_log(tmp_path / "run.log", times, head))
        assert len(titles) == 1, head
        assert "round of 4 DataLoader workers" in titles[0]


def test_a_rhythm_the_stated_workers_do_not_explain_is_not_called_input_bound(tmp_path):
    path = bar_log(tmp_path / "run.log", workers_pattern(4), b"num_workers=3\n")
    assert gd805(path) == []


def test_titles_use_the_right_ordinal(tmp_path):
    for workers, word in ((2, "2nd"), (3, "3rd"), (4, "4th"), (12, "12th"), (22, "22nd")):
        head = f"num_workers={workers}\n".encode()
        titles = gd805(
            bar_log(tmp_path / "run.log", workers_pattern(workers, n=40 * workers), head)
        )
        assert len(titles) == 1, workers
        assert f"every {word} iteration" in titles[0]
