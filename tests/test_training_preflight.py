"""gpudoctor.preflight on real CPU torch DataLoaders: real pickling, real spawn contexts."""

from __future__ import annotations

import pytest

torch_data = pytest.importorskip("torch.utils.data")

import gpudoctor  # noqa: E402
from gpudoctor.loader_preflight import describe_loader, try_pickle  # noqa: E402


class Numbers(torch_data.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> int:
        return index


def keep_as_list(samples):
    return list(samples)


def _by_id(findings, check_id):
    return [f for f in findings if f.check_id == check_id]


def test_lambda_collate_under_spawn_is_reported(capsys):
    loader = torch_data.DataLoader(
        Numbers(),
        batch_size=2,
        num_workers=1,
        collate_fn=lambda b: b,
        multiprocessing_context="spawn",
    )
    findings = gpudoctor.preflight(loader)
    (problem,) = _by_id(findings, "GD602")
    assert problem.severity.value == "fail"
    assert "collate_fn" in problem.title
    assert any("lambda" in e.value for e in problem.evidence)
    lambda_line = loader.collate_fn.__code__.co_firstlineno
    assert any(e.source == f"{__file__}:{lambda_line}" for e in problem.evidence)
    assert capsys.readouterr().out == ""  # silent unless asked


def test_module_level_collate_under_spawn_is_not_reported():
    loader = torch_data.DataLoader(
        Numbers(),
        batch_size=2,
        num_workers=1,
        collate_fn=keep_as_list,
        multiprocessing_context="spawn",
    )
    assert _by_id(gpudoctor.preflight(loader), "GD602") == []


def test_lambda_is_a_platform_warning_under_fork(capsys):
    loader = torch_data.DataLoader(
        Numbers(), num_workers=1, collate_fn=lambda b: b, multiprocessing_context="fork"
    )
    (problem,) = _by_id(gpudoctor.preflight(loader, print_report=True), "GD602")
    assert problem.severity.value == "warn"
    assert "GD602" in capsys.readouterr().out


def test_context_argument_overrides_the_loader():
    loader = torch_data.DataLoader(Numbers(), num_workers=1, collate_fn=lambda b: b)
    findings = gpudoctor.preflight(loader, multiprocessing_context="spawn")
    assert _by_id(findings, "GD602")[0].severity.value == "fail"


def test_plain_dataset_with_a_closure_attribute():
    dataset = Numbers()
    dataset.transform = lambda x: x + 1
    record = describe_loader(dataset, multiprocessing_context="spawn")
    (problem,) = record["unpicklable"]
    assert problem["argument"] == "dataset"
    assert "pickle" in problem["text"].lower()


def test_zero_workers_loader_has_nothing_to_send():
    loader = torch_data.DataLoader(Numbers(), collate_fn=lambda b: b)
    assert _by_id(gpudoctor.preflight(loader, multiprocessing_context=None), "GD602") == []


def test_pickling_is_bounded_by_the_timeout():
    import threading

    gate = threading.Event()

    class Slow:
        def __reduce__(self):
            gate.wait(5)
            return (int, (0,))

    status, message = try_pickle(Slow(), timeout=0.2)
    gate.set()
    assert status == "timeout"
    assert "0.2 s" in message


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (AttributeError("Can't pickle local object 'f.<locals>.<lambda>'"), "f.<locals>.<lambda>"),
        (AttributeError("Can't get local object 'f.<locals>.<lambda>'"), "f.<locals>.<lambda>"),
        (TypeError("cannot pickle '_thread.lock' object"), "_thread.lock"),
        (ValueError("something new"), "ValueError"),
    ],
)
def test_pickling_errors_are_explained_the_same_on_every_python(error, words):
    from gpudoctor.loader_preflight import explain_pickle_error

    text = explain_pickle_error(error)
    assert text.startswith("cannot be pickled")
    assert words in text
    assert "Can't" not in text
