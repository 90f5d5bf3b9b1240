"""The frozen records built once per process of a replay (verdicts, findings, judgements)
write their own ``__init__``; it must stay the one the dataclass would generate."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from gpudoctor.checks.staleness import Judgement
from gpudoctor.model import Evidence
from gpudoctor.model import Finding
from gpudoctor.model import Remedy
from gpudoctor.model import Severity
from gpudoctor.model import Verdict

RECORDS = [Verdict, Finding, Judgement]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_init_takes_the_fields_in_order_with_their_defaults(record):
    params = list(inspect.signature(record.__init__).parameters.values())[1:]
    fields = dataclasses.fields(record)
    assert [p.name for p in params] == [f.name for f in fields]
    for param, field in zip(params, fields):
        assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert param.default == (
            inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        )


def _generated(record: type) -> type:
    """The same fields in a plain frozen dataclass, with the generated ``__init__``."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(record)]
    return dataclasses.make_dataclass(record.__name__, fields, frozen=True)


SAMPLES = {
    Verdict: (
        (Severity.WARN, "t"),
        {"subject": "pid 1", "evidence": (Evidence("a", "b"),), "offer_fix": False},
    ),
    Finding: (
        ("GD1", "n", Severity.INFO, "t"),
        {"remedies": (Remedy("r", ("cmd",)),), "fix": "f", "details": "d"},
    ),
    Judgement: ((7, "zombie", True, "why"), {"killable": False, "idle_seconds": 3.0}),
}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.__name__)
def test_instances_hold_what_the_generated_init_would_and_stay_read_only(record):
    args, kwargs = SAMPLES[record]
    built = record(*args, **kwargs)
    expected = _generated(record)(*args, **kwargs)
    assert vars(built) == vars(expected)
    assert dataclasses.replace(built) == built
    assert hash(built) == hash(record(*args, **kwargs))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.title = "changed"
