"""No secret and no identity reaches any output: every format, the snapshot, CLI and API."""

from __future__ import annotations

import io
import json
import os
import socket

import pytest

from conftest import make_facts
from conftest import run_cli
from gpudoctor.facts.model import Facts
from gpudoctor.privacy import Identity
from gpudoctor.privacy import redact_report
from gpudoctor.registry import load_registry
from gpudoctor.report.ticket import render_ticket_markdown
from gpudoctor.report.ticket import ticket_document
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks
from gpudoctor.session import CheckRequest
from gpudoctor.session import render

USER = "alice-q7"
HOME = f"/home/{USER}"
HOST = "gpubox-q7"
SECRETS = {
    "HF_TOKEN": "hf_PlantedHuggingFaceToken0123456789",
    "WANDB_API_KEY": "0f1e2d3c4b5a69788796a5b4c3d2e1f0deadbeef",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIxK7MDENGxbPxRfiCYPLANTEDKEY",
    "HTTPS_PROXY": "http://bob:hunter2pw@proxy.corp:3128",
}
PLANTED_ENV = {
    **SECRETS,
    "USER": USER,
    "LOGNAME": USER,
    "HOME": HOME,
    "HOSTNAME": HOST,
    # Allow-listed variables carrying identities, an address and a password.
    "CONDA_PREFIX": f"{HOME}/miniconda3/envs/train",
    "VIRTUAL_ENV": rf"C:\Users\{USER}\venvs\train",
    "CUDA_PATH": f"/mnt/c/Users/{USER}/CUDA",
    "CUDA_HOME": "/srv/10.23.45.67/cuda",
    "WSLENV": f"{HOST}:00:1a:2b:3c:4d:5e",
    "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True,http://bob:hunter2pw@proxy.corp:3128",
}
FORBIDDEN = [
    *SECRETS.values(),
    "hunter2pw",
    "PlantedHuggingFace",
    "wJalrXUtnFEMI",
    "0f1e2d3c4b5a6978",
    USER,
    HOST,
    "10.23.45.67",
    "00:1a:2b:3c:4d:5e",
    "1a2b3c4d-0000-1111-2222-333344445555",
    "1652020012345",
]


def _forbidden_found(text: str) -> list[str]:
    found = [word for word in FORBIDDEN if word.lower() in text.lower()]
    real_host = socket.gethostname()
    if len(real_host) >= 3 and real_host.lower() != "localhost" and real_host in text:
        found.append(f"real host name {real_host!r}")
    return found


def _env() -> dict[str, str]:
    env = dict(PLANTED_ENV)
    env["PATH"] = f"{HOME}/.local/bin:/opt/{HOST}/bin:" + os.environ.get("PATH", "")
    return env


@pytest.mark.parametrize(
    "args",
    [
        ("check",),
        ("check", "--format", "json"),
        ("check", "--format", "markdown"),
        ("snapshot",),
        ("report",),
        ("report", "--format", "json"),
    ],
    ids=["check-text", "check-json", "check-markdown", "snapshot", "report-md", "report-json"],
)
def test_cli_outputs_hold_no_planted_secret_or_identity(args):
    result = run_cli(*args, env=_env())
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout.strip()
    assert _forbidden_found(result.stdout + result.stderr) == []
    if args[0] != "check" or "json" in args:
        assert "<home>" in result.stdout  # the planted paths were there, and replaced


def test_cli_report_to_file_is_redacted_and_no_redact_warns(tmp_path):
    target = tmp_path / "r.md"
    result = run_cli("report", "-o", str(target), env=_env())
    assert result.returncode == 0, result.stderr
    assert _forbidden_found(target.read_text(encoding="utf-8")) == []

    loud = run_cli("snapshot", "--no-redact", env=_env())
    assert "WARNING: --no-redact" in loud.stderr
    assert USER in loud.stdout  # identities are kept on request...
    assert "hunter2pw" not in loud.stdout  # ...secrets never are
    assert SECRETS["HF_TOKEN"] not in loud.stdout


def _planted_facts() -> Facts:
    uuid = "GPU-1a2b3c4d-0000-1111-2222-333344445555"
    return make_facts(
        env__variables={
            "PATH": f"{HOME}/bin:/usr/bin",
            "CUDA_VISIBLE_DEVICES": uuid,
            "HF_TOKEN": SECRETS["HF_TOKEN"],
            "NCCL_SOCKET_IFNAME": "10.23.45.67",
        },
        host__python__executable=f"{HOME}/.venvs/t/bin/python",
        host__hostname=HOST,
        gpu__devices=[{"index": 0, "name": "RTX 4090", "uuid": uuid, "serial": "1652020012345"}],
        processes={
            "holders": [
                {
                    "pid": 4242,
                    "user": USER,
                    "cmdline": f"python {HOME}/train.py --password=hunter2pw "
                    f"--wandb {SECRETS['WANDB_API_KEY']}",
                    "env": {"AWS_SECRET_ACCESS_KEY": SECRETS["AWS_SECRET_ACCESS_KEY"]},
                    "proxy": SECRETS["HTTPS_PROXY"],
                }
            ]
        },
    )


def test_in_process_api_redacts_every_format(monkeypatch):
    ident = Identity(users=(USER,), homes=(HOME,), hosts=(HOST,))
    monkeypatch.setattr("gpudoctor.privacy._IDENTITY", ident)
    facts = _planted_facts()
    assert "hunter2pw" in json.dumps(facts.to_json())
    findings = run_checks(facts, list(load_registry(plugins=False)))
    report = Report(facts=facts, findings=findings, command=f"gpudoctor check -o {HOME}/r")
    outputs = []
    for fmt in ("text", "json", "markdown"):
        stream = io.StringIO()
        render(report, CheckRequest(fmt=fmt), stream, plain=True)
        outputs.append(stream.getvalue())
    clean = redact_report(report)
    outputs.append(render_ticket_markdown(clean, redacted=True))
    outputs.append(json.dumps(ticket_document(clean, redacted=True)))
    for text in outputs:
        assert _forbidden_found(text) == []
    doc = ticket_document(clean, redacted=True)
    assert doc["facts"]["gpu"]["devices"][0]["uuid"] == "GPU-<uuid-1>"
    assert doc["facts"]["processes"]["holders"][0]["user"] == "<user>"
    assert doc["facts"]["host"]["hostname"] == "<host>"
    assert doc["facts"]["env"]["variables"]["NCCL_SOCKET_IFNAME"] == "<ip-1>"
