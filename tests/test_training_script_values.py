"""The script reader on the indirections real training scripts use (see tests/corpus/training).

Each case is the shape of a public file named in tests/corpus/training/SOURCES.md.
"""

from __future__ import annotations

from pathlib import Path

from gpudoctor.readers.script_values import evaluate_formula
from gpudoctor.readers.training_script import analyse_script
from gpudoctor.readers.training_script import analyse_source

CORPUS = Path(__file__).resolve().parent / "corpus" / "training"


def _loader(result, index=0):
    return result["loaders"][index]["settings"]


def test_kwargs_dict_with_update_is_read_mnist_example():
    result = analyse_script(CORPUS / "mnist_main.py")
    train, test = result["loaders"]
    assert train["settings"]["num_workers"]["value"] == 1
    assert train["settings"]["batch_size"]["value"] == 64
    assert test["settings"]["batch_size"]["value"] == 1000
    assert train["incomplete"] is False


def test_kwargs_dict_call_and_subscript_assignment_reach_the_loader():
    result = analyse_script(CORPUS / "loader_kwargs_dict_lambda.py")
    settings = _loader(result)
    assert settings["num_workers"]["value"] == 4
    assert settings["persistent_workers"]["value"] is True
    (problem,) = result["unpicklable"]
    assert problem["argument"] == "collate_fn"
    assert problem["kind"] == "lambda"


def test_unreadable_kwargs_leave_the_loader_incomplete_not_zero_workers():
    result = analyse_source(
        "from torch.utils.data import DataLoader\nfrom cfg import KW\n"
        "def main():\n    return DataLoader(ds, **KW)\n"
    )
    (loader,) = result["loaders"]
    assert loader["incomplete"] is True
    assert "num_workers" not in loader["settings"]
    assert any("**KW" in note for note in result["notes"])


def test_argparse_default_through_a_parameter_pytorch_yolov3():
    settings = _loader(analyse_script(CORPUS / "pytorchyolo_train.py"))
    assert settings["num_workers"]["value"] == 8
    assert "--n_cpu" in settings["num_workers"]["via"]


def test_int_of_an_argparse_attribute():
    result = analyse_source(
        "import argparse\nfrom torch.utils.data import DataLoader\n"
        "p = argparse.ArgumentParser()\np.add_argument('--workers', type=int, default=2)\n"
        "opt = p.parse_args()\n"
        "loader = DataLoader(ds, num_workers=int(opt.workers))\n"
    )
    assert _loader(result)["num_workers"]["value"] == 2


def test_cpu_count_expressions_become_formulas():
    cases = {
        "os.cpu_count()": (["cpus"], 12),
        "min(8, os.cpu_count())": (["min", 8, ["cpus"]], 8),
        "max(1, os.cpu_count() // 2)": (["max", 1, ["//", ["cpus"], 2]], 6),
        "multiprocessing.cpu_count()": (["cpus"], 12),
        "psutil.cpu_count()": (["cpus"], 12),
        "os.cpu_count() or 1": (["or", ["cpus"], 1], 12),
        "len(os.sched_getaffinity(0))": (["usable_cpus"], 4),
    }
    for expression, (formula, workers) in cases.items():
        result = analyse_source(
            "import os, multiprocessing, psutil\nfrom torch.utils.data import DataLoader\n"
            f"loader = DataLoader(ds, num_workers={expression})\n"
        )
        setting = _loader(result)["num_workers"]
        assert setting["known"] is False, expression
        assert setting["formula"] == formula, expression
        assert setting["depends_on"] == "cpu_count"
        assert evaluate_formula(setting["formula"], 12, 4) == workers, expression


def test_lightning_tutorial_cpu_count_half_through_a_datamodule():
    result = analyse_script(CORPUS / "lit_cifar10_baseline.py")
    (loader,) = result["loaders"]
    formula = loader["settings"]["num_workers"]["formula"]
    assert evaluate_formula(formula, 16) == 8
    assert [t["framework"] for t in result["trainers"]] == ["lightning", "lightning"]
    assert result["worker_starts"][0]["text"] == "trainer.fit(model, cifar10_dm)"


def test_self_attribute_from_init_parameter_and_call_site():
    settings = _loader(analyse_script(CORPUS / "lit_datamodule_guarded.py"))
    assert settings["num_workers"]["value"] == 8  # MNISTDataModule(num_workers=8)


def test_ultralytics_module_level_training_is_a_worker_start():
    result = analyse_script(CORPUS / "ul_workers_cache_ram.py")
    (trainer,) = result["trainers"]
    assert trainer["framework"] == "ultralytics"
    assert trainer["runs_at_import"] is True
    assert result["worker_starts"][0]["line"] == 6
    assert result["cache"]["mode"] == "ram"
    assert result["cache"]["line"] == 6


def test_ultralytics_train_and_val_loaders_are_capped_at_the_cpu_count():
    # build_dataloader: min(os.cpu_count() // GPUs, workers); the val loader gets workers * 2
    train, val = analyse_script(CORPUS / "ul_workers_cache_ram.py")["loaders"]
    train_workers = train["settings"]["num_workers"]["formula"]
    val_workers = val["settings"]["num_workers"]["formula"]
    assert [evaluate_formula(train_workers, cpus) for cpus in (4, 16)] == [4, 8]
    assert [evaluate_formula(val_workers, cpus) for cpus in (4, 32)] == [4, 16]
    assert val["settings"]["batch_size"]["value"] == 64
    assert train["keeps_workers"]


def test_ultralytics_defaults_when_workers_are_not_given():
    result = analyse_script(CORPUS / "ul_readme_unguarded.py")
    workers = result["loaders"][0]["settings"]["num_workers"]
    assert evaluate_formula(workers["formula"], 64) == 8
    assert "default.yaml" in workers["via"]


def test_ultralytics_on_the_cpu_uses_no_workers():
    result = analyse_source(
        "from ultralytics import YOLO\nYOLO('yolo11n.pt').train(data='d.yaml', device='cpu')\n"
    )
    assert {ld["settings"]["num_workers"]["value"] for ld in result["loaders"]} == {0}


def test_nn_module_train_mode_switch_is_not_a_trainer():
    result = analyse_source("model.train()\nmodel.eval()\n")
    assert result["trainers"] == []
    assert result["worker_starts"] == []


def test_mmengine_runner_from_cfg_and_dict_loader():
    tools = analyse_script(CORPUS / "mmdet_tools_train.py")
    assert [t["framework"] for t in tools["trainers"]] == ["mmengine"]
    assert tools["trainers"][0]["runs_at_import"] is False
    assert tools["loaders"][0]["settings"]["num_workers"]["known"] is False
    inline = analyse_script(CORPUS / "mmengine_runner_dict_unguarded.py")
    assert inline["loaders"][0]["settings"]["num_workers"]["value"] == 2
    assert inline["worker_starts"]


def test_hugging_face_trainer_workers_from_training_arguments():
    result = analyse_script(CORPUS / "hf_workers_unguarded.py")
    (loader,) = result["loaders"]
    assert loader["settings"]["num_workers"]["value"] == 4
    default = analyse_script(CORPUS / "hf_tutorial_unguarded.py")
    assert default["loaders"][0]["settings"]["num_workers"]["value"] == 0


def test_detectron2_workers_from_cfg_attribute():
    result = analyse_script(CORPUS / "d2_colab_unguarded.py")
    assert result["trainers"][0]["framework"] == "detectron2"
    assert result["loaders"][0]["settings"]["num_workers"]["value"] == 2


def test_nested_collate_on_one_branch_points_at_its_def_line():
    result = analyse_script(CORPUS / "torchvision_classification_train.py")
    (problem,) = result["unpicklable"]
    assert problem["kind"] == "nested function"
    assert problem["line"] == 16  # `def collate_fn(batch):`, not `collate_fn=collate_fn,`
    assert problem["used_at"] == 28


def test_lambda_assigned_to_a_name_points_at_the_lambda():
    result = analyse_source(
        "from torch.utils.data import DataLoader\n"
        "def main():\n"
        "    collate = lambda b: b\n"
        "    return DataLoader(ds, num_workers=2,\n"
        "                      collate_fn=collate)\n"
    )
    (problem,) = result["unpicklable"]
    assert problem["line"] == 3
    assert problem["used_at"] == 5
