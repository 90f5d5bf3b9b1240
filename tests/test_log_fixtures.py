"""gpudoctor log on the corpus: every fixture gives exactly the findings it names."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import REPO
from gpudoctor.facts.model import Facts
from gpudoctor.readers.logs import read_logs
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

CORPUS = REPO / "tests" / "corpus" / "logs"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
SPECS = [s for s in load_registry(plugins=False).select(["GD8"]) if "watch" not in s.tags]


def fresh_copy(name: str, tmp_path: Path) -> Path:
    """The fixture, copied so that its modification time is now (a run still being written)."""
    target = tmp_path / name
    shutil.copyfile(CORPUS / name, target)
    return target


def findings(*paths: Path, configs: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    facts = Facts({"run_log": read_logs([str(p) for p in paths], configs=configs)})
    return run_checks(facts, SPECS)


def above_pass(found) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f.check_id: f.severity.value for f in found if f.severity.value != "pass"}


def test_every_fixture_is_listed_in_sources_and_expected():
    sources = (CORPUS / "SOURCES.md").read_text()
    names = {p.name for p in CORPUS.iterdir() if p.suffix not in {".py", ".md"}}
    names.discard("expected.json")
    assert names == set(EXPECTED)
    for name in names:
        assert f"| {name} |" in sources, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gives_exactly_its_expected_findings(name, tmp_path):
    assert above_pass(findings(fresh_copy(name, tmp_path))) == EXPECTED[name]


@pytest.mark.parametrize(
    "name",
    ["mmengine_healthy_epochs.log", "detr_log.txt", "lightning_metrics.csv", "tqdm_steady.log"],
)
def test_healthy_logs_produce_nothing_above_info(name, tmp_path):
    worst = max(f.severity.rank for f in findings(fresh_copy(name, tmp_path)))
    assert worst <= 2  # info


def test_checkpoint_stalls_name_the_period_and_the_checkpoint(tmp_path):
    found = findings(fresh_copy("mmengine_checkpoint_stalls.log", tmp_path))
    stall = next(f for f in found if f.check_id == "GD804")
    assert "every 5,000 iterations" in stall.title
    assert "checkpoint" in stall.title
    texts = " ".join(e.value for e in stall.evidence)
    assert "checkpoint interval 5,000" in texts
    assert "7 of 7 checkpoint events" in texts
    assert any("max_keep_ckpts" in r.text for r in stall.remedies)


def test_config_file_supplies_the_interval_the_log_does_not_state(tmp_path):
    log = fresh_copy("mmengine_checkpoint_stalls.log", tmp_path)
    text = log.read_text().splitlines(keepends=True)
    log.write_text(
        "".join(
            line
            for line in text
            if "CheckpointHook" not in line and "Saving checkpoint" not in line
        )
    )
    without = next(f for f in findings(log) if f.check_id == "GD804")
    assert "checkpoint" not in without.title
    assert "every 5,000 iterations" in without.title  # the period, cause unknown
    config = tmp_path / "config.py"
    config.write_text(
        "default_hooks = dict(\n"
        "    checkpoint=dict(type='CheckpointHook', interval=5000, by_epoch=False))\n"
    )
    withcfg = next(f for f in findings(log, configs=(str(config),)) if f.check_id == "GD804")
    assert "after each checkpoint save" in withcfg.title
    assert "config.py line 2" in " ".join(e.value for e in withcfg.evidence)


def test_eval_booked_as_data_time_is_blamed_on_evaluation(tmp_path):
    found = findings(fresh_copy("mmengine_eval_booked_as_data_time.log", tmp_path))
    stall = next(f for f in found if f.check_id == "GD804")
    assert "every 2,000 iterations, after each evaluation" in stall.title
    assert not any(f.check_id == "GD805" and f.is_problem for f in found)


def test_oom_names_the_other_process_and_offers_kill_stale(tmp_path):
    found = findings(fresh_copy("oom_other_process.txt", tmp_path))
    oom = next(f for f in found if f.check_id == "GD810")
    assert "PID 3817" in oom.title
    assert "5.1 GiB" in oom.title
    assert oom.fix == "kill-stale"


def test_reserved_but_unallocated_is_fragmentation(tmp_path):
    oom = next(
        f for f in findings(fresh_copy("oom_fragmentation.txt", tmp_path)) if f.check_id == "GD810"
    )
    assert "fragmentation" in oom.title
    assert oom.fix is None
    assert any("expandable_segments:True" in c for r in oom.remedies for c in r.commands)


def test_container_pid_of_the_failing_process_is_not_a_holder(tmp_path):
    oom = next(
        f for f in findings(fresh_copy("oom_container_self.txt", tmp_path)) if f.check_id == "GD810"
    )
    assert "other processes" not in oom.title
    assert "fragmentation" in oom.title
    assert any("failing process itself" in e.value for e in oom.evidence)


def test_appended_runs_judge_the_last_run(tmp_path):
    found = findings(fresh_copy("mmengine_appended_runs.log", tmp_path))
    summary = next(f for f in found if f.check_id == "GD802")
    assert any(e.label == "runs in this file" and e.value.startswith("2") for e in summary.evidence)
    oom = next(f for f in found if f.check_id == "GD810")
    assert "(in run 1 of 2)" in oom.title


def test_nan_first_step_and_warmup(tmp_path):
    nan = next(
        f
        for f in findings(fresh_copy("detectron2_nan_metrics.json", tmp_path))
        if f.check_id == "GD806"
    )
    assert "iteration 1,840" in nan.title
    assert "warm-up" in nan.title


def test_gzip_gives_the_same_findings(tmp_path):
    plain = fresh_copy("mmengine_checkpoint_stalls.log", tmp_path)
    packed = tmp_path / "run.log.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert above_pass(findings(packed)) == above_pass(findings(plain))


def test_a_stopped_run_says_where_and_how_long_ago(tmp_path):
    log = fresh_copy("mmengine_checkpoint_stalls.log", tmp_path)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[: len(lines) // 2]))
    old = log.stat().st_mtime - 3 * 3600
    os.utime(log, (old, old))
    stopped = next(f for f in findings(log) if f.check_id == "GD803")
    assert stopped.severity.value == "warn"
    assert "the run stopped at iteration" in stopped.title
    assert any(e.label == "file last written" and "h ago" in e.value for e in stopped.evidence)


def test_one_unreadable_file_among_several_is_a_finding(tmp_path):
    good = fresh_copy("detr_log.txt", tmp_path)
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"PK\x03\x04\x00\x00" * 100)
    found = findings(good, binary)
    bad = next(f for f in found if f.check_id == "GD801")
    assert bad.severity.value == "warn"
    assert "binary" in bad.title


def test_nan_after_amp_overflows_and_growing_grad_norm(tmp_path):
    lines = []
    for it in range(50, 3001, 50):
        grad = 3.0 if it < 2500 else 3.0 * 4 ** ((it - 2450) / 50)
        loss = "nan" if it >= 2900 else f"{1.0 - it / 10000:.4f}"
        lines.append(
            f"2024/03/05 10:00:00 - mmengine - INFO - Iter(train) [{it:>4}/3000]  lr: 1.0000e-02  "
            f"eta: 0:10:00  time: 0.3000  data_time: 0.0100  memory: 2000  grad_norm: {grad:.4f}  "
            f"loss: {loss}\n"
        )
        if it >= 2700:
            lines.append(
                "Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 1024.0\n"
            )
    log = tmp_path / "amp.log"
    log.write_text("".join(lines))
    nan = next(f for f in findings(log) if f.check_id == "GD806")
    assert "iteration 2,900" in nan.title
    assert "after mixed-precision overflows" in nan.title
    assert "with a growing gradient norm" in nan.title
    assert any(e.label == "AMP overflow messages before it" for e in nan.evidence)
