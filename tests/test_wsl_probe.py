"""The wsl probe on this (native Linux) machine and on a recorded WSL2 tree."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from conftest import REPO
from conftest import make_facts
from gpudoctor.checks import wsl as wsl_checks
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.procfs import mount_of
from gpudoctor.probes.procfs import parse_mountinfo
from gpudoctor.probes.wsl import probe_wsl
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks

GiB = 1024**3
WSL_IDS = [f"GD50{i}" for i in range(1, 10)]


def _wsl_findings(facts):
    specs = [s for s in load_registry(plugins=False) if s.id in WSL_IDS]
    found = run_checks(facts, specs)
    return {f.check_id + (f"@{f.subject}" if f.subject else ""): f for f in found}


def test_native_linux_probe_is_not_applicable_and_checks_skip_with_reason():
    facts = probe_wsl(ProbeContext())
    assert isinstance(facts, NotApplicable)
    assert "not WSL" in facts.reason
    findings = _wsl_findings(make_facts(wsl=facts))
    assert sorted(findings) == WSL_IDS  # one skip each, no per-subject findings
    for finding in findings.values():
        assert finding.severity.value == "skip"
        assert "not WSL" in finding.title


def test_wslconfig_option_validates_a_file_off_wsl(tmp_path):
    config = tmp_path / ".wslconfig"
    config.write_bytes(b"[wsl2]\nmemory=16 GB\nswap=8GB\n")
    facts = probe_wsl(ProbeContext(options={"wslconfig": str(config)}))
    assert isinstance(facts["vm"], NotApplicable)
    assert isinstance(facts["version"], NotApplicable)
    assert facts["wslconfig"]["parsed"]["swap_bytes"] == 8 * GiB
    findings = _wsl_findings(make_facts(wsl=facts))
    assert findings["GD503"].severity.value == "fail"
    assert any("16GB" in e.value for e in findings["GD503"].evidence)
    assert findings["GD505"].severity.value == "skip"
    assert "needs WSL" in findings["GD505"].title
    assert findings["GD501"].severity.value == "skip"


def test_check_cli_with_wslconfig_reports_line_numbers(tmp_path, cli):
    config = tmp_path / ".wslconfig"
    config.write_bytes(b"memory=8GB\n[wsl2]\nswap=4GB\n")
    done = cli("check", "--wslconfig", str(config), "--select", "GD503", "-f", "json")
    report = json.loads(done.stdout)
    (finding,) = [f for f in report["findings"] if f["id"] == "GD503"]
    assert finding["severity"] == "fail"
    assert any(e["label"] == "line 1" for e in finding["evidence"])
    missing = cli("check", "--wslconfig", str(tmp_path / "nope"))
    assert missing.returncode == 2


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _wsl_tree(tmp_path: Path, *, with_config: bytes | None) -> tuple[Path, Path]:
    root = tmp_path / "root"
    for folder in ("proc/sys/kernel", "proc/self", "dev", "etc", "usr/lib/wsl/lib", "var/lib/dpkg"):
        (root / folder).mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("5.15.167.4-microsoft-standard-WSL2\n")
    (root / "proc/meminfo").write_text("MemTotal:  8014180 kB\nSwapTotal: 2097152 kB\n")
    (root / "proc/self/mountinfo").write_text(
        "25 1 8:32 / / rw,relatime - ext4 /dev/sdc rw\n"
        "60 25 0:50 / /mnt/d rw,noatime - 9p drvfs rw,aname=drvfs;path=D:\\\n"
    )
    (root / "dev/dxg").write_text("")
    (root / "usr/lib/wsl/lib/libcuda.so.1").write_text("")
    (root / "etc/wsl.conf").write_text("[boot]\nsystemd=true\n")
    (root / "var/lib/dpkg/status").write_text(
        "Package: nvidia-utils-550\nStatus: install ok installed\n\n"
        "Package: bash\nStatus: install ok installed\n"
    )
    profile = root / "mnt/c/Users/me"
    profile.mkdir(parents=True)
    if with_config is not None:
        (profile / ".wslconfig").write_bytes(with_config)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir, "cmd.exe", "echo 'C:\\Users\\me|16'\n")
    _script(bin_dir, "wslpath", f"echo '{profile}'\n")
    _script(bin_dir, "powershell.exe", "echo 17179869184\n")
    return root, bin_dir


def test_recorded_wsl2_tree_with_interop_stand_ins(tmp_path):
    root, bin_dir = _wsl_tree(tmp_path, with_config=None)
    ctx = ProbeContext(
        root=root,
        env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "WSL_DISTRO_NAME": "Ubuntu"},
        options={"data": "/mnt/d/datasets/cifar", "cwd": "/home/me/project"},
        platform="linux",
    )
    facts = probe_wsl(ctx)
    assert not isinstance(facts, NotApplicable)
    assert facts["version"] == 2
    assert facts["windows_host"]["ram_bytes"] == 16 * GiB
    assert facts["windows_host"]["logical_processors"] == 16
    assert facts["wslconfig"]["path"].endswith("mnt/c/Users/me/.wslconfig")
    assert "cmd.exe" in facts["wslconfig"]["how"]
    assert facts["wslconfig"]["exists"] is False
    assert facts["wsl_conf"]["values"] == {"boot.systemd": "true"}
    assert facts["gpu"]["driver_packages"] == ["nvidia-utils-550"]
    assert facts["gpu"]["wsl_libcuda"] == ["/usr/lib/wsl/lib/libcuda.so.1"]
    data = [p for p in facts["paths"] if p["role"] == "data"][0]
    assert (data["fstype"], data["windows_drive"]) == ("9p", True)
    sections = {"host": {"kind": "wsl2"}, "wsl": facts}
    findings = _wsl_findings(Facts({**make_facts().to_json(), **sections}))
    assert findings["GD501"].severity.value == "warn"
    assert "16.0 GiB" in findings["GD501"].title
    assert findings["GD506@data"].severity.value == "warn"
    assert findings["GD506@cwd"].severity.value == "pass"
    assert findings["GD507"].severity.value == "fail"
    assert findings["GD508"].severity.value == "pass"


def test_scan_fallback_when_interop_is_off(tmp_path):
    root, _ = _wsl_tree(tmp_path, with_config=b"[wsl2]\nmemory=6GB\n")
    (root / "etc/wsl.conf").write_text("[interop]\nenabled=false\n")
    ctx = ProbeContext(root=root, env={"PATH": "/nonexistent"}, platform="linux")
    facts = probe_wsl(ctx)
    assert facts["interop"].startswith("disabled")
    assert "scan of" in facts["wslconfig"]["how"]
    assert facts["wslconfig"]["parsed"]["memory_bytes"] == 6 * GiB
    ram = facts["windows_host"]["ram_bytes"]
    assert isinstance(ram, Unavailable)
    assert ram.reason.startswith("host RAM unknown")


def test_mountinfo_longest_prefix_and_escapes():
    mounts = parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda rw\n2 1 0:5 / /mnt/my\\040disk rw - 9p drvfs rw\n"
    )
    assert mount_of("/mnt/my disk/x", mounts).fstype == "9p"
    assert mount_of("/home/me", mounts).fstype == "ext4"


def test_reference_pages_exist_for_every_wsl_check():
    for spec in load_registry(plugins=False):
        if spec.id in WSL_IDS:
            page = REPO / "checks" / f"{spec.id}.md"
            assert page.read_text().startswith(f"# {spec.id} {spec.name}")
    assert wsl_checks.HOST_RESERVE == 3 * GiB  # noqa: SIM300


def test_wsl1_marks_the_vm_and_gpu_not_applicable_and_the_vm_checks_skip(tmp_path):
    """WSL1 (a Microsoft kernel release without the WSL2 suffix, no /dev/dxg): the facts say
    there is no VM and no GPU, and every check that needs them skips with that reason."""
    root, bin_dir = _wsl_tree(tmp_path, with_config=b"[wsl2]\nmemory=6GB\n")
    (root / "proc/sys/kernel/osrelease").write_text("4.4.0-19041-Microsoft\n")
    (root / "dev/dxg").unlink()
    ctx = ProbeContext(
        root=root,
        env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "WSL_DISTRO_NAME": "Ubuntu"},
        options={"data": "/mnt/d/datasets/cifar"},
        platform="linux",
    )
    facts = probe_wsl(ctx)
    assert facts["version"] == 1
    for key in ("vm", "gpu"):
        assert isinstance(facts[key], NotApplicable)
        assert "WSL1 has no VM" in facts[key].reason
    sections = {"host": {"kind": "wsl1"}, "wsl": facts}
    findings = _wsl_findings(Facts({**make_facts().to_json(), **sections}))
    assert findings["GD508"].severity.value == "fail"  # the one WSL1 problem: no GPU
    for check_id in ("GD501", "GD506", "GD507", "GD509"):
        assert findings[check_id].severity.value == "skip", check_id
        assert "WSL1 has no VM" in findings[check_id].title
