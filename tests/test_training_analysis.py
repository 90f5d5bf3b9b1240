"""The script and config readers: what they find, and that they never run or crash on input."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from gpudoctor.readers.python_source import MAX_SOURCE_BYTES
from gpudoctor.readers.training_config import analyse_config
from gpudoctor.readers.training_script import analyse_script
from gpudoctor.readers.training_script import analyse_source

TRAINING = Path(__file__).resolve().parents[1] / "fixtures" / "training"


def test_unguarded_script_names_the_lines_that_start_workers():
    result = analyse_script(TRAINING / "train_unguarded.py")
    assert result["understood"]
    assert result["main_guard"]["present"] is False
    (loader,) = result["loaders"]
    assert loader["runs_at_import"] is True
    assert loader["settings"]["num_workers"]["value"] == 4  # resolved from WORKERS = 4
    assert loader["settings"]["persistent_workers"]["value"] is True
    assert [s["line"] for s in result["worker_starts"]] == [37]
    assert result["unguarded_code"] == {"first_line": 27, "last_line": 43}


def test_guarded_script_starts_no_workers_at_import():
    result = analyse_script(TRAINING / "train_guarded.py")
    assert result["main_guard"]["present"] is True
    assert result["worker_starts"] == []
    assert result["unpicklable"] == []
    assert result["loaders"][0]["runs_at_import"] is False


def test_lambda_and_local_class_are_reported_with_lines():
    result = analyse_script(TRAINING / "train_lambda_collate.py")
    found = {(u["argument"], u["kind"], u["line"]) for u in result["unpicklable"]}
    assert ("collate_fn", "lambda", 29) in found
    # the class statement, not the Squares() call, is the line to change
    assert ("dataset", "instance of a locally defined class", 18) in found
    workers = result["loaders"][0]["settings"]["num_workers"]
    assert workers["value"] == 4
    assert "default of --workers" in workers["via"]


def test_unguarded_call_of_main_is_the_line_to_wrap():
    source = (
        "from torch.utils.data import DataLoader as DL\n"
        "import multiprocessing as mp\n"
        "def collate(b):\n    return b\n"
        "def train():\n"
        "    def seed(i):\n        pass\n"
        "    loader = DL(range(4), num_workers=2, worker_init_fn=seed, collate_fn=collate,\n"
        "                multiprocessing_context=mp.get_context('spawn'))\n"
        "    for x in loader:\n        pass\n"
        "mp.set_start_method('spawn', force=True)\n"
        "train()\n"
    )
    result = analyse_source(source)
    assert [s["line"] for s in result["worker_starts"]] == [13]
    assert result["loaders"][0]["runs_at_import"] is True
    assert result["loaders"][0]["settings"]["multiprocessing_context"]["value"] == "spawn"
    assert [(u["argument"], u["kind"]) for u in result["unpicklable"]] == [
        ("worker_init_fn", "nested function")
    ]
    assert result["start_methods"][0]["method"] == "spawn"
    assert result["start_methods"][0]["guarded"] is False


def test_class_defined_under_the_guard_cannot_be_loaded_by_workers():
    source = (
        "import torch\n"
        "if __name__ == '__main__':\n"
        "    class Data(torch.utils.data.Dataset):\n        pass\n"
        "    loader = torch.utils.data.DataLoader(Data(), num_workers=2)\n"
    )
    (problem,) = analyse_source(source)["unpicklable"]
    assert problem["kind"] == "instance of a class defined inside the __main__ guard"


def test_lambda_inside_dataset_transforms_is_found():
    source = (
        "from torch.utils.data import DataLoader\n"
        "import torchvision.transforms as T\n"
        "def main():\n"
        "    tf = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2)])\n"
        "    ds = Folder('data', transform=tf)\n"
        "    return DataLoader(ds, num_workers=4)\n"
    )
    (problem,) = analyse_source(source)["unpicklable"]
    assert problem["argument"] == "dataset"
    assert problem["kind"] == "lambda"


def test_script_is_read_never_executed(tmp_path):
    marker = tmp_path / "written-on-import.txt"
    script = tmp_path / "evil.py"
    script.write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "import torch\nloader = torch.utils.data.DataLoader([1], num_workers=1)\n"
        "for b in loader:\n    pass\n"
    )
    result = analyse_script(script)
    assert result["understood"]
    assert result["worker_starts"]
    assert not marker.exists()


def test_bad_inputs_are_not_understood_with_a_reason(tmp_path):
    cases = {
        "syntax.py": (b"def broken(:\n", "syntax error at line 1"),
        "binary.py": (b"\x7fELF\x00\x01\x02", "binary"),
        "latin1.py": ("x = 'caf\u00e9'\n".encode("latin-1"), "not valid utf-8"),
        "huge.py": (b"#" * (MAX_SOURCE_BYTES + 10), "larger than"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for result in (analyse_script(path), analyse_config(path)):
            assert result["understood"] is False, name
            assert reason in result["reason"].lower(), (name, result["reason"])
    assert "not found" in analyse_script(tmp_path / "missing.py")["reason"]


def test_coding_declaration_is_honoured(tmp_path):
    path = tmp_path / "old.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n")
    assert analyse_script(path)["understood"] is True


def test_mmengine_config_values_with_lines():
    result = analyse_config(TRAINING / "mmdet_retinanet_persistent.py")
    assert result["format"] == "mmengine-python"
    train, val, *_ = result["loaders"]
    assert train["label"] == "train_dataloader"
    assert train["settings"]["num_workers"] == {
        "value": 8,
        "known": True,
        "text": "num_workers",
        "line": 17,
    }
    assert val["settings"]["persistent_workers"]["value"] is True
    assert result["start_methods"][0]["method"] == "fork"
    assert any("_base_" in note for note in result["notes"])


def test_mmcv_data_dict_maps_to_loader_settings():
    result = analyse_config_text("data = dict(samples_per_gpu=2, workers_per_gpu=6)\n", ".py")
    (loader,) = result["loaders"]
    assert loader["settings"]["num_workers"]["value"] == 6
    assert loader["settings"]["batch_size"]["value"] == 2


def analyse_config_text(text, suffix, tmp=[]):  # noqa: B006 - keeps one temp dir
    import tempfile

    if not tmp:
        tmp.append(Path(tempfile.mkdtemp()))
    path = tmp[0] / f"cfg{suffix}"
    path.write_text(text)
    return analyse_config(path)


def test_yaml_configs_keep_lines_and_cache_mode():
    rtdetr = analyse_config(TRAINING / "rtdetr_r50vd_coco.yml")
    labels = {loader["label"]: loader for loader in rtdetr["loaders"]}
    assert labels["train_dataloader"]["settings"]["num_workers"]["line"] == 21
    assert labels["val_dataloader"]["settings"]["persistent_workers"]["value"] is True
    yolo = analyse_config(TRAINING / "yolo_ram_cache.yaml")
    assert yolo["cache"]["mode"] == "ram"
    assert yolo["cache"]["imgsz"] == 640
    assert yolo["loaders"][0]["settings"]["num_workers"]["value"] == 8


def test_unknown_config_formats_are_not_guessed():
    assert analyse_config_text("[section]\nkey = value\n", ".ini")["understood"] is False
    assert analyse_config_text("epochs: 3\nlr: 0.1\n", ".yaml")["understood"] is False
    assert "YAML syntax error" in analyse_config_text("a: [1, 2\n", ".yaml")["reason"]


_PYTHONISH = st.lists(
    st.sampled_from(
        [
            "DataLoader(",
            "ds",
            ")",
            "lambda x: x",
            ",",
            "num_workers=",
            "4",
            "\n",
            "    ",
            "def f():",
            "class C:",
            "if __name__ == '__main__':",
            "for b in loader:",
            "=",
            "f()",
            "set_start_method('spawn')",
            "(",
            "[",
            "]",
            "loader",
            "pass",
            "'",
            "\\",
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_PYTHONISH, st.text(max_size=300)))
def test_fuzzed_sources_never_crash(source):
    result = analyse_source(source)
    json.dumps(result)
    assert isinstance(result["understood"], bool)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".py", ".yaml", ".cfg"]))
def test_fuzzed_files_never_crash(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(data)
    for result in (analyse_script(path), analyse_config(path)):
        json.dumps(result)
        assert result["understood"] in (True, False)


def test_deeply_nested_source_is_not_understood_rather_than_a_crash():
    result = analyse_source("x = " + "(" * 300 + "1" + ")" * 300)
    assert result["understood"] is False
    result = analyse_source("x = " + "+".join(["a"] * 20000))
    json.dumps(result)
