"""The terminal report as a person reads it: areas, hanging indents, words, no noise."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len

from conftest import FIXTURES
from conftest import make_facts
from conftest import run_cli
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.model import Evidence
from gpudoctor.model import Finding
from gpudoctor.model import Remedy
from gpudoctor.model import Severity
from gpudoctor.registry import load_registry
from gpudoctor.report.summary import area_of
from gpudoctor.report.summary import collapse_evidence
from gpudoctor.report.summary import count_words
from gpudoctor.report.summary import plural
from gpudoctor.report.summary import remedies_for
from gpudoctor.report.summary import report_platforms
from gpudoctor.report.text import TrimmingWriter
from gpudoctor.report.text import plain_output
from gpudoctor.report.text import render_text
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks

MACHINES = sorted(FIXTURES.glob("*.json"))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# An item starts with its mark or bullet and a space: area marks, finding marks, bullets.
ITEM = re.compile(r"^( *)(\[[^\]]{1,2}\]|\[[a-z-]{2}\]|[✓✗!iE·→$-]|->) ")


def replay_report(path) -> Report:
    facts = load_replay(path)
    return Report(facts, run_checks(facts, list(load_registry(plugins=False))))


def render(report: Report, *, width: int, verbose: bool = False, plain: bool = False) -> str:
    stream = io.StringIO()
    render_text(report, stream, plain=plain, width=width, verbose=verbose)
    return ANSI.sub("", stream.getvalue())


def hanging_indent_violations(text: str) -> list[str]:
    """Lines of an item's block that start left of the text of the item they continue."""
    blocks = text.split("\n\n")
    bad: list[str] = []
    for block in blocks[1:-1]:  # header and summary stand at column 0
        if block.startswith("Probe timings"):
            continue
        starts: list[tuple[int, int]] = []  # (indent, column where the item's text starts)
        for line in block.splitlines():
            indent = len(line) - len(line.lstrip(" "))
            match = ITEM.match(line)
            if match:
                starts.append((indent, indent + len(match.group(2)) + 1))
                continue
            owners = [col for ind, col in starts if ind < indent]
            if not owners or indent < owners[-1]:
                bad.append(line)
    return bad


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_every_fixture_fits_the_width_with_hanging_indents(path, width, verbose):
    text = render(replay_report(path), width=width, verbose=verbose)
    too_long = [line for line in text.splitlines() if cell_len(line) > width]
    assert too_long == []
    assert hanging_indent_violations(text) == []
    assert not any(line.endswith(" ") for line in text.splitlines())


def test_the_indent_checker_catches_a_line_back_at_column_zero():
    text = "head\n\n[✗] memory: 1 problem\n    ✗ GD303 shm: small\n      · size: 64\nMiB\n\nsum"
    assert hanging_indent_violations(text) == ["MiB"]


@pytest.mark.parametrize(
    "env",
    [{"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}],
    ids=["FORCE_COLOR", "TTY_COMPATIBLE"],
)
@pytest.mark.parametrize("width", [80, 120])
def test_forced_terminal_from_the_command_line(env, width):
    result = run_cli(
        "check",
        "--replay",
        str(FIXTURES / "docker-shm-64m.json"),
        "--no-plugins",
        env={**env, "COLUMNS": str(width)},
    )
    text = ANSI.sub("", result.stdout)
    assert "[✗] memory: 1 problem" in text
    assert all(cell_len(line) <= width for line in text.splitlines())
    assert hanging_indent_violations(text) == []


def test_all_is_well_is_one_line_per_area():
    text = render(replay_report(FIXTURES / "multi-gpu-server-healthy.json"), width=100)
    lines = text.strip().splitlines()
    area_lines = [line for line in lines if re.match(r"^\[.\] ", line)]
    assert [line.split(":")[0] for line in area_lines][:3] == [
        "[✓] GPU & driver",
        "[✓] torch install",
        "[✓] memory",
    ]
    assert not any(line.startswith("    ") for line in lines)  # nothing expanded
    assert "passed" not in lines[-1]
    assert lines[-1].startswith("[✓] No problems found in ")


def test_problems_expand_under_their_area_and_the_summary_counts_problems():
    text = render(replay_report(FIXTURES / "docker-shm-64m.json"), width=80, plain=True)
    assert "[x] memory: 1 problem\n    [x] GD303 dev-shm-size:" in text
    summary = [line for line in text.splitlines() if "Verdict" in line]
    assert summary == [
        "[x] 1 problem. Verdict: problems found that will break or slow down training."
    ]
    assert "passed" not in text
    assert "findings" not in text
    assert "not applicable here: GPU processes, WSL, training" in text


def test_verbose_shows_passes_and_skips_with_their_reasons_collapsed():
    report = replay_report(FIXTURES / "wsl2-laptop-nvml-blind.json")
    quiet = render(report, width=100, plain=True)
    verbose = render(report, width=100, plain=True, verbose=True)
    assert "GD301" not in quiet
    assert "GD301 host-memory-pressure" in verbose
    assert "GD601" not in quiet
    skip_lines = [line for line in verbose.splitlines() if "GD601" in line]
    assert len(skip_lines) == 1
    assert "(×10)" in verbose.split("GD601")[1].split("\n\n")[0]
    assert "Probe timings" in verbose


def test_identical_evidence_lines_collapse_with_a_count():
    error = Evidence("nvml", "NVML_ERROR_LIB_RM_VERSION_MISMATCH", "nvmlInit")
    finding = Finding(
        "GD101", "nvidia-driver", Severity.FAIL, "NVML cannot start", evidence=(error,) * 19
    )
    assert collapse_evidence(finding.evidence) == [(error, 19)]
    text = render(Report(make_facts(), [finding]), width=80, plain=True)
    assert text.count("NVML_ERROR_LIB_RM_VERSION_MISMATCH") == 1
    assert "×19" in text


def test_counts_in_words_are_pluralised_and_leave_passes_out():
    assert plural(1, "problem") == "1 problem"
    assert plural(2, "warning") == "2 warnings"
    assert count_words({"fail": 1, "warn": 2, "pass": 13}) == "1 problem, 2 warnings"
    assert count_words({"info": 1}) == "1 note"
    assert count_words({"pass": 40, "skip": 3}) == "no problems"


def test_areas_follow_the_id_blocks():
    assert [area_of(i) for i in ("GD101", "GD2x", "GD303", "GD509", "GD002", "ACME1")] == [
        "GPU & driver",
        "plugins",
        "memory",
        "WSL",
        "cluster",
        "plugins",
    ]


def test_remedies_are_filtered_to_the_platform_of_the_report():
    windows = replay_report(FIXTURES / "windows-wddm-no-process-memory.json")
    assert report_platforms(windows.facts) == {"windows"}
    assert "taskkill" in render(windows, width=100, plain=True)
    docker = load_replay(FIXTURES / "docker-shm-64m.json")
    assert report_platforms(docker) == {"linux", "docker"}
    kube = Remedy("mount an emptyDir", platforms=("kubernetes",))
    run = Remedy("docker run --shm-size", platforms=("docker",))
    anywhere = Remedy("fewer workers")
    assert remedies_for((kube, run, anywhere), frozenset({"linux", "docker"})) == (run, anywhere)
    # When nothing is left for this platform, every remedy stays (better than none).
    assert remedies_for((kube,), frozenset({"windows"})) == (kube,)
    assert remedies_for((kube, run), None) == (kube, run)
    text = render(replay_report(FIXTURES / "docker-shm-64m.json"), width=100, plain=True)
    assert "emptyDir" not in text
    assert "--shm-size" in text


def test_linux_reports_show_no_windows_commands():
    for path in MACHINES:
        report = replay_report(path)
        if report.facts.get("host")["kind"] != "linux":
            continue
        assert "taskkill" not in render(report, width=100, plain=True), path.stem


def test_plain_output_follows_the_variables_rich_reads():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert plain_output(io.StringIO(), env={}) is True
    assert plain_output(Tty(), env={}) is False
    assert plain_output(io.StringIO(), env={"FORCE_COLOR": "1"}) is False
    assert plain_output(io.StringIO(), env={"TTY_COMPATIBLE": "1"}) is False
    assert plain_output(Tty(), env={"TTY_COMPATIBLE": "0"}) is True
    assert plain_output(Tty(), env={"NO_COLOR": "1"}) is True


def test_trailing_padding_goes_but_colour_codes_stay():
    assert TrimmingWriter.trim("text   \x1b[0m  ") == "text\x1b[0m"
    assert TrimmingWriter.trim("no padding") == "no padding"


def _nested(make, width_of_marks: int):
    """Items four deep with the awkward cases: a tab, a word longer than any width, wide
    characters, several lines, an empty body."""
    from rich.console import Group
    from rich.text import Text

    commands = [make("$", Text("python -m pip install " + "x" * 90, style="bold"), "", 0)]
    evidence = [
        make("-", Text("tab:\tseparated\tvalues " * 4), "dim", 0),
        make("·", Text("日本語のテキスト " * 12), "dim", 0),
        make("->", Group(Text("lines\none\n\nthree   "), *commands), "", 0),
        make("...", Text(""), "", 0),
    ]
    finding = make("!", Group(Text("GD303 shm: " + "small " * 30), *evidence), "yellow", 3)
    return make("[!]", Group(Text("memory: 1 warning", style="bold"), finding), "yellow", 5)


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "colour"])
def test_hanging_items_render_as_the_grid_they_replace(plain):
    """``item`` skips the grid's measuring, not its output: same bytes at every width."""
    from rich.table import Table
    from rich.text import Text

    from gpudoctor.report.text import item
    from gpudoctor.report.text import make_console

    def grid(mark, body, style, mark_width):
        table = Table.grid(padding=(0, 1, 0, 0))
        table.add_column(no_wrap=True, min_width=mark_width or None)
        table.add_column(overflow="fold")
        table.add_row(Text(mark, style=style), body)
        return table

    for width in (4, 9, 14, 20, 33, 57, 80, 131, 250):
        outputs = []
        for make in (grid, item):
            stream = io.StringIO()
            make_console(stream, plain=plain, width=width).print(_nested(make, 5))
            outputs.append(stream.getvalue())
        assert outputs[0] == outputs[1], width
