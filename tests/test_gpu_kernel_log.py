"""Xid events from the kernel log, read through real (stand-in) dmesg/journalctl programs."""

from __future__ import annotations

import os
import stat

from gpudoctor.checks.xid_codes import describe_xid
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.kernel_log import parse_xid_events
from gpudoctor.probes.kernel_log import probe_kernel_log

XID_79 = (
    "[ 8123.456789] NVRM: Xid (PCI:0000:41:00): 79, pid=3120, name=python, "
    "GPU has fallen off the bus."
)
JOURNAL_XID_13 = (
    "[ 7001.000001] somehost kernel: NVRM: Xid (PCI:0000:01:00): 13, pid='<unknown>', "
    "name=<unknown>, Graphics Exception: ESR 0x404600=0x80000001"
)


def tool(directory, name, body):
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def context(tmp_path):
    (tmp_path / "proc").mkdir(exist_ok=True)
    (tmp_path / "proc" / "uptime").write_text("9000.50 17000.00\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    return ProbeContext(root=tmp_path, platform="linux", env={"PATH": str(bin_dir)}), bin_dir


def test_parse_keeps_code_pci_pid_and_boot_time():
    [event] = parse_xid_events("[ 1.0] usb 1-1: new device\n" + XID_79)
    assert event["code"] == 79
    assert event["pci"] == "0000:41:00"
    assert event["pid"] == 3120
    assert event["seconds_since_boot"] == 8123.456789
    assert event["message"].startswith("NVRM: Xid")


def test_dmesg_is_read_first(tmp_path):
    ctx, bin_dir = context(tmp_path)
    tool(bin_dir, "dmesg", f"echo '[ 5.0] something else'\necho '{XID_79}'")
    facts = probe_kernel_log(ctx)
    assert facts["source"] == "dmesg"
    assert [e["code"] for e in facts["xid_events"]] == [79]
    assert facts["uptime_seconds"] == 9000.5


def test_restricted_dmesg_falls_back_to_the_journal_without_host_names(tmp_path):
    ctx, bin_dir = context(tmp_path)
    tool(
        bin_dir,
        "dmesg",
        "echo 'dmesg: read kernel buffer failed: Operation not permitted' >&2\nexit 1",
    )
    tool(bin_dir, "journalctl", f'echo "{JOURNAL_XID_13}"')
    facts = probe_kernel_log(ctx)
    assert facts["source"] == "journalctl -k"
    [event] = facts["xid_events"]
    assert event["code"] == 13
    assert event["pid"] is None
    assert "somehost" not in event["message"]


def test_unreadable_log_is_unavailable_not_empty(tmp_path):
    ctx, bin_dir = context(tmp_path)
    tool(
        bin_dir,
        "dmesg",
        "echo 'dmesg: read kernel buffer failed: Operation not permitted' >&2\nexit 1",
    )
    facts = probe_kernel_log(ctx)  # journalctl is not installed in this PATH
    assert isinstance(facts["xid_events"], Unavailable)
    assert "Operation not permitted" in facts["xid_events"].reason
    assert "journalctl is not installed" in facts["xid_events"].reason


def test_hung_dmesg_is_cut_off_and_the_journal_used(tmp_path):
    ctx, bin_dir = context(tmp_path)
    tool(bin_dir, "dmesg", "exec /bin/sleep 30")
    tool(bin_dir, "journalctl", f"echo '{XID_79}'")
    facts = probe_kernel_log(ctx)
    assert facts["source"] == "journalctl -k"
    assert facts["xid_events"][0]["code"] == 79


def test_not_applicable_off_linux(tmp_path):
    facts = probe_kernel_log(ProbeContext(root=tmp_path, platform="win32", env={}))
    assert isinstance(facts, NotApplicable)
    assert "Linux only" in facts.reason


def test_live_kernel_log_gives_events_or_a_reason():
    facts = probe_kernel_log(ProbeContext(env=dict(os.environ)))
    events = facts["xid_events"]
    assert isinstance(events, (list, Unavailable))


def test_xid_table_has_remedies_for_common_codes():
    assert describe_xid(79).severity == "fail"
    assert "bus" in describe_xid(79).meaning
    assert describe_xid(45).severity == "info"
    assert "catalogue" in describe_xid(12345).remedy
