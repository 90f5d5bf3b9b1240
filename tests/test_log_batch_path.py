"""mmengine metrics lines are parsed in batches by one pattern built from the first line;
whatever the lines hold, the batches must agree with the line-by-line reading."""

from __future__ import annotations

import random

import pytest

from gpudoctor.readers.logs import read_logs
from gpudoctor.readers.logs import source
from gpudoctor.readers.logs import text


def metrics_line(step: int, rng: random.Random, total: int = 90000) -> str:
    eta = "1 day, 2:03:04" if step < 400 else "23:10:09"
    fields = [
        "base_lr: 1.0000e-04 lr: 1.0000e-04",
        f"eta: {eta}",
        f"time: {0.4 + rng.random() / 10:.4f}",
        f"data_time: {rng.random() / 50:.4f}",
        "memory: 10234",
        f"grad_norm: {rng.uniform(1, 9):.4f}",
        f"loss: {rng.uniform(0.5, 1.5):.4f}",
        "decode.loss_ce: 0.6997",
    ]
    return f"2024/03/05 10:11:12 - mmengine - INFO - Iter(train) [{step:>6}/{total}]  " + "  ".join(
        fields
    )


def twists(line: str, step: int, rng: random.Random) -> str:
    """The oddities real logs have: each in a few lines only."""
    roll = rng.random()
    if roll < 0.02:
        return line.replace("loss: ", "loss: nan  loss_was: ", 1)  # extra field mid-line
    if roll < 0.04:
        return line.replace("memory: 10234  ", "")  # a field that comes and goes
    if roll < 0.05:
        return line + "  loss: 0.5000"  # a metric printed twice
    if roll < 0.06:
        return line.replace("time: ", "time: tensor(", 1)  # not a number
    if roll < 0.07:
        return line + "  Iter(train) [     1/9]"  # two markers on one line
    return line


def write_log(path, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    lines, step = [], 0
    for i in range(3000):
        step += 10
        if i == 1700:
            step = 10  # a restart appended to the same file
            lines.append("2024/03/05 11:00:00 - mmengine - INFO - System environment:")
        line = metrics_line(step, rng)
        lines.append(twists(line, step, rng) if 600 <= i < 1200 else line)
        if step % 5000 == 0:
            lines.append(
                f"2024/03/05 10:12:00 - mmengine - INFO - Saving checkpoint at {step} iterations"
            )
    path.write_text("\n".join(lines) + "\n")


def rounded(value: object) -> object:
    """Sums taken batch-wise and point-wise differ in the last bits; nothing else may."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def summary(path) -> object:  # type: ignore[no-untyped-def]
    facts = read_logs([str(path)])
    for item in facts["files"]:
        item.pop("seconds", None)
    facts.pop("seconds", None)
    facts.pop("analysed_at", None)
    return rounded(facts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_agree_with_the_line_by_line_reading(tmp_path, monkeypatch, seed):
    path = tmp_path / "20240305_101112.log"
    write_log(path, seed)
    parsed_in_batches = []
    batch = text.TextParser._mmengine_batch

    def spy(self, numbers, lines):  # type: ignore[no-untyped-def]
        steps = batch(self, numbers, lines)
        parsed_in_batches.append(steps is not None)
        return steps

    monkeypatch.setattr(source, "BLOCK", 16384)  # many blocks and batches in a small file
    monkeypatch.setattr(text, "BATCH_LINES", 64)
    monkeypatch.setattr(text.TextParser, "_mmengine_batch", spy)
    batched = summary(path)
    assert any(parsed_in_batches)
    assert not all(parsed_in_batches)  # the twisted part went line by line
    monkeypatch.setattr(text.TextParser, "_batch_layout", lambda self, line: None)
    assert summary(path) == batched


def test_the_batch_pattern_captures_only_the_metrics():
    parser = text.TextParser()
    layout = parser._batch_layout(metrics_line(50, random.Random(0)).encode())
    assert layout is not None
    pattern, slots = layout
    assert [text._LAYOUT_KEYS[s] for s in slots] == [
        b"lr",
        b"time",
        b"data_time",
        b"grad_norm",
        b"loss",
    ]
    assert pattern.groups == 6  # the step and five metrics


def test_a_later_batch_whose_eta_has_blanks_gets_its_own_pattern():
    """The first batch's eta has no blank (23:10:09), a later one's has (1 day, ...): the
    cached pattern must not be reused for it, or every later batch falls back."""
    parser = text.TextParser()
    late = metrics_line(500, random.Random(0)).encode()  # eta 23:10:09
    early = metrics_line(50, random.Random(0)).encode()  # eta 1 day, 2:03:04
    late_layout = parser._batch_layout(late)
    early_layout = parser._batch_layout(early)
    assert late_layout is not None
    assert early_layout is not None
    assert late_layout[0].pattern != early_layout[0].pattern
    assert early_layout[0].match(early, early.find(b"(train)")) is not None


BLANK_TWISTS = [
    ("time: ", "time: \t"),  # a tab before a value
    ("  data_time", "\t  data_time"),  # a tab after one
    ("  data_time", ",  data_time"),  # a comma after one
    ("  decode.loss_ce: 0.6997", ","),  # after the last one
    ("  decode.loss_ce: 0.6997", "\t"),
]


@pytest.mark.parametrize(("old", "new"), BLANK_TWISTS)
def test_tabs_and_commas_next_to_values_read_as_line_by_line(tmp_path, monkeypatch, old, new):
    """The batch pattern's values end at a blank only; what it reads must still agree."""
    rng = random.Random(4)
    lines = [metrics_line(step, rng) for step in range(10, 30000, 10)]
    lines = [line.replace(old, new, 1) if rng.random() < 0.01 else line for line in lines]
    path = tmp_path / "20240305_101112.log"
    path.write_text("\n".join(lines) + "\n")
    assert new in "".join(lines)
    monkeypatch.setattr(source, "BLOCK", 16384)
    monkeypatch.setattr(text, "BATCH_LINES", 64)
    batched = summary(path)
    monkeypatch.setattr(text.TextParser, "_batch_layout", lambda self, line: None)
    assert summary(path) == batched


def test_evaluations_in_a_batch_read_line_by_line_follow_their_step(tmp_path, monkeypatch):
    """An evaluation line names no step: it is placed after the metrics line before it,
    whether its batch was parsed at once or line by line."""
    rng = random.Random(6)
    lines = []
    for step in range(10, 20000, 10):
        lines.append(metrics_line(step, rng))
        if step % 500 == 0:
            lines.append("2024/03/05 10:13:00 - mmengine - INFO - Iter(val) [50/50]  mIoU: 40.0")
    path = tmp_path / "20240305_101112.log"
    path.write_text("\n".join(lines) + "\n")
    batched = summary(path)
    assert batched["files"][0]["run"]["events"]["evaluation"]["count"] == 39
    monkeypatch.setattr(text.TextParser, "_batch_layout", lambda self, line: None)
    assert summary(path) == batched
