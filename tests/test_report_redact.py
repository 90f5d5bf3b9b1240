"""Redaction: placeholders are stable, identities and secrets vanish, versions survive."""

from __future__ import annotations

import json

from gpudoctor.facts.snapshot import facts_from_document
from gpudoctor.facts.snapshot import snapshot_document
from gpudoctor.privacy import Identity
from gpudoctor.privacy import Redactor
from gpudoctor.privacy import discover_identity
from gpudoctor.privacy import redact_data

ALICE = Identity(users=("alice",), homes=("/home/alice",), hosts=("gpubox-7", "gpubox-7.lab"))


def redactor() -> Redactor:
    return Redactor(ALICE)


def test_home_user_and_host_become_placeholders():
    r = redactor()
    out = r.text("/home/alice/.venvs/x/bin/python on gpubox-7.lab by alice (ssh alice@gpubox-7)")
    assert out == "<home>/.venvs/x/bin/python on <host> by <user> (ssh <user>@<host>)"


def test_windows_and_wsl_profiles_of_anyone_are_replaced_consistently():
    r = redactor()
    out = r.text(r"C:\Users\Bob\.wslconfig and /mnt/c/Users/bob/data and C:\Users\Public\x")
    assert (
        out == r"C:\Users\<user-2>\.wslconfig and /mnt/c/Users/<user-2>/data and C:\Users\Public\x"
    )
    assert r.text("/home/carol/x /mnt/d/Users/alice") == "/home/<user-3>/x /mnt/d/Users/<user>"


def test_addresses_and_gpu_ids_are_numbered_per_document():
    r = redactor()
    uuid = "GPU-1a2b3c4d-0000-1111-2222-333344445555"
    doc = {
        "a": f"{uuid} at 10.1.2.3 via 00:1a:2b:3c:4d:5e",
        "b": [f"again {uuid}", "10.1.2.3", "192.168.0.9", "fe80::1ff:fe23:4567:890a"],
    }
    out = r.value(doc)
    assert out["a"] == "GPU-<uuid-1> at <ip-1> via <mac-1>"
    assert out["b"] == ["again GPU-<uuid-1>", "<ip-1>", "<ip-2>", "<ip-3>"]


def test_versions_times_and_package_pins_are_not_taken_for_addresses():
    r = redactor()
    text = "nvidia-cublas-cu12==12.4.5.8 driver 550.120 Fri Sep 13 10:10:01 UTC 2024 std::vector"
    assert r.text(text) == text
    assert r.value({"cudnn_version": "9.1.0.70"}) == {"cudnn_version": "9.1.0.70"}
    assert r.value({"conda_packages": ["cudnn  9.1.0.70  pypi"]}) == {
        "conda_packages": ["cudnn  9.1.0.70  pypi"]
    }


def test_secrets_are_withheld_even_without_identity_redaction():
    r = Redactor(ALICE, identities=False)
    out = r.value(
        {
            "HF_TOKEN": "hf_abcdefghijklmnopqrstuvwxyz012345",
            "proxy": "http://bob:hunter2@proxy.corp:3128",
            "cmd": "WANDB_API_KEY=0123456789abcdef0123456789abcdef01234567 python train.py",
            "TORCH_LOGS": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00",
            "pkg": "tokenizers==0.19.1",
            "home": "/home/alice",
        }
    )
    dumped = json.dumps(out)
    for secret in ("hf_abc", "hunter2", "0123456789abcdef", "wJalrXUtnFEMI"):
        assert secret not in dumped
    assert out["pkg"] == "tokenizers==0.19.1"
    assert out["home"] == "/home/alice"  # identities kept with --no-redact


def test_redaction_is_idempotent():
    r = redactor()
    once = r.text("HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz http://u:p@h:1 /home/alice 10.0.0.1")
    assert Redactor(ALICE).text(once) == once


def test_identity_keys_and_serials():
    out = redact_data(
        {"procs": [{"user": "alice"}, {"user": "dave"}], "serial": "1652020012345"},
        identity=ALICE,
    )
    assert out == {"procs": [{"user": "<user>"}, {"user": "<user-2>"}], "serial": "<serial-1>"}


def test_discovered_identity_includes_the_environment():
    ident = discover_identity({"USER": "zed", "HOME": "/home/zed/", "HOSTNAME": "box.example"})
    assert "zed" in ident.users
    assert "/home/zed" in ident.homes
    assert {"box.example", "box"} <= set(ident.hosts)


def test_snapshot_document_is_redacted_and_still_replays(monkeypatch):
    from conftest import make_facts

    monkeypatch.setattr("gpudoctor.privacy._IDENTITY", ALICE)
    facts = make_facts(
        host__python__executable="/home/alice/.venvs/t/bin/python",
        env__variables={"CUDA_HOME": "/home/alice/cuda", "PATH": "/home/alice/bin"},
    )
    doc = redact_data(snapshot_document(facts, command="gpudoctor snapshot -o /home/alice/s.json"))
    assert "alice" not in json.dumps(doc)
    assert doc["facts"]["host"]["python"]["executable"] == "<home>/.venvs/t/bin/python"
    assert facts_from_document(doc).get("env.variables.CUDA_HOME") == "<home>/cuda"
    kept = redact_data(snapshot_document(facts), enabled=False)
    assert kept["facts"]["env"]["variables"]["PATH"] == "/home/alice/bin"


def _findings_to_redact():
    """Every recorded machine's findings, and findings full of what redaction replaces."""
    from conftest import FIXTURES
    from gpudoctor.facts.snapshot import load_replay
    from gpudoctor.model import Evidence
    from gpudoctor.model import Finding
    from gpudoctor.model import Remedy
    from gpudoctor.model import Severity
    from gpudoctor.registry import load_registry
    from gpudoctor.runner import run_checks

    registry = list(load_registry(plugins=False))
    findings = []
    for path in sorted(FIXTURES.glob("*.json")):
        findings += run_checks(load_replay(path), registry)
    findings.append(
        Finding(
            "GD999",
            "holder-check",
            Severity.WARN,
            "gpubox-7 holds GPU-1a2b3c4d-0000-1111-2222-333344445555 at 10.1.2.3",
            "/home/alice/run.py",
            (
                Evidence("cmdline", "python /home/bob/x.py --token=ghp_" + "a" * 36, "10.1.2.3"),
                Evidence("version", "12.4.1", "/home/alice/.venv"),
                Evidence("AWS_SECRET_ACCESS_KEY", "x" * 40),
            ),
            (Remedy("ssh alice@gpubox-7", ("kill 42", "rm /home/alice/x"), ("linux",)),),
            fix="kill-stale",
            reference="https://user:pw@example.com/x",
            details="Traceback in /home/alice/x.py at 10.1.2.4",
        )
    )
    return findings


def test_a_finding_redacts_as_its_json_form_does():
    """The field-by-field path and the JSON walk agree, placeholders numbered alike."""
    from gpudoctor.model import Finding

    findings = _findings_to_redact()
    direct, walked = Redactor(ALICE), Redactor(ALICE)
    for finding in findings:
        assert direct.finding(finding) == Finding.from_json(walked.value(finding.to_json()))
    last = Redactor(ALICE).finding(findings[-1])
    assert "alice" not in repr(last)
    assert "10.1.2.3" not in repr(last)
    assert last.title == "<host> holds GPU-<uuid-1> at <ip-1>"
    assert last.evidence[0].source == "<ip-1>"  # the same address, the same placeholder
