"""GD601-GD610 on training facts built from the real readers and the fixture files."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_facts
from conftest import run_cli
from gpudoctor.readers.training_config import analyse_config
from gpudoctor.readers.training_script import analyse_script
from gpudoctor.readers.training_script import analyse_source
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

TRAINING = Path(__file__).resolve().parents[1] / "fixtures" / "training"
GiB = 1024**3


def training(*sources, default="fork", platform="linux", data=None, commit=None):
    return {
        "sources": list(sources),
        "start_method": {
            "default": default,
            "why": "test",
            "python": "3.11.7",
            "platform": platform,
        },
        "machine": {"cpus_logical": 8, "cpus_usable": 8, "commit": commit},
        "data": data,
    }


def findings(check_id, **overrides):
    registry = load_registry(plugins=False)
    found = run_checks(make_facts(**overrides), registry.select([check_id]), probe_errors=False)
    return [f for f in found if f.severity.value not in ("pass", "skip")]


def test_unguarded_script_fails_on_spawn_platforms_with_the_lines_to_wrap():
    source = analyse_script(TRAINING / "train_unguarded.py")
    (finding,) = findings(
        "GD601", training=training(source, default="spawn", platform="win32"), host__kind="windows"
    )
    assert finding.severity.value == "fail"
    assert "lines 27-43" in finding.title
    assert any(
        e.value == "for epoch in range(3):" and e.source.endswith(":37") for e in finding.evidence
    )


def test_unguarded_script_is_a_platform_warning_under_fork():
    source = analyse_script(TRAINING / "train_unguarded.py")
    (finding,) = findings("GD601", training=training(source))
    assert finding.severity.value == "warn"
    assert "breaks on Windows, macOS" in finding.title


def test_forkserver_default_of_python_314_counts_as_spawn():
    source = analyse_script(TRAINING / "train_unguarded.py")
    (finding,) = findings("GD601", training=training(source, default="forkserver"))
    assert finding.severity.value == "fail"


def test_guarded_script_and_zero_workers_pass():
    guarded = analyse_script(TRAINING / "train_guarded.py")
    zero = analyse_source(
        "from torch.utils.data import DataLoader\nfor b in DataLoader([1]):\n    pass\n", "zero.py"
    )
    assert findings("GD601", training=training(guarded, zero, default="spawn")) == []


def test_explicit_fork_context_in_the_script_wins_over_the_default():
    source = analyse_source(
        "import multiprocessing as mp\nfrom torch.utils.data import DataLoader\n"
        "loader = DataLoader([1], num_workers=2, multiprocessing_context='fork')\n"
        "for b in loader:\n    pass\n",
        "ctx.py",
    )
    (finding,) = findings("GD601", training=training(source, default="spawn"))
    assert finding.severity.value == "warn"


def test_lambda_collate_fails_under_spawn_with_its_line():
    source = analyse_script(TRAINING / "train_lambda_collate.py")
    (finding,) = findings("GD602", training=training(source, default="spawn"))
    assert finding.severity.value == "fail"
    assert "collate_fn (lambda, line 29)" in finding.title


def test_persistent_workers_without_workers_is_invalid():
    source = analyse_config(TRAINING / "rtdetr_r50vd_coco.yml")
    (finding,) = findings("GD603", training=training(source))
    assert finding.severity.value == "fail"
    assert "val_dataloader: persistent_workers" in finding.title


def test_workers_above_cpus_use_the_cgroup_quota():
    source = analyse_config(TRAINING / "rtdetr_r50vd_coco.yml")
    cpus = {"logical": 32, "usable": 32, "cgroup_quota": 4.0}
    (finding,) = findings("GD604", training=training(source), host__cpus=cpus)
    assert "16 DataLoader workers on 4 usable CPUs" in finding.title


def test_windows_commit_budget_names_the_safe_worker_count():
    source = analyse_config(TRAINING / "mmdet_retinanet_persistent.py")
    commit = {"limit_bytes": 40 * GiB, "available_bytes": 30 * GiB, "source": "test"}
    ok = findings("GD605", training=training(source, commit=commit), host__kind="windows")
    assert ok == []  # 12 workers x 2 GiB fit in 30 GiB - 4 GiB
    commit["available_bytes"] = 12 * GiB
    (finding,) = findings("GD605", training=training(source, commit=commit), host__kind="windows")
    assert finding.severity.value == "fail"
    assert any(e.label == "largest safe worker count" and e.value == "4" for e in finding.evidence)


def test_small_shm_in_a_container_fails_for_big_batches():
    source = analyse_config(TRAINING / "rtdetr_r50vd_coco.yml")
    shm = {
        "present": True,
        "path": "/dev/shm",
        "total_bytes": 64 * 1024**2,
        "free_bytes": 64 * 1024**2,
    }
    (finding,) = findings("GD606", training=training(source), shm=shm)
    assert finding.severity.value == "fail"


def _limits(soft):
    return {"nofile": {"soft": soft, "hard": 4096}}


def test_fd_estimate_counts_stacked_batches_not_samples():
    # batch 256 x 4 workers with default_collate ran fine at ulimit -n 512 (and 100)
    source = analyse_source(
        "from torch.utils.data import DataLoader\n"
        "def main():\n    for b in DataLoader(ds, batch_size=256, num_workers=4):\n        pass\n",
        "big.py",
    )
    assert findings("GD607", training=training(source), limits=_limits(512)) == []
    (finding,) = findings("GD607", training=training(source), limits=_limits(64))
    assert finding.severity.value == "warn"
    assert "Too many open files" in finding.title


def test_fd_estimate_per_sample_only_for_a_custom_collate():
    source = analyse_source(
        "from torch.utils.data import DataLoader\n"
        "def keep(b):\n    return b\n"
        "def main():\n"
        "    for b in DataLoader(ds, batch_size=256, num_workers=4, collate_fn=keep):\n"
        "        pass\n",
        "lists.py",
    )
    (finding,) = findings("GD607", training=training(source), limits=_limits(512))
    assert finding.severity.value == "info"
    assert "per-sample" in finding.title


def test_threads_are_not_multiplied_by_workers_when_omp_is_unset():
    source = analyse_script(TRAINING / "train_unguarded.py")
    assert findings("GD608", training=training(source), env__variables={}) == []
    many = analyse_source(
        "from torch.utils.data import DataLoader\n"
        "def main():\n    for b in DataLoader(ds, num_workers=32):\n        pass\n",
        "many.py",
    )
    (note,) = findings("GD608", training=training(many), env__variables={})
    assert note.severity.value == "info"
    assert any("worker.py" in e.source for e in note.evidence)


def test_unread_worker_count_is_never_a_pass():
    source = analyse_source(
        "from torch.utils.data import DataLoader\n"
        "from settings import LOADER_KWARGS\n"
        "def main():\n    for b in DataLoader(ds, **LOADER_KWARGS):\n        pass\n",
        "opaque.py",
    )
    (finding,) = findings(
        "GD604", training=training(source), host__cpus={"logical": 2, "usable": 2}
    )
    assert finding.severity.value == "info"
    assert "could not be read" in finding.title


def test_cpu_count_workers_are_judged_with_this_machines_cpus():
    source = analyse_source(
        "import os\nfrom torch.utils.data import DataLoader\n"
        "def main():\n    for b in DataLoader(ds, num_workers=os.cpu_count()):\n        pass\n",
        "cpu.py",
    )
    facts = training(source)
    facts["machine"] = {"cpus_logical": 64, "cpus_usable": 8}
    (finding,) = findings("GD604", training=facts, host__cpus={"logical": 64, "usable": 8})
    assert "64 DataLoader workers on 8 usable CPUs" in finding.title
    assert any("depends on the CPU count" in e.value for e in finding.evidence)


def test_ram_cache_against_available_memory():
    source = analyse_config(TRAINING / "yolo_ram_cache.yaml")
    (hint,) = findings("GD609", training=training(source))
    assert hint.severity.value == "info"
    data = {"path": "/data/coco", "images": 118_287, "complete": True}
    (finding,) = findings(
        "GD609", training=training(source, data=data), memory__available_bytes=16 * GiB
    )
    assert finding.severity.value == "fail"  # 118k x 1.2 MiB is about 135 GiB


def test_files_not_understood_are_reported(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    (finding,) = findings("GD610", training=training(analyse_config(path)))
    assert finding.severity.value == "warn"
    assert "binary" in finding.title


def test_cli_unguarded_script_on_linux_is_a_warning_not_a_failure():
    result = run_cli(
        "check",
        "--script",
        str(TRAINING / "train_unguarded.py"),
        "--select",
        "GD601,GD602,GD610",
        "--format",
        "json",
    )
    report = json.loads(result.stdout)
    by_id = {f["id"]: f for f in report["findings"] if f["severity"] not in ("pass", "skip")}
    host_kind = report["facts"]["host"]["kind"] if "facts" in report else "linux"
    assert host_kind in ("linux", "wsl2")
    assert by_id["GD601"]["severity"] == "warn"
    assert "breaks on Windows, macOS" in by_id["GD601"]["title"]
    assert result.returncode == 1


def test_every_training_check_has_a_reference_page():
    repo = TRAINING.parents[1]
    for spec in load_registry(plugins=False).select(["GD6"]):
        page = (repo / "checks" / f"{spec.id}.md").read_text(encoding="utf-8")
        assert page.startswith(f"# {spec.id} {spec.name}\n")
        for heading in ("## What it checks", "## Remedies", "## Fix safety"):
            assert heading in page


def test_importing_gpudoctor_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, gpudoctor; gpudoctor.preflight; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(TRAINING.parents[1] / "src")},
    )
    assert out.stdout.strip() == "False"


CORPUS = Path(__file__).resolve().parent / "corpus" / "training"


def test_unguarded_yolo_training_fails_gd601_on_windows_with_the_trainer_as_evidence():
    source = analyse_script(CORPUS / "ul_readme_unguarded.py")
    (finding,) = findings(
        "GD601", training=training(source, default="spawn", platform="win32"), host__kind="windows"
    )
    assert finding.severity.value == "fail"
    assert any(
        e.value.startswith("results = model.train(") and e.source.endswith(":7")
        for e in finding.evidence
    )
    assert any("default.yaml" in e.value for e in finding.evidence)


def test_gd610_names_the_recognised_trainer_and_never_claims_an_empty_file_was_checked():
    source = analyse_script(CORPUS / "ul_readme_unguarded.py")
    registry = load_registry(plugins=False)
    facts = make_facts(training=training(source))
    (verdict,) = run_checks(facts, registry.select(["GD610"]), probe_errors=False)
    assert verdict.severity.value == "pass"
    assert any(e.label == "ultralytics trainer" for e in verdict.evidence)
    cli = analyse_script(CORPUS / "lit_cli.py")
    (note,) = findings("GD610", training=training(cli))
    assert note.severity.value == "info"
    assert "no DataLoader or known trainer" in note.title


def test_gd609_sees_a_ram_cache_requested_in_a_script():
    source = analyse_script(CORPUS / "ul_workers_cache_ram.py")
    (hint,) = findings("GD609", training=training(source))
    assert hint.severity.value == "info"
    assert any(e.value == '"ram"' and e.source.endswith(":6") for e in hint.evidence)


def test_mmengine_config_evidence_lists_zero_worker_val_and_test_loaders():
    source = analyse_config(CORPUS / "mmdet_coco_detection.py")
    labels = [loader["label"] for loader in source["loaders"]]
    assert labels == ["train_dataloader", "val_dataloader", "test_dataloader"]
    registry = load_registry(plugins=False)
    facts = make_facts(training=training(source), host__cpus={"logical": 8, "usable": 8})
    (verdict,) = run_checks(facts, registry.select(["GD604"]), probe_errors=False)
    assert verdict.severity.value == "pass"
    shown = {e.label for e in verdict.evidence}
    assert {"val_dataloader num_workers", "test_dataloader num_workers"} <= shown
    zero = analyse_config(CORPUS / "mmdet_workers_zero_persistent.py")
    facts = make_facts(training=training(zero), host__cpus={"logical": 8, "usable": 8})
    (verdict,) = run_checks(facts, registry.select(["GD604"]), probe_errors=False)
    assert any(e.label == "train_dataloader num_workers" for e in verdict.evidence)
