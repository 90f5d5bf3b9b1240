"""Fuzz the command line over every input surface with hypothesis; count what goes wrong.

Usage::

    PYTHONPATH=src python benchmarks/fuzz_cli.py [--cases 10000] [--seed 0]

Surfaces: replay files (``check``/``report --replay``: mutated snapshots, truncated and
random bytes), ``.wslconfig`` (``check --wslconfig`` and ``fix --wslconfig`` with random
sizes), training scripts and configs (``check --script/--config``), ``diff`` of two
mutated files, and bench options (``bench disk``/``loader``/``gpu`` with hostile values).
Each case runs in-process through click's CliRunner. Reported: cases, tracebacks, internal
errors (an exception caught by the error rule), exit codes seen, slowest case. The rule:
no traceback, no internal error, exit codes 0/1/2 only, no case over 30 s.
``tests/test_fuzz_cli.py`` runs a few hundred of the same cases.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import io
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import seed as seed_of
from hypothesis import settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
FIXTURES = sorted((REPO / "fixtures" / "machines").glob("*.json"))
#: Read once: a strategy must not depend on files that may change during a run.
FIXTURE_DOCS = [json.loads(path.read_text()) for path in FIXTURES]
CASE_LIMIT_S = 30.0

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**30, max_value=10**4000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "\ud800", "\x1b[2J", "GPU-1234", "9.1.0.70", "-1", "nan", "1e400"])
)
JSON_VALUES = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@dataclass
class Stats:
    cases: int = 0
    tracebacks: int = 0
    internal: int = 0
    codes: collections.Counter[int] = field(default_factory=collections.Counter)
    slowest: float = 0.0
    slowest_args: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    by_surface: collections.Counter[str] = field(default_factory=collections.Counter)

    def record(
        self, surface: str, args: list[str], code: int, output: str, exc: Any, took: float
    ) -> None:
        self.cases += 1
        if self.cases % 250 == 0:
            print(f"  ... {self.cases} cases, {dict(self.codes)}", file=sys.stderr, flush=True)
        self.by_surface[surface] += 1
        self.codes[code] += 1
        if took > self.slowest:
            self.slowest, self.slowest_args = took, args
        problem = ""
        if exc is not None and not isinstance(exc, SystemExit):
            self.tracebacks += 1
            problem = f"traceback {exc!r}"
        elif "Traceback (most recent call last)" in output:
            self.tracebacks += 1
            problem = "traceback in output"
        elif "this is a bug in gpudoctor" in output:
            self.internal += 1
            problem = output.strip().splitlines()[-1][:200]
        elif code not in (0, 1, 2):
            problem = f"exit {code}"
        elif took > CASE_LIMIT_S:
            problem = f"took {took:.1f} s"
        if problem and len(self.examples) < 30:
            self.examples.append(f"{surface} {args[:6]}: {problem}")

    @property
    def clean(self) -> bool:
        return (
            self.tracebacks == 0
            and self.internal == 0
            and set(self.codes) <= {0, 1, 2}
            and self.slowest <= CASE_LIMIT_S
        )


def invoke(stats: Stats, surface: str, args: list[str]) -> None:
    from click.testing import CliRunner

    from gpudoctor.cli import main

    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()  # click >= 8.2 keeps stderr apart by itself
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        result = runner.invoke(main, args, catch_exceptions=True)
    took = time.perf_counter() - start
    # A check that fails on hostile facts is an "error" finding whose details may hold its
    # traceback (that is the design); what must never happen is a traceback on stderr.
    errors = result.stderr or ""
    stats.record(surface, args, result.exit_code, errors, result.exception, took)


# -- documents --------------------------------------------------------------------------


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in list(doc.items())[:40]:
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc[:10]):
            found += _paths(value, (*prefix, index))
    return found


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


@st.composite
def replay_bytes(draw: Callable[..., Any]) -> bytes:
    """A mutated snapshot or report; sometimes truncated, sometimes not JSON at all."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return bytes(draw(st.binary(max_size=300)))
    base = FIXTURE_DOCS[draw(st.integers(0, len(FIXTURE_DOCS) - 1))]
    doc = copy.deepcopy(base)
    paths = _paths(doc)
    for _ in range(draw(st.integers(1, 4))):
        path = paths[draw(st.integers(0, len(paths) - 1))]
        try:
            doc = _set(doc, path, draw(JSON_VALUES))
        except (KeyError, IndexError, TypeError):
            pass
        paths = _paths(doc)
    if kind == 1:
        doc = {"format": "gpudoctor-snapshot", "schema_version": 1, "facts": draw(JSON_VALUES)}
    text = json.dumps(doc, allow_nan=True)
    if kind == 2:
        text = text[: draw(st.integers(0, len(text)))]
    if kind == 3:
        text = "[" * draw(st.integers(100, 3000)) + text
    return text.encode("utf-8", "surrogatepass")


_PY_LINES = [
    "import torch",
    "from torch.utils.data import DataLoader",
    "from ultralytics import YOLO",
    "loader = DataLoader(ds, batch_size=64, num_workers=8, collate_fn=lambda b: b)",
    "kwargs = {'num_workers': 4}",
    "DataLoader(ds, **kwargs)",
    "YOLO('yolov8n.pt').train(data='coco.yaml', workers=8, cache='ram')",
    "if __name__ == '__main__':",
    "    main()",
    "def main():",
    "    pass",
    "parser.add_argument('--workers', type=int, default=2)",
    "x = (",
    "\t\tbad indent",
    "train_dataloader = dict(batch_size=2, num_workers=2, persistent_workers=True)",
]


@st.composite
def source_bytes(draw: Callable[..., Any]) -> bytes:
    if draw(st.integers(0, 7)) == 0:
        return bytes(draw(st.binary(max_size=400)))
    lines = draw(st.lists(st.sampled_from(_PY_LINES) | st.text(max_size=30), max_size=15))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def wslconfig_bytes(draw: Callable[..., Any]) -> bytes:
    import random

    from gpudoctor.testing.wslconfig_gen import generate

    if draw(st.integers(0, 5)) == 0:
        return bytes(draw(st.binary(max_size=400)))
    data, _ = generate(random.Random(draw(st.integers(0, 2**32))))
    return data


SIZES = st.sampled_from(
    [
        "8GB",
        "12G",
        "0",
        "256MB",
        "1.5GB",
        "nan",
        "inf",
        "-1GB",
        "1e400GB",
        "99999999TB",
        "",
        "GB",
        "8 GB",
        "０GB",
    ]
) | st.text(max_size=10)
NUMBERS = st.sampled_from(
    ["0", "-1", "nan", "inf", "1e400", "0.1", "3", "1e-9", "", "abc", "9" * 50]
) | st.text(max_size=8)


# -- one case per surface ---------------------------------------------------------------


def case_replay(stats: Stats, folder: Path, data: bytes, variant: int) -> None:
    path = folder / "replay.json"
    path.write_bytes(data)
    forms = [
        ["check", "--replay", str(path)],
        ["check", "--replay", str(path), "-f", "json"],
        ["check", "--replay", str(path), "-f", "markdown", "-v"],
        ["report", "--replay", str(path)],
        ["report", "--replay", str(path), "-f", "json"],
    ]
    invoke(stats, "replay", forms[variant % len(forms)])


def case_diff(stats: Stats, folder: Path, a: bytes, b: bytes, variant: int) -> None:
    first, second = folder / "a.json", folder / "b.json"
    first.write_bytes(a)
    second.write_bytes(b)
    extra = [["-f", "json"], [], ["--all-facts"]][variant % 3]
    invoke(stats, "diff", ["diff", str(first), str(second), *extra])


def case_wslconfig(stats: Stats, folder: Path, data: bytes, size: str, variant: int) -> None:
    path = folder / ".wslconfig"
    path.write_bytes(data)
    if variant % 8 == 0:  # the live probes make this form slow; the others read the file only
        invoke(stats, "wslconfig", ["check", "--wslconfig", str(path), "--select", "GD5"])
        return
    args = ["fix", "--wslconfig", "--wslconfig-path", str(path), "--memory", size]
    if variant % 4 == 2:
        args += ["--swap", size, "--processors", str(variant % 9)]
    args.append("--dry-run" if variant % 4 == 3 else "--yes")
    invoke(stats, "wslconfig", args)


def case_source(stats: Stats, folder: Path, data: bytes, variant: int) -> None:
    name = ("train.py", "config.py", "config.yaml")[variant % 3]
    path = folder / name
    path.write_bytes(data)
    flag = "--script" if name == "train.py" else "--config"
    invoke(stats, "script/config", ["check", flag, str(path), "--select", "GD6", "--budget", "5"])


def case_bench(stats: Stats, folder: Path, seconds: str, size: str, variant: int) -> None:
    data = folder / "data"
    data.mkdir(exist_ok=True)
    (data / "shard0.bin").write_bytes(b"\0" * 4096)
    forms = [
        ["bench", "disk", str(data), "--seconds", seconds, "--max-bytes", size],
        ["bench", "disk", str(folder / "missing"), "--max-bytes", size],
        ["bench", "disk", "/dev/null", "--seconds", seconds],
        ["bench", "loader", "--workers", size, "--batch-size", seconds, "--seconds", "nan"],
        ["bench", "loader", "--target-rate", seconds, "--startup-timeout", size, "--workers", "x"],
        ["bench", "gpu", "--device", seconds, "--timeout", "nan"],
    ]
    args = forms[variant % len(forms)]
    if args[1] == "disk" and variant % 2 == 0:
        args = [*args[:3], "--seconds", "0.2", *args[3:]][: len(args) + 2]
    invoke(stats, "bench", args)


def run(total: int, seed: int, stats: Stats | None = None) -> Stats:
    """Run about ``total`` cases, split over the surfaces; returns the counts."""
    stats = stats or Stats()
    shares = {"replay": 0.42, "diff": 0.14, "wslconfig": 0.26, "source": 0.08, "bench": 0.10}
    tmp = Path(tempfile.mkdtemp(prefix="gd-fuzz-"))

    def common(name: str) -> Any:
        return settings(
            max_examples=max(1, round(total * shares[name])),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )

    @common("replay")
    @seed_of(seed)
    @given(data=replay_bytes(), variant=st.integers(0, 99))
    def one_replay(data: bytes, variant: int) -> None:
        case_replay(stats, tmp, data, variant)

    @common("diff")
    @seed_of(seed)
    @given(a=replay_bytes(), b=replay_bytes(), variant=st.integers(0, 99))
    def one_diff(a: bytes, b: bytes, variant: int) -> None:
        case_diff(stats, tmp, a, b, variant)

    @common("wslconfig")
    @seed_of(seed)
    @given(data=wslconfig_bytes(), size=SIZES, variant=st.integers(0, 99))
    def one_wslconfig(data: bytes, size: str, variant: int) -> None:
        case_wslconfig(stats, tmp, data, size, variant)

    @common("source")
    @seed_of(seed)
    @given(data=source_bytes(), variant=st.integers(0, 99))
    def one_source(data: bytes, variant: int) -> None:
        case_source(stats, tmp, data, variant)

    @common("bench")
    @seed_of(seed)
    @given(seconds=NUMBERS, size=SIZES, variant=st.integers(0, 99))
    def one_bench(seconds: str, size: str, variant: int) -> None:
        case_bench(stats, tmp, seconds, size, variant)

    for test in (one_replay, one_diff, one_wslconfig, one_source, one_bench):
        test()
    return stats


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    stats = run(args.cases, args.seed)
    print(f"cases: {stats.cases}  ({dict(stats.by_surface)})")
    print(f"tracebacks: {stats.tracebacks}  internal errors: {stats.internal}")
    print(f"exit codes: {dict(sorted(stats.codes.items()))}")
    print(f"slowest case: {stats.slowest:.2f} s  {stats.slowest_args[:6]}")
    print(f"total: {time.perf_counter() - started:.0f} s")
    for line in stats.examples:
        print("  " + line)
    return 0 if stats.clean and not math.isnan(stats.slowest) else 1


if __name__ == "__main__":
    raise SystemExit(main())
