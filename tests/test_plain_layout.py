"""Plain output laid out without rich is byte for byte what rich writes, or rich writes it.

``gpudoctor.report.plain_layout`` reproduces rich's wrapping for one-cell text so that a
piped ``gpudoctor check`` need not import rich. Each test draws the same tree both ways:
the recorded machines at many widths, generated text full of the cases wrapping gets wrong
(long words, runs of blanks, blank lines, leading blanks, a word exactly the width), and
the inputs the layout must hand back to rich.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from conftest import FIXTURES
from gpudoctor.facts.snapshot import load_replay
from gpudoctor.registry import load_registry
from gpudoctor.report.doc import Blank
from gpudoctor.report.doc import Block
from gpudoctor.report.doc import Item
from gpudoctor.report.doc import Node
from gpudoctor.report.doc import Para
from gpudoctor.report.doc import RichBlock
from gpudoctor.report.doc import Span
from gpudoctor.report.doc import Stack
from gpudoctor.report.doc import para
from gpudoctor.report.plain_layout import layout
from gpudoctor.report.plain_layout import wrap
from gpudoctor.report.text import make_console
from gpudoctor.report.text import print_blocks
from gpudoctor.report.text import render_text
from gpudoctor.report.text import report_blocks
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks

MACHINES = sorted(FIXTURES.glob("*.json"))
WIDTHS = (12, 20, 31, 40, 57, 80, 100, 133, 200)


def drawn_by_rich(blocks: list[Block], width: int) -> str:
    stream = io.StringIO()
    print_blocks(make_console(stream, plain=True, width=width), blocks)
    return stream.getvalue()


def replayed(path) -> Report:
    facts = load_replay(path)
    return Report(facts, run_checks(facts, list(load_registry(plugins=False))))


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_every_recorded_machine_lays_out_as_rich_draws_it(path):
    blocks = report_blocks(replayed(path), plain=True, verbose=False, strict=False)
    for width in WIDTHS:
        laid_out = layout(blocks, width)
        if laid_out is None:
            # The fixtures are one-cell text: only a width too narrow for the marks of
            # items four deep (about 14 columns) goes to rich.
            assert width < 20
            continue
        assert laid_out == drawn_by_rich(blocks, width), width


def test_render_text_writes_the_same_bytes_either_way(monkeypatch):
    """Through ``render_text``: the fast path on, then forced off by a refusing layout."""
    import gpudoctor.report.plain_layout as plain_layout

    report = replayed(FIXTURES / "linux-server-stale-gpu-holders.json")
    fast = io.StringIO()
    render_text(report, fast, plain=True, width=90)
    monkeypatch.setattr(plain_layout, "layout", lambda blocks, width: None)
    slow = io.StringIO()
    render_text(report, slow, plain=True, width=90)
    assert fast.getvalue() == slow.getvalue()
    assert "GD" in fast.getvalue()


# Words that stress the wrapper: blanks of every length, words longer than any line, and
# one-cell characters beyond ASCII.
_pieces = st.sampled_from(
    ["a", "word", "x" * 7, "y" * 23, "z" * 61, " ", "  ", " " * 9, "\n", "\n\n", "é", "×", "-"]
)
_text = st.lists(_pieces, max_size=40).map("".join)
_style = st.sampled_from(["", "bold", "dim", "green"])
_mark = st.sampled_from(["-", "->", "$", "[x]", "...", "i", "[+]"])


def _nodes(depth: int) -> st.SearchStrategy[Node]:
    leaf = st.builds(
        lambda parts, style: Para(tuple(Span(t, s) for t, s in parts), style),
        st.lists(st.tuples(_text, _style), min_size=1, max_size=3),
        _style,
    )
    if depth == 0:
        return leaf
    inner = _nodes(depth - 1)
    return st.one_of(
        leaf,
        st.builds(Item, _mark, inner, _style, st.integers(0, 6)),
        st.builds(lambda nodes: Stack(tuple(nodes)), st.lists(inner, min_size=0, max_size=3)),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(st.one_of(_nodes(3), st.just(Blank())), min_size=1, max_size=4),
    width=st.integers(1, 120),
)
def test_generated_trees_lay_out_as_rich_draws_them_or_go_to_rich(blocks, width):
    laid_out = layout(blocks, width)
    if laid_out is not None:
        assert laid_out == drawn_by_rich(blocks, width)


@settings(max_examples=400, deadline=None)
@given(line=_text.filter(lambda t: "\n" not in t), width=st.integers(1, 90))
def test_a_wrapped_line_matches_rich_and_never_passes_the_width(line, width):
    from rich.text import Text

    ours = wrap(line, width)
    rich_lines = Text(line).wrap(make_console(io.StringIO(), plain=True), width)
    assert [piece.rstrip(" ") for piece in ours] == [str(piece).rstrip(" ") for piece in rich_lines]
    assert all(len(piece) <= width for piece in ours)


@pytest.mark.parametrize(
    "blocks",
    [
        [para("日本語のテキスト")],  # two cells a character
        [para("tab\tseparated")],
        [para("e\u0301")],  # a combining accent
        [para("no\u00a0break")],
        [para("bell\x07")],
        [Item("→", para("a Unicode bullet"))],
        [RichBlock(lambda: "a table")],
        [Item("[x]", para("too narrow for the mark"), mark_width=30)],
    ],
    ids=["wide", "tab", "combining", "nbsp", "control", "bullet", "table", "narrow"],
)
def test_what_the_layout_cannot_reproduce_goes_to_rich(blocks):
    assert layout(blocks, 20) is None


def test_the_fallback_still_writes_the_report():
    done = replayed(FIXTURES / "wsl2-healthy.json")
    report = Report(done.facts, done.findings, replayed_from="スナップショット.json")
    stream = io.StringIO()
    render_text(report, stream, plain=True, width=80)
    assert stream.getvalue().startswith("gpudoctor ")
    assert "スナップショット.json)" in stream.getvalue()
    assert stream.getvalue() == drawn_by_rich(
        report_blocks(report, plain=True, verbose=False, strict=False), 80
    )
