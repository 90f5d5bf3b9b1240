"""The training probe: when it runs, the start method it predicts, what it records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpudoctor.probes import ProbeContext
from gpudoctor.probes import all_probes
from gpudoctor.probes.training import count_images
from gpudoctor.probes.training import default_start_method
from gpudoctor.probes.training import probe_training

TRAINING = Path(__file__).resolve().parents[1] / "fixtures" / "training"


@pytest.mark.parametrize(
    ("platform", "version", "method"),
    [
        ("linux", (3, 11), "fork"),
        ("linux", (3, 13), "fork"),
        ("linux", (3, 14), "forkserver"),
        ("win32", (3, 11), "spawn"),
        ("darwin", (3, 12), "spawn"),
    ],
)
def test_default_start_method(platform, version, method):
    assert default_start_method(platform, version)[0] == method


def test_probe_runs_only_with_scripts_or_configs():
    (spec,) = [s for s in all_probes() if s.section == "training"]
    assert not spec.enabled(ProbeContext(options={"scripts": [], "configs": []}))
    assert spec.enabled(ProbeContext(options={"configs": ["a.yaml"]}))


def test_probe_records_sources_and_machine(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ("1.jpg", "a/2.PNG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    ctx = ProbeContext(
        options={
            "scripts": [str(TRAINING / "train_guarded.py")],
            "configs": [str(TRAINING / "yolo_ram_cache.yaml")],
            "data": str(tmp_path),
        }
    )
    facts = probe_training(ctx)
    json.dumps(facts)
    assert [s["kind"] for s in facts["sources"]] == ["script", "config"]
    assert facts["start_method"]["default"] == "fork"  # this Linux machine, Python < 3.14
    assert facts["machine"]["cpus_usable"] >= 1
    assert facts["machine"]["commit"] is None  # Windows only
    assert facts["data"] == {"path": str(tmp_path), "images": 2, "complete": True}


def test_count_images_of_a_missing_folder_is_incomplete(tmp_path):
    assert count_images(str(tmp_path / "missing"))["complete"] is False


def _large_script(tmp_path, functions: int) -> Path:
    body = [
        f"def step_{i}(x):\n    y = x * {i} + 1\n    return [v for v in range(y) if v % 3]\n"
        for i in range(functions)
    ]
    body.append(
        "from torch.utils.data import DataLoader\n"
        "loader = DataLoader(ds, num_workers=2, collate_fn=lambda b: b)\n"
        "for batch in loader:\n    pass\n"
    )
    path = tmp_path / "generated_train.py"
    path.write_text("\n".join(body))
    return path


def test_large_script_is_read_in_a_child_within_the_bound(tmp_path):
    from gpudoctor.probes.training import IN_PROCESS_BYTES
    from gpudoctor.probes.training import analyse_file

    path = _large_script(tmp_path, 4000)
    assert path.stat().st_size > IN_PROCESS_BYTES
    result = analyse_file(str(path), "script", 60.0)
    assert result["understood"] is True
    assert result["unpicklable"][0]["kind"] == "lambda"
    assert result["worker_starts"]


def test_a_slow_read_is_a_file_not_analysed_not_a_timed_out_probe(tmp_path):
    from gpudoctor.probes.training import analyse_file

    path = _large_script(tmp_path, 4000)
    result = analyse_file(str(path), "script", 0.01)
    assert result["understood"] is False
    assert "took longer than" in result["reason"]
