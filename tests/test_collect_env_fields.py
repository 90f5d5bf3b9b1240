"""The report's collect_env table follows the installed torch's own fields and labels."""

from __future__ import annotations

from gpudoctor.report.ticket import NOT_COLLECTED
from gpudoctor.report.ticket import collect_env_fields
from gpudoctor.report.ticket import torch_collect_env_fields

# Shaped like torch 2.8's collect_env text (no XPU or allocator line), written for this test.
TEXT_28 = """PyTorch version: 2.8.0+cu128
Is debug build: False
CUDA used to build PyTorch: 12.8
ROCM used to build PyTorch: N/A

OS: Ubuntu 22.04.4 LTS (x86_64)
Is CUDA available: False
GPU models and configuration:
GPU 0: NVIDIA A10G
GPU 1: NVIDIA A10G
cuDNN version: Could not collect
Is XNNPACK available: True

CPU:
Architecture: x86_64
"""
LABELS_28 = [
    "PyTorch version",
    "Is debug build",
    "CUDA used to build PyTorch",
    "ROCM used to build PyTorch",
    "OS",
    "Is CUDA available",
    "GPU models and configuration",
    "cuDNN version",
    "Is XNNPACK available",
    "HIP runtime version",
]


def test_fields_are_torchs_own_labels_in_its_order():
    fields = torch_collect_env_fields(
        {"collect_env_labels": LABELS_28, "collect_env_text": TEXT_28}
    )
    assert [label for label, _ in fields] == LABELS_28
    values = dict(fields)
    assert values["PyTorch version"] == "2.8.0+cu128"
    assert values["GPU models and configuration"] == "GPU 0: NVIDIA A10G\nGPU 1: NVIDIA A10G"
    assert values["Is XNNPACK available"] == "True"
    assert values["HIP runtime version"] == NOT_COLLECTED  # a label the text did not print
    assert "Is XPU available" not in values


def test_report_uses_torchs_fields_when_the_child_sent_them():
    facts = {
        "collect_env": {
            "torch": {"collect_env_labels": LABELS_28, "collect_env_text": TEXT_28},
        }
    }
    assert [label for label, _ in collect_env_fields(facts)] == LABELS_28


def test_without_torchs_answer_the_fields_are_rebuilt_from_the_probes():
    facts = {"collect_env": {"torch": {"error": "ModuleNotFoundError: No module named 'torch'"}}}
    labels = [label for label, _ in collect_env_fields(facts)]
    assert labels[0] == "PyTorch version"
    assert dict(collect_env_fields(facts))["PyTorch version"] == "N/A"
