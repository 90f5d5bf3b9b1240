"""Commands as a new user meets them: help, explain, list, report, completion, README."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from conftest import FIXTURES
from conftest import REPO
from conftest import run_cli
from gpudoctor.cli import main
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.reference import reference_page
from gpudoctor.registry import load_registry
from gpudoctor.report.markdown import render_markdown
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TERMINAL = {"FORCE_COLOR": "1", "COLUMNS": "80"}


def _commands(command: click.Command, path: list[str]):
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, [*path, name])


COMMAND_PATHS = list(_commands(main, []))


@pytest.mark.parametrize(
    "path", COMMAND_PATHS, ids=[" ".join(p) or "gpudoctor" for p in COMMAND_PATHS]
)
def test_help_fits_80_columns(path):
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=80, prog_name="gpudoctor")
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if len(line) > 80] == []


def test_explain_renders_markdown_on_a_terminal_and_prints_the_page_when_piped():
    terminal = run_cli("explain", "GD303", env=TERMINAL)
    assert terminal.returncode == 0, terminal.stderr
    shown = ANSI.sub("", terminal.stdout)
    assert "dev-shm-size" in shown
    for raw in ("**", "##", "```"):
        assert raw not in shown
    assert all(len(line) <= 80 for line in shown.splitlines())
    piped = run_cli("explain", "GD303")
    spec = load_registry().get("GD303")
    assert piped.stdout == reference_page(spec) + "\n"


def test_list_fits_80_columns_and_names_every_check():
    result = run_cli("list", env={"COLUMNS": "200"})
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    ids = {line.split()[0] for line in lines if re.match(r"^GD\d{3} ", line)}
    assert {s.id for s in load_registry()} <= ids


def test_report_on_a_terminal_shows_the_summary_and_where_the_file_went(tmp_path):
    result = run_cli(
        "report", "--replay", str(FIXTURES / "docker-shm-64m.json"), env=TERMINAL, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    shown = ANSI.sub("", result.stdout)
    written = tmp_path / "gpudoctor-report.md"
    assert written.read_text(encoding="utf-8").startswith("## gpudoctor report")
    assert "Report written to gpudoctor-report.md" in shown
    assert "GD303 dev-shm-size" in shown
    assert len(shown.splitlines()) < 12
    piped = run_cli("report", "--replay", str(FIXTURES / "docker-shm-64m.json"), cwd=tmp_path)
    assert piped.stdout.startswith("## gpudoctor report")


def _table_rows(markdown: str) -> list[str]:
    """The data rows of every pipe table, found by parsing the Markdown."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    rows: list[str] = []
    inside_body = False
    for token in tokens:
        if token.type == "tbody_open":
            inside_body = True
        elif token.type == "tbody_close":
            inside_body = False
        elif inside_body and token.type == "inline":
            rows.append(token.content)
    return rows


def test_markdown_of_the_healthy_fixture_has_no_skip_rows_and_parses():
    facts = load_replay(FIXTURES / "linux-workstation-healthy.json")
    report = Report(facts, run_checks(facts, list(load_registry(plugins=False))))
    text = render_markdown(report)
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<table>" in html
    cells = _table_rows(text)
    assert cells
    assert not any("skip" in c for c in cells)
    assert text.index("**Verdict") < text.index("| |")
    assert text.count("<details>") == 3  # passes, not applicable, facts
    skips = [f for f in report.findings if f.severity.value == "skip"]
    assert f"{len(skips)} checks not applicable here" in text


def test_ticket_report_table_lists_problems_only():
    result = run_cli("report", "--replay", str(FIXTURES / "linux-workstation-healthy.json"))
    rows = _table_rows(result.stdout.split("### collect_env fields")[0])
    assert rows
    assert not any("skip" in r or "pass" in r for r in rows)


@pytest.mark.parametrize(
    ("shell", "words", "cword", "expect"),
    [
        ("bash", "gpudoctor check --select GD30", "3", "GD303"),
        ("bash", "gpudoctor check --ignore GD101,GD30", "3", "GD101,GD304"),
        ("bash", "gpudoctor explain dev-s", "2", "dev-shm-size"),
        ("bash", "gpudoctor ch", "1", "check"),
        ("bash", "gpudoctor check --sel", "2", "--select"),
        ("powershell", "gpudoctor explain GD30", "2", "GD303"),
    ],
)
def test_completion_offers_commands_options_and_check_ids(shell, words, cword, expect):
    result = run_cli(
        env={
            "_GPUDOCTOR_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": cword,
        }
    )
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_completion_scripts_exist_for_every_documented_shell(shell):
    result = run_cli(env={"_GPUDOCTOR_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0, result.stderr
    assert "_GPUDOCTOR_COMPLETE" in result.stdout
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"_GPUDOCTOR_COMPLETE={shell}_source" in readme or f'"{shell}_source"' in readme


def test_readme_sample_is_a_replay_of_its_fixture():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What it looks like")[1]
    command = re.search(r"`(gpudoctor check --replay [^`]+)`", section).group(1)
    sample = section.split("```\n")[1]
    result = run_cli(*command.split()[1:], env={"COLUMNS": "80"}, cwd=REPO)
    assert result.stdout == sample


def test_readme_has_no_relative_links():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert [link for link in links if not link.startswith("https://")] == []
