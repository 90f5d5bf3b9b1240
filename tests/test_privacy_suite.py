"""Planted secrets reach no output: a real GPU-holding process, the environment, paths,
a snapshot, two reports and a diff, in every format.

Over a hundred spellings are planted: secret flags in every spelling, environment-style
pairs, URLs with credentials and token-only user-info and sensitive query parameters,
bearer/basic headers, token shapes, private-key blocks and identities (user, home, host,
IP addresses also as ``addr=IP``, MAC, serial, e-mail, cloud host names). The process
holds a stand-in GPU device the way ``gpu_holder_helper.py`` does, so it shows up in the
GPU holder table with its full command line. Every output is then searched: 0 found.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from gpudoctor.facts.snapshot import facts_from_document
from gpudoctor.facts.snapshot import snapshot_document
from gpudoctor.privacy import REDACTED
from gpudoctor.privacy import Identity
from gpudoctor.privacy import redact_data
from gpudoctor.probes import ProbeContext
from gpudoctor.probes import all_probes
from gpudoctor.probes.gather import gather
from gpudoctor.registry import load_registry
from gpudoctor.report.ticket import render_ticket_markdown
from gpudoctor.report.ticket import ticket_document
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks
from gpudoctor.session import CheckRequest
from gpudoctor.session import render
from gpudoctor.testing.fake_nvml import FakeNvml

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the holder table reads /proc"
)

HELPER = str(Path(__file__).with_name("gpu_holder_helper.py"))
USER = "zelda-k4"
HOME = f"/home/{USER}"
HOST = "trainbox-k4"
GPU_UUID = "GPU-5e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"
MIG_UUID = "MIG-9a8b7c6d-5e4f-3a2b-1c0d-ffeeddccbbaa"
GIT_HASH = "e2d141dbde55c2a4370fac5165b0561b6af4798b"

#: Secret-carrying flag names, in the spellings people use.
FLAG_NAMES = [
    "password",
    "passwd",
    "pwd",
    "pass",
    "token",
    "auth-token",
    "auth_token",
    "access-token",
    "accessToken",
    "api-key",
    "api_key",
    "apiKey",
    "apikey",
    "API-KEY",
    "secret",
    "client-secret",
    "secret_key",
    "key",
    "private-key",
    "credentials",
    "cookie",
    "session",
    "session-id",
    "signature",
    "hf-token",
    "hf_token",
    "wandb-key",
    "wandb_api_key",
    "aws-secret-access-key",
    "db-password",
]


def _value(i: int) -> str:
    return f"Pl4nt{i:03d}q"


def planted() -> tuple[list[str], dict[str, str], list[str], list[str]]:
    """(argv words, environment, forbidden strings, must-survive strings)."""
    argv: list[str] = []
    forbidden: list[str] = []
    n = 0

    def secret() -> str:
        nonlocal n
        n += 1
        forbidden.append(_value(n))
        return _value(n)

    for name in FLAG_NAMES:  # --x=v and --x v for every name: 60 spellings
        argv.append(f"--{name}={secret()}")
        argv += [f"--{name}", secret()]
    argv += ["-p", secret()]  # mysql-style short flag
    for name in ("PASSWORD", "HF_TOKEN", "OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWD"):
        argv.append(f"{name}={secret()}")  # env-style pairs
    argv.append(f"password: {secret()}")  # YAML-ish
    argv.append(json.dumps({"api_key": secret(), "token": secret()}))  # JSON-ish
    argv.append(f"X-Api-Key: {secret()}")
    argv.append(f"Authorization: Bearer {secret()}")
    argv.append(f"Authorization: Basic {secret()}=")
    argv.append(f"Cookie: sessionid={secret()}")
    argv.append(f"https://u{n}:{secret()}@pypi.corp.example/simple")
    argv.append(f"https://{secret()}:@pypi.corp.example/simple")  # token-only user-info
    argv.append(f"https://{secret()}@git.corp.example/r.git")
    argv.append(f"https://h.example/simple?auth={secret()}&x=1")
    argv.append(f"https://s3.example/b?X-Amz-Signature={secret()}&X-Amz-Credential={secret()}")
    argv.append(f"https://blob.example/c?sv=2022&sig={secret()}")
    shapes = [
        "sk-ant-api03-Qw3rTy8UiOpAsDfGh",
        "sk-proj-Zx8Cv7Bn6Mm5Ll4Kk3Jj2",
        "sk-Hh1Gg2Ff3Dd4Ss5Aa6Qq7Ww8",
        "ghp_Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9",
        "github_pat_11AAAAAAA0BbCcDdEeFfGg_HhIiJjKk",
        "hf_QqWwEeRrTtYyUuIiOoPp12",
        "xoxb-123456789012-ZyXwVuTsRq",
        "AKIAZ7Y6X5W4V3U2T1S0",
        "glpat-Mm9Nn8Bb7Vv6Cc5X",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ6ZWxkYSJ9.Sg5Fx0pQ",
    ]
    argv += shapes
    forbidden += shapes
    argv.append(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAPlantedKey\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    forbidden.append("b3BlbnNzaC1rZXktdjEAAAAPlantedKey")
    identity = [
        f"--data={HOME}/datasets/imagenet",
        f"--log=/home/{USER}/logs",
        f"--host={HOST}",
        "--master_addr=10.20.30.40",
        "--master-addr",
        "10.20.30.41",
        "addr=192.168.77.5",
        "ssh ops@172.16.9.3",
        "--node ip-10-0-0-1.ec2.internal",
        "ip-172-31-5-9",
        "--mac=00:1a:2b:3c:4d:5f",
        "--contact=zelda.k4@example.org",
        "--serial-number=1652020099887",
        f"fe80::1ff:fe23:4567:890b {GPU_UUID}",
    ]
    argv += identity
    forbidden += [
        USER,
        HOST,
        "10.20.30.40",
        "10.20.30.41",
        "192.168.77.5",
        "172.16.9.3",
        "ip-10-0-0-1",
        "ip-172-31-5-9",
        "00:1a:2b:3c:4d:5f",
        "zelda.k4@example.org",
        "1652020099887",
        "fe80::1ff:fe23:4567:890b",
        "5e1f2a3b-4c5d",
        "9a8b7c6d-5e4f",
    ]
    env = {
        "USER": USER,
        "LOGNAME": USER,
        "HOME": HOME,
        "HOSTNAME": HOST,
        "PATH": f"{HOME}/.local/bin:/usr/bin:/bin",
        "CONDA_PREFIX": f"{HOME}/miniconda3/envs/t",
        "VIRTUAL_ENV": f"/mnt/c/Users/{USER}/venvs/t",
        "PIP_INDEX_URL": f"https://u:{secret()}@pypi.corp.example/simple",
        "PIP_EXTRA_INDEX_URL": f"https://pypi.corp.example/simple?token={secret()}",
        "CUDA_VISIBLE_DEVICES": f"{MIG_UUID},{GPU_UUID}",
        "NCCL_SOCKET_IFNAME": "10.99.88.77",
        "TORCH_LOGS": f"+dynamo,api_key={secret()}",
    }
    forbidden += ["10.99.88.77"]
    return argv, env, forbidden, ["9.1.0.70", GIT_HASH]


def _nvml(pid: int) -> FakeNvml:
    return FakeNvml(
        {
            "driver_version": "550.120",
            "cuda_driver_version": 12040,
            "devices": [
                {
                    "name": "NVIDIA A100-SXM4-80GB",
                    "uuid": GPU_UUID,
                    "serial": "1652020011223",
                    "mig_mode": [1, 1],
                    "memory": {"total": 80 * 1024**3, "free": 70 * 1024**3, "used": 10 * 1024**3},
                    "processes": [{"pid": pid, "used_gpu_memory": 2 * 1024**3}],
                }
            ],
        }
    )


@pytest.fixture
def holder(tmp_path: Path) -> Any:
    argv, env, forbidden, keep = planted()
    device = tmp_path / "nvidia0"
    device.write_bytes(b"stand-in GPU device\n")
    ready = tmp_path / "holder.ready"
    child = subprocess.Popen(
        [sys.executable, HELPER, "hold", str(device), str(ready), *argv],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield device, child.pid, argv, env, forbidden, keep
    finally:
        child.kill()
        child.wait(10)


def _outputs(report: Report) -> dict[str, str]:
    out: dict[str, str] = {}
    for fmt in ("text", "json", "markdown"):
        stream = io.StringIO()
        render(report, CheckRequest(fmt=fmt, verbose=True), stream, plain=True)
        out[f"check-{fmt}"] = stream.getvalue()
    from gpudoctor.privacy import redact_report

    clean = redact_report(report)
    out["report-markdown"] = render_ticket_markdown(clean, redacted=True, limit=10**7)
    out["report-json"] = json.dumps(ticket_document(clean, redacted=True))
    out["snapshot"] = json.dumps(redact_data(snapshot_document(report.facts, report.command)))
    return out


def test_planted_secrets_reach_no_output(holder, tmp_path, monkeypatch, cli):
    device, pid, argv, env, forbidden, keep = holder
    assert len(forbidden) >= 100
    monkeypatch.setattr(
        "gpudoctor.privacy._IDENTITY", Identity(users=(USER,), homes=(HOME,), hosts=(HOST,))
    )
    ctx = ProbeContext(
        env=env,
        options={
            "gpu_device_paths": [str(device)],
            "gpu_map_markers": [],
            "cpu_sample_seconds": 0.2,
        },
        nvml_module=_nvml(pid),
    )
    facts = gather(ctx, all_probes(), budget=20)
    rows = [r for r in facts.get("gpu_processes.processes") or [] if r.get("pid") == pid]
    assert rows, "the planted process is in the GPU holder table"
    raw = rows[0]["cmdline"]
    assert _value(1) in raw  # the checks see it raw
    assert "AKIAZ7Y6X5W4V3U2T1S0" in raw
    assert facts.get("env.variables.CUDA_VISIBLE_DEVICES") == env["CUDA_VISIBLE_DEVICES"]
    # torch's facts as a real install reports them: a git hash and the bundled cuDNN.
    sections = facts.to_json()
    sections["torch"] = {
        **(sections.get("torch") if isinstance(sections.get("torch"), dict) else {}),
        "installs": [
            {
                "version": "2.5.1+cu124",
                "git_version": GIT_HASH,
                "wheel_tags": ["cp311-cp311-manylinux_2_17_x86_64"],
            }
        ],
        "bundled_libraries": {"nvidia-cudnn-cu12": "9.1.0.70"},
        "cudnn_version": "9.1.0.70",
    }
    facts = facts_from_document(
        {
            "format": "gpudoctor-snapshot",
            "schema_version": facts.schema_version,
            "facts": sections,
            "probes": facts.probes_json(),
        }
    )
    findings = run_checks(facts, [s for s in load_registry(plugins=False) if not s.deep])
    command = f"gpudoctor check -o {HOME}/r.json --token {_value(1)}"
    report = Report(facts=facts, findings=findings, command=command)
    outputs = _outputs(report)

    # The command line is cut for display *after* redaction; show it whole once to prove
    # every planted value was redacted, not merely cut off.
    monkeypatch.setattr("gpudoctor.privacy.CMDLINE_MAX", 10**6)
    whole = _outputs(report)
    shown = json.loads(whole["check-json"])
    row = next(r for r in shown["facts"]["gpu_processes"]["processes"] if r.get("pid") == pid)
    assert row["cmdline"].count(REDACTED) >= 80
    outputs.update({f"whole-{k}": v for k, v in whole.items()})

    # Replay the snapshot and the JSON report, and diff them: two more reports and a diff.
    snap = tmp_path / "snap.json"
    snap.write_text(outputs["snapshot"])
    rep = tmp_path / "report.json"
    rep.write_text(outputs["check-json"])
    for name, args in {
        "replay-text": ("check", "--replay", str(snap)),
        "replay-markdown": ("report", "--replay", str(rep)),
        "diff-text": ("diff", str(snap), str(rep)),
        "diff-json": ("diff", str(snap), str(rep), "--format", "json"),
    }.items():
        done = cli(*args, env=env)
        assert done.returncode in (0, 1), done.stderr
        outputs[name] = done.stdout + done.stderr

    leaks = {
        name: [s for s in forbidden if s.lower() in text.lower()] for name, text in outputs.items()
    }
    assert {k: v for k, v in leaks.items() if v} == {}
    for name in ("check-json", "report-json", "snapshot"):
        for word in keep:
            assert word in outputs[name], (name, word)  # versions and hashes survive
    gd206 = next(f for f in findings if f.check_id == "GD206")
    assert gd206.severity.value == "pass", gd206.title
