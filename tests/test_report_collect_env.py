"""Every field of ``python -m torch.utils.collect_env`` is in ``gpudoctor report``, same value.

Both run as child processes on this machine (CPU torch), with the same environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO
from gpudoctor.privacy import Redactor

collect_env = pytest.importorskip("torch.utils.collect_env", reason="needs torch (CPU is enough)")

#: The labels of the installed torch's collect_env (they differ between torch versions).
LABELS = [
    line.split(": {", 1)[0] for line in collect_env.env_info_fmt.splitlines() if ": {" in line
]
VOLATILE_CPU_LINES = re.compile(r"MHz|BogoMIPS")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src")
    env["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"
    env.pop("NO_COLOR", None)
    return env


@pytest.fixture(scope="module")
def outputs() -> tuple[str, dict, str]:
    """collect_env's text, our JSON report and our Markdown report, run side by side."""
    env = _env()
    theirs = subprocess.Popen(
        [sys.executable, "-m", "torch.utils.collect_env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    ours_json = subprocess.run(
        [sys.executable, "-m", "gpudoctor", "report", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    ours_md = subprocess.run(
        [sys.executable, "-m", "gpudoctor", "report"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    text, _ = theirs.communicate(timeout=120)
    assert theirs.returncode == 0
    return text, json.loads(ours_json.stdout), ours_md.stdout


def _their_fields(text: str) -> dict[str, str]:
    """``Label: value`` pairs; a multi-line value runs until the next label or a blank line."""
    fields: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        for label in LABELS:
            if line.startswith(label + ":"):
                value = [line[len(label) + 1 :].strip()]
                for more in lines[index + 1 :]:
                    if not more.strip() and value != [""]:
                        break
                    if any(more.startswith(other + ":") for other in LABELS):
                        break
                    value.append(more)
                fields[label] = "\n".join(v for v in value if v.strip()).strip()
    return fields


def _block(text: str, start: str, end: str | None) -> list[str]:
    body = text.split(start, 1)[1]
    if end:
        body = body.split(end, 1)[0]
    return [line for line in body.strip().splitlines() if line.strip()]


def test_collect_env_prints_the_fields_we_know(outputs):
    text, _, _ = outputs
    assert set(_their_fields(text)) == set(LABELS)


@pytest.mark.parametrize("label", LABELS)
def test_each_field_has_the_same_value(outputs, label):
    text, report, markdown = outputs
    theirs = _their_fields(text)[label]
    ours = report["collect_env"]["fields"][label]
    assert ours in (theirs, Redactor().text(theirs, network=False)), label
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {label} |"))
    assert ours.splitlines()[0].replace("`", "'").replace("|", "\\|") in row


def test_cpu_block_matches(outputs):
    text, report, markdown = outputs
    theirs = [
        line
        for line in _block(text, "\nCPU:\n", "Versions of relevant libraries:")
        if not VOLATILE_CPU_LINES.search(line)
    ]
    ours = [line for line in report["collect_env"]["cpu_info"].splitlines() if line.strip()]
    assert theirs
    assert theirs == [line for line in ours if not VOLATILE_CPU_LINES.search(line)]
    assert theirs[0] in markdown


def test_library_versions_match(outputs):
    text, report, markdown = outputs
    theirs = _block(text, "Versions of relevant libraries:", None)
    assert theirs
    ours = report["collect_env"]["libraries"]
    assert set(theirs) <= set(ours)
    for line in theirs:
        assert line in markdown
