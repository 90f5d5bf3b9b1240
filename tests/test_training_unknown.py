"""Unknown is never pass: GD6xx with each required fact, or the loaders' inputs, unreadable."""

from __future__ import annotations

from pathlib import Path

from conftest import make_facts
from gpudoctor.api import Unavailable
from gpudoctor.readers.training_script import analyse_script
from gpudoctor.readers.training_script import analyse_source
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

CORPUS = Path(__file__).resolve().parent / "corpus" / "training"


def _training(source):
    return {
        "sources": [source],
        "start_method": {"default": "spawn", "why": "test", "python": "3.11", "platform": "win32"},
        "machine": {"cpus_logical": 8, "cpus_usable": 8, "commit": None},
        "data": None,
    }


def test_each_required_fact_unavailable_never_passes():
    source = analyse_script(CORPUS / "torchvision_classification_train.py")
    for spec in load_registry(plugins=False).select(["GD6"]):
        for path in spec.requires:
            overrides = {"training": _training(source), path.replace(".", "__"): Unavailable("x")}
            found = run_checks(make_facts(**overrides), [spec], probe_errors=False)
            assert all(f.severity.value != "pass" for f in found), (spec.id, path, found)


def test_loaders_whose_settings_cannot_be_read_never_pass_the_worker_checks():
    source = analyse_source(
        "from torch.utils.data import DataLoader\nfrom settings import KW, N\n"
        "def main():\n"
        "    for b in DataLoader(ds, num_workers=N, **KW):\n        pass\n",
        "opaque.py",
    )
    facts = make_facts(training=_training(source), host__cpus={"logical": 8, "usable": 8})
    specs = load_registry(plugins=False).select(["GD604"])
    (verdict,) = run_checks(facts, specs, probe_errors=False)
    assert verdict.severity.value == "info"
