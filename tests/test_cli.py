"""The command line as a user meets it: exit codes, formats, replay, and bad input."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import FIXTURES
from conftest import REPO
from conftest import run_cli

SCHEMA = json.loads((REPO / "src/gpudoctor/schemas/report.schema.json").read_text())
HEALTHY = FIXTURES / "linux-workstation-healthy.json"
SHM = FIXTURES / "docker-shm-64m.json"


def test_check_on_this_machine_explains_missing_gpu_and_never_exits_2():
    result = run_cli("check", "--no-plugins")
    assert result.returncode in (0, 1), result.stderr
    assert "GD101" in result.stdout
    assert "Traceback" not in result.stderr
    # Not a TTY: plain ASCII marks, no ANSI colour codes.
    assert "\x1b[" not in result.stdout
    assert any(mark in result.stdout for mark in ("[+]", "[i]", "[!]", "[x]"))


def test_json_report_validates_against_schema():
    result = run_cli("check", "--format", "json", "--no-plugins")
    assert result.returncode in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["summary"]["exit_code"] == result.returncode


def test_replay_of_live_snapshot_reproduces_findings(tmp_path):
    snapshot = tmp_path / "machine.json"
    assert run_cli("snapshot", "-o", str(snapshot)).returncode == 0
    live = run_cli("check", "--replay", str(snapshot), "--format", "json", "--no-plugins")
    again = run_cli("check", "--replay", str(snapshot), "--format", "json", "--no-plugins")
    first, second = json.loads(live.stdout), json.loads(again.stdout)
    assert first["findings"] == second["findings"]
    assert first["facts"] == json.loads(snapshot.read_text())["facts"]


def test_json_report_itself_replays_to_the_same_findings(tmp_path):
    report = tmp_path / "report.json"
    first = run_cli("check", "--replay", str(SHM), "-f", "json", "-o", str(report), "--no-plugins")
    assert first.returncode == 1
    again = run_cli("check", "--replay", str(report), "-f", "json", "--no-plugins")
    assert json.loads(again.stdout)["findings"] == json.loads(report.read_text())["findings"]


def test_exit_code_one_for_failures_and_zero_when_healthy():
    assert run_cli("check", "--replay", str(SHM), "--no-plugins").returncode == 1
    assert run_cli("check", "--replay", str(HEALTHY), "--no-plugins").returncode == 0
    # --strict counts info findings (the healthy machine has one for open files).
    assert run_cli("check", "--replay", str(HEALTHY), "--strict", "--no-plugins").returncode == 1


def test_select_and_ignore_by_id_prefix_and_name():
    result = run_cli(
        "check",
        "--replay",
        str(SHM),
        "--select",
        "GD3",
        "--ignore",
        "dev-shm-size",
        "-f",
        "json",
        "--no-plugins",
    )
    ids = {f["id"] for f in json.loads(result.stdout)["findings"]}
    assert ids == {"GD301", "GD302", "GD304"}
    assert result.returncode == 0


def test_markdown_puts_verdict_first_and_facts_in_details():
    result = run_cli("check", "--replay", str(SHM), "-f", "markdown", "--no-plugins")
    text = result.stdout
    assert text.index("Verdict") < text.index("GD303") < text.index("<details>")
    assert "</details>" in text
    assert "```json" in text


def test_no_color_forces_ascii_even_in_text(tmp_path):
    result = run_cli("check", "--replay", str(SHM), "--no-plugins", env={"NO_COLOR": "1"})
    assert "[x] GD303" in result.stdout
    assert "✗" not in result.stdout
    assert "\x1b[" not in result.stdout


def test_verbose_shows_probe_timings():
    result = run_cli("check", "-v", "--no-plugins")
    assert "Probe timings" in result.stdout
    assert "memory" in result.stdout


def _assert_usage_error(result, fragment):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any(fragment in line for line in lines), result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        (b'{"format": "gpudoctor-snapshot", "schema_version": 1, "facts": {"ho', "truncated"),
        (b"this is not json", "not valid JSON"),
        (b"", "empty"),
        (b'{"format": "something-else"}', "not a gpudoctor replay file"),
        (b'{"format": "gpudoctor-snapshot", "schema_version": 99, "facts": {}}', "schema 99"),
        (b"\xff\xfe\x00\x01garbage", "not UTF-8"),
    ],
    ids=["missing", "truncated", "not-json", "empty", "wrong-format", "newer-schema", "binary"],
)
def test_bad_replay_files_give_one_line_and_exit_2(tmp_path, content, fragment):
    path = tmp_path / "machine.json"
    if content is not None:
        path.write_bytes(content)
    _assert_usage_error(run_cli("check", "--replay", str(path)), fragment)


def test_unknown_check_id_is_a_usage_error():
    _assert_usage_error(run_cli("check", "--select", "GD999"), "unknown check 'GD999'")
    _assert_usage_error(run_cli("explain", "XYZ123"), "unknown check")


def test_unwritable_output_path_is_a_usage_error(tmp_path):
    missing_dir = tmp_path / "nope" / "report.json"
    _assert_usage_error(run_cli("check", "-o", str(missing_dir)), "does not exist")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        if not os.access(locked, os.W_OK):
            _assert_usage_error(run_cli("check", "-o", str(locked / "r.json")), "permission")
    finally:
        os.chmod(locked, 0o700)
    # Root passes permission checks, but no one may create files in /proc.
    result = run_cli("check", "--replay", str(SHM), "-o", "/proc/gpudoctor-report.txt")
    _assert_usage_error(result, "cannot write /proc/gpudoctor-report.txt")


def test_output_file_is_written_and_nothing_on_stdout(tmp_path):
    out = tmp_path / "report.md"
    result = run_cli("check", "--replay", str(SHM), "-f", "markdown", "-o", str(out))
    assert result.stdout == ""
    assert out.read_text().startswith("## gpudoctor report")


def test_explain_prints_reference_page():
    result = run_cli("explain", "GD303")
    assert result.returncode == 0
    assert result.stdout.startswith("# GD303 dev-shm-size")
    assert "## Remedies" in result.stdout
    assert run_cli("explain", "dev-shm-size").stdout == result.stdout


def test_list_shows_every_builtin_check():
    result = run_cli("list", "--format", "json")
    ids = {c["id"] for c in json.loads(result.stdout)}
    assert {"GD101", "GD301", "GD302", "GD303", "GD304", "GD900", "GD902"} <= ids


def test_version_and_module_entry_point():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("gpudoctor ")


def test_help_teaches_with_examples():
    result = run_cli("--help")
    assert "gpudoctor check" in result.stdout
    assert "Exit codes" in result.stdout
    assert Path(REPO / "README.md").read_text().count("gpudoctor check") >= 1


def test_skipped_checks_fold_into_one_line_unless_verbose():
    quiet = run_cli("check", "--replay", str(SHM), "--no-plugins")
    skip_lines = [line for line in quiet.stdout.splitlines() if "[-]" in line]
    assert len(skip_lines) == 1
    assert skip_lines[0].startswith("[-] not applicable here: ")
    verbose = run_cli("check", "--replay", str(SHM), "--no-plugins", "-v")
    assert sum("[-] GD" in line for line in verbose.stdout.splitlines()) > 1


def _commands(group, prefix=()):
    import click

    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_number_option_refuses_nan_and_infinity():
    """One option type for every float, so no command accepts ``nan`` (it passes any bound)."""
    import click

    from gpudoctor.cli import main
    from gpudoctor.commands.options import FiniteFloatRange

    loose = [
        f"{' '.join(path)} {param.name}"
        for path, command in _commands(main)
        for param in command.params
        if isinstance(param.type, (click.types.FloatParamType, click.FloatRange))
        and not isinstance(param.type, FiniteFloatRange)
    ]
    assert loose == []


@pytest.mark.parametrize(
    "args",
    [
        ("watch", "--no-ui", "--interval", "nan", "--", "true"),
        ("log", "--budget", "nan", "x.log"),
        ("fix", "--kill-stale", "--dry-run", "--observe", "nan"),
    ],
)
def test_nan_is_a_usage_error(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "not a finite number" in result.stderr


def test_the_command_table_names_each_command_as_click_does():
    """Commands load on first lookup, so the table's names must be the commands' own."""
    import importlib

    from gpudoctor.cli import COMMANDS
    from gpudoctor.cli import main

    for name, module, attribute in COMMANDS:
        assert getattr(importlib.import_module(module), attribute).name == name
    assert list(main.commands) == [name for name, _, _ in COMMANDS]
    assert main.commands.get("no-such-command") is None


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["check"],
        ["check", "--select", "GD3", "-o", "out/report.json"],
        ["check", "--python", "~/venvs/x y/bin/python"],
        ["check", ""],
        ["check", "naïve", "日本", "a$b", "it's", "x\ny", "--opt=1,2:3@4%5+6"],
    ],
)
def test_the_command_line_in_the_report_quotes_as_shlex_does(monkeypatch, args):
    import shlex

    from gpudoctor.commands.options import command_line

    monkeypatch.setattr(sys, "argv", ["gpudoctor", *args])
    assert command_line() == shlex.join(["gpudoctor", *args])
