"""Each class of wrong verdict found on real-world material, with the real example that showed it.

Sources of the examples are named per test; the corpora in tests/corpus hold the full inputs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from conftest import FIXTURES
from conftest import make_facts
from gpudoctor.api import GiB
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.facts.model import thaw
from gpudoctor.facts.sections import not_wsl_facts
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.model import Severity
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.host import probe_host
from gpudoctor.probes.nvidia import probe_gpu
from gpudoctor.probes.wsl import probe_wsl
from gpudoctor.readers.wslconfig import parse_wslconfig
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks
from gpudoctor.runner import run_one
from gpudoctor.testing.fake_nvml import FakeNvml
from test_gpu_checks import gpu_section
from test_gpu_nvml import A100
from test_gpu_nvml import RTX_4090

REGISTRY = load_registry(plugins=False)
MACHINES = Path(__file__).parent / "corpus" / "machines"


def findings(check_id: str, facts: Facts):
    return run_one(REGISTRY.get(check_id), facts)


def only(check_id: str, facts: Facts):
    (finding,) = [f for f in findings(check_id, facts) if not f.subject]
    return finding


def commands(finding) -> list[str]:
    return [c for r in finding.remedies for c in r.commands]


def texts(finding) -> str:
    return " ".join([finding.title, *(r.text for r in finding.remedies)])


# -- GD503: exact about what WSL skips ------------------------------------------------------


def given_file(data: bytes) -> Facts:
    """Facts for ``check --wslconfig FILE`` off WSL: host RAM unknown."""
    config = {
        "path": "/tmp/.wslconfig",
        "how": "given with --wslconfig",
        "given": True,
        "exists": True,
        "near_misses": [],
        "parsed": parse_wslconfig(data).to_json(),
    }
    section = not_wsl_facts("not WSL: native Linux", {"wslconfig": config, "signals": []})
    return make_facts(wsl=section)


def test_semicolon_comments_are_noise_not_lost_memory():
    # microsoft/WSL#7099: ';kernel=...' above memory=16GB
    finding = only("GD503", given_file(b"[wsl2]\n;kernel=C:\\\\k\\\\bz\nmemory=16GB\n"))
    assert finding.severity is Severity.INFO
    assert "memory" not in finding.title.split(";")[0] or "loses nothing" in finding.title


def test_unknown_key_is_a_warning_that_names_it_and_spares_memory():
    # 2chevskii/.dotfiles: pageReporting=true (removed in WSL 1.1.7)
    finding = only("GD503", given_file(b"[wsl2]\nmemory=8GB\npageReporting=true\n"))
    assert finding.severity is Severity.WARN
    assert "pageReporting" in finding.title
    assert "including" not in finding.title


def test_wsl_conf_header_alone_is_not_a_skipped_line():
    # microsoft/WSL#10510: WSL warns only on keys under [boot], never on the header
    finding = only("GD503", given_file(b"[wsl2]\nmemory=16GB\n[boot]\n# systemd=true\n"))
    assert finding.severity is Severity.PASS
    with_key = only("GD503", given_file(b"[wsl2]\nmemory=16GB\n[boot]\nsystemd=true\n"))
    assert with_key.severity is Severity.WARN
    assert "1 line" in with_key.title


def test_lost_budget_key_fails_and_names_it():
    # microsoft/WSL#8955: processor=4 instead of processors
    finding = only("GD503", given_file(b"[wsl2]\nmemory=8GB\nprocessor=4\n"))
    assert finding.severity is Severity.FAIL
    assert "processors=" in finding.title
    typo = only("GD503", given_file(b"[wsl2] memory=48GB\r\n".decode().encode("utf-16")))
    assert typo.severity is Severity.FAIL
    assert "memory=" in typo.title


def test_every_skipped_line_is_shown_or_counted():
    body = "[wsl2]\nmemory=16GB\n" + "".join(f"bogus{i}=1\n" for i in range(20))
    finding = only("GD503", given_file(body.encode()))
    labels = [e.label for e in finding.evidence]
    assert "and 8 more" in labels
    assert sum(1 for label in labels if label.startswith("line ")) == 12


# -- GD502 / GD504: unknown host RAM, given files off WSL ------------------------------------


def test_unknown_host_ram_is_said_not_fitted():
    finding = only("GD502", given_file(b"[wsl2]\nmemory=12GB\n"))
    assert finding.severity is Severity.INFO
    assert "unknown" in finding.title
    assert "fits" not in finding.title


def test_wrapped_negative_memory_is_not_a_fit():
    finding = only("GD502", given_file(b"[wsl2]\nmemory=-1\n"))
    assert finding.severity is Severity.WARN
    assert "TiB fits" not in finding.title


def test_powershell_silent_on_wsl_says_host_ram_unknown():
    facts = load_replay(MACHINES / "wsl2-host-ram-unknown-powershell-silent.json")
    finding = only("GD502", facts)
    assert finding.severity is Severity.INFO
    assert "no answer" in finding.title


def test_processors_limit_is_reported():
    doc = json.loads((FIXTURES / "wsl2-healthy.json").read_text())
    parsed = parse_wslconfig(b"[wsl2]\nmemory=24GB\nswap=8GB\nprocessors=32\n").to_json()
    doc["facts"]["wsl"]["wslconfig"]["parsed"] = parsed
    finding = only("GD502", Facts(doc["facts"]))
    (cpus,) = [e for e in finding.evidence if e.label == "processors"]
    assert "32 > 16" in str(cpus.value)


def test_swap_zero_in_a_given_file_is_judged_off_wsl():
    # Alex-D/dotfiles: swap=0
    finding = only("GD504", given_file(b"[wsl2]\nmemory=8GB\nswap=0\n"))
    assert finding.severity is Severity.WARN
    assert "no swap" in finding.title


def test_wsl_conf_parse_stop_is_reported():
    doc = json.loads((FIXTURES / "wsl2-healthy.json").read_text())
    from gpudoctor.readers.wslconfig import parse_wsl_conf

    conf = parse_wsl_conf(b"[boot]\nsystemd=true\nbad line\n[automount]\nroot=/\n")
    doc["facts"]["wsl"]["wsl_conf"] = {"path": "/etc/wsl.conf", "exists": True, **conf}
    found = {f.subject: f for f in findings("GD503", Facts(doc["facts"]))}
    assert found["wsl.conf"].severity is Severity.FAIL
    assert "stops reading" in found["wsl.conf"].title


# -- Docker Desktop is not a WSL distro ------------------------------------------------------


def test_docker_desktop_container_is_not_wsl(tmp_path):
    # docker/for-win#12903: a container on Docker Desktop's WSL2 kernel, no --gpus
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text("5.15.153.1-microsoft-standard-WSL2\n")
    (tmp_path / "proc/1").mkdir(parents=True)
    (tmp_path / "proc/1/cgroup").write_text("0::/\n")
    (tmp_path / ".dockerenv").write_text("")
    ctx = ProbeContext(root=tmp_path, env={"HOSTNAME": "a1b2"}, platform="linux")
    host = probe_host(ctx)
    wsl = probe_wsl(ctx)
    assert host["kind"] == "linux"
    assert host["container"]["runtime"] == "docker-desktop"
    assert isinstance(wsl, NotApplicable)
    assert "Docker Desktop" in wsl.reason
    facts = make_facts(host=host, wsl=wsl)
    finding = only("GD508", facts)
    assert finding.severity is Severity.SKIP
    assert "Docker Desktop" in finding.title
    replay = load_replay(MACHINES / "docker-desktop-cpu-container.json")
    assert all(f.severity.value in ("pass", "skip") for f in findings("GD508", replay))


def test_wsl_distro_with_docker_env_var_is_still_wsl(tmp_path):
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text("5.15.153.1-microsoft-standard-WSL2\n")
    ctx = ProbeContext(root=tmp_path, env={"WSL_DISTRO_NAME": "Ubuntu"}, platform="linux")
    assert probe_host(ctx)["kind"] == "wsl2"


# -- GD101: WSL remedies, PRIME, hangs, MIG ---------------------------------------------------


def test_wsl_driver_failure_gets_windows_remedies_not_reboot():
    # microsoft/WSL#9166: 'GPU access blocked by the operating system'
    facts = load_replay(MACHINES / "wsl2-linux-driver-inside-access-blocked.json")
    finding = only("GD101", facts)
    assert finding.severity is Severity.FAIL
    assert "sudo reboot" not in commands(finding)
    assert "wsl --shutdown" in commands(finding)
    assert "Windows" in texts(finding)


def test_hybrid_laptop_names_prime_and_power_state(tmp_path):
    # swuecho/chat#412: prime-select intel; the dGPU runtime-suspended on the PCI bus
    for address, vendor, cls in (
        ("0000:00:02.0", "0x8086", "0x030000"),
        ("0000:01:00.0", "0x10de", "0x030000"),
    ):
        base = tmp_path / "sys/bus/pci/devices" / address
        (base / "power").mkdir(parents=True)
        (base / "vendor").write_text(vendor + "\n")
        (base / "class").write_text(cls + "\n")
        (base / "power/runtime_status").write_text("suspended\n")
    ctx = ProbeContext(
        root=tmp_path,
        env={"PATH": ""},
        platform="linux",
        nvml_module=FakeNvml({"init_error": "DriverNotLoaded"}),
    )
    gpu = probe_gpu(ctx)
    assert gpu["pci_devices"][0]["runtime_status"] == "suspended"
    assert gpu["integrated_gpu"] is True
    finding = only("GD101", make_facts(gpu=thaw(gpu)))
    assert finding.severity is Severity.FAIL
    assert "PRIME/Optimus" in finding.title
    assert "suspended" in finding.title
    assert "sudo prime-select on-demand" in commands(finding)
    replay = only("GD101", load_replay(MACHINES / "hybrid-laptop-prime-intel.json"))
    assert "prime-select: intel" in replay.title


def test_hung_nvml_init_is_an_error_never_no_gpu():
    fake = FakeNvml({"hang": {"nvmlInit": 30.0}})
    try:
        ctx = ProbeContext(env={"PATH": ""}, platform="linux", nvml_module=fake)
        gpu = probe_gpu(ctx)
    finally:
        fake.release()
    finding = only("GD101", make_facts(gpu=thaw(gpu)))
    assert finding.severity is Severity.ERROR
    assert "No NVIDIA GPU" not in finding.title
    assert "nothing is wrong" not in texts(finding)


def test_hung_device_count_is_not_zero_gpus():
    gpu = gpu_section(RTX_4090)
    gpu["devices"] = Unavailable("nvmlDeviceGetCount did not return within 2 s (driver hung?)")
    finding = only("GD101", make_facts(gpu=gpu))
    assert finding.severity is Severity.ERROR
    assert all(e.value != "0" for e in finding.evidence)


def test_mig_says_one_instance_per_process():
    # pytorch/pytorch#102715: device_count() == 1 on a MIG A100 is expected
    gpu = gpu_section({**A100, "mig_mode": [1, 1]})
    (finding, *_) = findings("GD101", make_facts(gpu=gpu))
    assert finding.severity is Severity.PASS
    assert "one MIG instance" in finding.title


def test_memory_info_v2_records_the_driver_reserve():
    device = copy.deepcopy(A100)
    device["memory"] = {"total": 85899345920, "free": 85236645888, "used": 0, "reserved": 662700032}
    gpu = gpu_section(device)
    assert gpu["devices"][0]["memory_reserved_bytes"] == 662700032
    assert gpu["devices"][0]["memory_used_bytes"] == 0


# -- GD302, GD304, GD102 ---------------------------------------------------------------------


def test_light_swap_traffic_is_not_called_none():
    activity = {"seconds": 0.5, "pages_in_per_s": 59.0, "pages_out_per_s": 30.0}
    finding = only(
        "GD302",
        make_facts(memory__swap_activity=activity, memory__swap_free_bytes=1 * GiB),
    )
    assert "no swap traffic" not in finding.title.lower()
    assert "89 pages/s" in finding.title
    assert finding.severity is not Severity.PASS


def test_open_files_hard_limit_needs_raising_not_ulimit():
    limits = {"applicable": True, "nofile": {"soft": 256, "hard": 256, "source": "getrlimit"}}
    finding = only("GD304", make_facts(limits=limits))
    assert "ulimit -n 256" not in commands(finding)
    assert "hard limit" in texts(finding)
    raised = only("GD304", make_facts(limits={**limits, "nofile": {"soft": 256, "hard": 4096}}))
    assert "ulimit -n 4096" in commands(raised)


def test_laptop_power_brake_gets_laptop_remedies():
    laptop = {**RTX_4090, "name": "NVIDIA GeForce RTX 3060 Laptop GPU"}
    laptop["clocks_event_reasons"] = 0x80
    finding = only_subject("GD102", make_facts(gpu=gpu_section(laptop)), "GPU0")
    assert finding.severity is Severity.WARN
    assert "PCIe" not in texts(finding)
    assert "power adapter" in texts(finding)
    desktop = {**RTX_4090, "clocks_event_reasons": 0x80}
    assert "PCIe" in texts(only_subject("GD102", make_facts(gpu=gpu_section(desktop)), "GPU0"))


def only_subject(check_id: str, facts: Facts, subject: str):
    (finding,) = [f for f in findings(check_id, facts) if f.subject == subject]
    return finding


def test_every_machine_snapshot_runs_every_check():
    for path in sorted(MACHINES.glob("*.json")):
        assert run_checks(load_replay(path), list(REGISTRY))


def test_detachable_laptop_without_laptop_in_the_gpu_name_gets_laptop_remedies():
    # jakeday/linux-surface#501: Surface Book 2 on battery, "GeForce GTX 1060", power brake
    facts = load_replay(MACHINES / "surface-book-gtx1060-battery-power-brake.json")
    finding = only_subject("GD102", facts, "GPU0")
    assert "power adapter" in texts(finding)
    assert "PCIe" not in texts(finding)
    assert any("chassis type 32" in str(e.source) for e in finding.evidence)
