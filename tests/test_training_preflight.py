"""gpudoctor.preflight on real CPU torch DataLoaders: real pickling, real spawn contexts."""

from __future__ import annotations

import pytest

torch_data = pytest.importorskip("torch.utils.data")

import gpudoctor  # noqa: E402
from gpudoctor.loader_preflight import describe_loader  # noqa: E402
from gpudoctor.loader_preflight import try_pickle  # noqa: E402


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

    status, message, _ = try_pickle(Slow(), timeout=0.2)
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


class TensorBank(torch_data.Dataset):
    """A dataset holding one big tensor, as in-memory datasets do."""

    def __init__(self, mebibytes: int) -> None:
        torch = pytest.importorskip("torch")
        self.data = torch.zeros(mebibytes * 1024 * 1024 // 4, dtype=torch.float32)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int):
        return self.data[index]


def _shm_free() -> int | None:
    import os

    try:
        stat = os.statvfs("/dev/shm")
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def test_preflight_never_moves_the_dataset_into_shared_memory():
    bank = TensorBank(64)
    loader = torch_data.DataLoader(bank, batch_size=2, num_workers=2)
    before = _shm_free()
    source = describe_loader(loader, multiprocessing_context="spawn")
    after = _shm_free()
    assert bank.data.is_shared() is False
    assert bank.data.untyped_storage().is_shared() is False
    if before is not None and after is not None:
        assert before - after < 16 * 1024 * 1024  # the 64 MiB tensor was not copied there
    (record,) = source["loaders"]
    assert record["shared_tensor_bytes"] == 64 * 1024 * 1024
    gpudoctor.preflight(loader, multiprocessing_context="spawn")
    assert bank.data.is_shared() is False


def test_preflight_under_the_default_start_method_leaves_the_dataset_alone():
    bank = TensorBank(16)
    loader = torch_data.DataLoader(bank, batch_size=2, num_workers=2)  # fork on Linux
    gpudoctor.preflight(loader)
    assert bank.data.is_shared() is False
    assert list(bank.data[:2]) == [0.0, 0.0]


def test_dataset_larger_than_free_shm_is_no_room_not_unpicklable():
    from conftest import make_facts
    from gpudoctor.registry import load_registry
    from gpudoctor.runner import run_checks

    loader = torch_data.DataLoader(TensorBank(8), batch_size=2, num_workers=2)
    source = describe_loader(loader, multiprocessing_context="spawn")
    assert source["unpicklable"] == []
    shm = {
        "present": True,
        "path": "/dev/shm",
        "total_bytes": 4 * 1024 * 1024,
        "free_bytes": 4 * 1024 * 1024,
    }
    training = {
        "sources": [source],
        "start_method": {"default": "fork", "why": "test", "python": "3.11", "platform": "linux"},
        "machine": {"cpus_logical": 8, "cpus_usable": 8, "commit": None},
        "data": None,
    }
    facts = make_facts(training=training, shm=shm)
    found = run_checks(facts, load_registry(plugins=False).select(["GD6"]), probe_errors=False)
    (no_room,) = [f for f in found if f.check_id == "GD606" and "dataset tensors" in f.title]
    assert no_room.severity.value == "fail"
    assert "8.0 MiB" in no_room.title
    assert "No space left on device" in no_room.title
    assert not [f for f in found if f.check_id == "GD602" and f.severity.value != "pass"]


def test_enospc_while_pickling_is_told_apart_from_unpicklable():
    import errno

    class NeedsShm:
        def __reduce__(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    status, message, _ = try_pickle(NeedsShm(), timeout=5)
    assert status == "nospace"
    assert "No space left" in message
    status, _, _ = try_pickle(lambda: 0, timeout=5)
    assert status == "error"


def test_a_hanging_dataset_is_a_finding_not_fine():
    import threading

    gate = threading.Event()

    class Hangs(torch_data.Dataset):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, index: int) -> int:
            return index

        def __reduce__(self):
            gate.wait(10)
            return (int, (0,))

    loader = torch_data.DataLoader(Hangs(), num_workers=1, multiprocessing_context="spawn")
    try:
        findings = gpudoctor.preflight(loader, timeout=0.3)
    finally:
        gate.set()
    (hang,) = _by_id(findings, "GD602")
    assert hang.severity.value == "fail"
    assert "did not finish" in hang.title
