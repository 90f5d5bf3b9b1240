"""Terminal output in the manner of ``flutter doctor``: one line per area when all is well.

Problems expand under their area with evidence and remedies. Every item is a two-column
grid (mark, body), so wrapped lines hang under their item at any width instead of falling
back to column 0. Colour and Unicode marks only on a terminal without ``NO_COLOR``;
otherwise plain ASCII, so logs, pipes and CI output stay readable.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from collections.abc import Sequence
from typing import IO
from typing import TYPE_CHECKING

from gpudoctor._version import __version__
from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.model import Finding
from gpudoctor.model import Severity
from gpudoctor.model import severity_value
from gpudoctor.report.doc import Blank
from gpudoctor.report.doc import Block
from gpudoctor.report.doc import Item
from gpudoctor.report.doc import Node
from gpudoctor.report.doc import Para
from gpudoctor.report.doc import RichBlock
from gpudoctor.report.doc import Span
from gpudoctor.report.doc import Stack
from gpudoctor.report.doc import para
from gpudoctor.report.summary import Area
from gpudoctor.report.summary import area_of
from gpudoctor.report.summary import collapse_evidence
from gpudoctor.report.summary import collapse_skips
from gpudoctor.report.summary import count_words
from gpudoctor.report.summary import group_by_area
from gpudoctor.report.summary import plural
from gpudoctor.report.summary import remedies_for
from gpudoctor.report.summary import report_platforms
from gpudoctor.runner import Report

if TYPE_CHECKING:
    from rich.console import Console
    from rich.console import ConsoleOptions
    from rich.console import OverflowMethod
    from rich.console import RenderableType
    from rich.console import RenderResult
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

UNICODE_MARKS = {
    Severity.PASS: "✓",
    Severity.SKIP: "-",
    Severity.INFO: "i",
    Severity.WARN: "!",
    Severity.FAIL: "✗",
    Severity.ERROR: "E",
}
ASCII_MARKS = {
    Severity.PASS: "[+]",
    Severity.SKIP: "[-]",
    Severity.INFO: "[i]",
    Severity.WARN: "[!]",
    Severity.FAIL: "[x]",
    Severity.ERROR: "[E]",
}
STYLES = {
    Severity.PASS: "green",
    Severity.SKIP: "dim",
    Severity.INFO: "cyan",
    Severity.WARN: "yellow",
    Severity.FAIL: "bold red",
    Severity.ERROR: "bold magenta",
}
# Kept for the cluster renderer, which shares the marks.
_UNICODE_MARKS = UNICODE_MARKS
_ASCII_MARKS = ASCII_MARKS
_STYLES = STYLES

#: Bullets of the nested items: evidence, remedy, command.
_BULLETS = {True: ("-", "->", "$"), False: ("·", "→", "$")}
#: Width of plain (piped) output when COLUMNS does not say.
PLAIN_WIDTH = 100


#: A check that reports on thousands of subjects (a stale process each) shows this many in
#: text, worst first, and counts the rest; JSON and Markdown keep every one.
MAX_FINDINGS_PER_CHECK = 10


def written_findings(findings: Sequence[Finding], *, verbose: bool = True) -> list[Finding]:
    """``findings`` as :func:`render_text` uses them, in the same order.

    Past :data:`MAX_FINDINGS_PER_CHECK` problems and notes of one check (worst first, as
    the report lists them) the text only counts a finding: it keeps its id, severity and
    fix (the count, the area's mark, the list of fixes) and loses its words, so redacting
    a report of 50,000 stale processes walks a few dozen findings, not all of them. Without
    ``verbose`` the same goes for skips and for the passes after an area's headline.
    """
    shown: dict[str, int] = {}
    counted_only: set[int] = set() if verbose else _unwritten_passes_and_skips(findings)
    ranks = [f.severity.rank for f in findings]
    # Stable, so equal ranks keep their order (reverse=True keeps it too).
    for index in sorted(range(len(findings)), key=ranks.__getitem__, reverse=True):
        if ranks[index] < Severity.INFO.rank:
            break  # passes and skips (all the rest): an area's headline and -v print them
        finding = findings[index]
        shown[finding.check_id] = shown.get(finding.check_id, 0) + 1
        if shown[finding.check_id] > MAX_FINDINGS_PER_CHECK:
            counted_only.add(index)
    written = list(findings)
    # A counted finding keeps what the text counts it by: its check (the "and N more of
    # GDxxx" line, its area), its severity and its fix; its name is never written.
    counted: dict[tuple[str, Severity, str | None], Finding] = {}
    for index in counted_only:
        finding = findings[index]
        key = (finding.check_id, finding.severity, finding.fix)
        written[index] = counted.get(key) or counted.setdefault(
            key, Finding(finding.check_id, "", finding.severity, "", fix=finding.fix)
        )
    return written


def _unwritten_passes_and_skips(findings: Sequence[Finding]) -> set[int]:
    """Indexes of the skips, and of the passes but each area's headline (its first by id,
    as :attr:`Area.headline` picks it)."""
    unwritten: set[int] = set()
    passes: dict[str, list[int]] = {}
    for index, finding in enumerate(findings):
        if finding.severity is Severity.SKIP:
            unwritten.add(index)
        elif finding.severity is Severity.PASS:
            passes.setdefault(area_of(finding.check_id), []).append(index)
    for indexes in passes.values():
        headline = min(indexes, key=lambda i: findings[i].check_id)
        unwritten.update(i for i in indexes if i != headline)
    return unwritten


def plain_output(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """True when output should be ASCII without colour.

    Plain when ``NO_COLOR`` is set or the stream is no terminal, unless ``FORCE_COLOR`` or
    ``TTY_COMPATIBLE=1`` (the variables rich reads) say to treat it as one.
    """
    environ = os.environ if env is None else env
    if "NO_COLOR" in environ or environ.get("TTY_COMPATIBLE") == "0":
        return True
    if environ.get("FORCE_COLOR") or environ.get("TTY_COMPATIBLE") == "1":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty and isatty())
    except ValueError:  # closed stream
        return True


def output_width(plain: bool, env: Mapping[str, str] | None = None) -> int | None:
    """``COLUMNS`` when set; else 100 for plain output and the terminal's own width."""
    environ = os.environ if env is None else env
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 20:
        return int(columns)
    return PLAIN_WIDTH if plain else None


class TrimmingWriter:
    """A stream that drops the spaces rich pads table cells with at the end of each line."""

    _TRAILING = lazy_compile(r"(?: |\x1b\[[0-9;]*m)+$")
    _CODES = lazy_compile(r"\x1b\[[0-9;]*m")

    @classmethod
    def trim(cls, line: str) -> str:
        """``line`` without trailing spaces, its trailing colour codes kept."""
        match = cls._TRAILING.search(line)
        if not match:
            return line
        return line[: match.start()] + "".join(cls._CODES.findall(match.group()))

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._stream.write(self.trim(line) + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(self.trim(self._pending))
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty and isatty())


def make_console(stream: IO[str], *, plain: bool, width: int | None = None) -> Console:
    """A rich console that wraps at ``width`` and never guesses markup or highlights."""
    from rich.console import Console

    return Console(
        file=TrimmingWriter(stream),  # type: ignore[arg-type]
        no_color=plain,
        color_system=None if plain else "auto",
        highlight=False,
        emoji=False,
        markup=False,
        width=width or output_width(plain),
        force_terminal=not plain,
        force_interactive=False,
        soft_wrap=False,
    )


def item(mark: str, body: RenderableType, style: str = "", mark_width: int = 0) -> Hanging:
    """A hanging-indent item: ``mark`` in its own column, ``body`` wrapping beside it."""
    from rich.text import Text

    return Hanging(Text(mark, style=style), body, mark_width)


class Hanging:
    """``mark`` in a column of its own and ``body`` folding beside it.

    Renders what ``Table.grid(padding=(0, 1, 0, 0))`` with a no-wrap mark column (at least
    ``mark_width`` wide) and a folding body column renders, segment for segment. A grid
    measures its cells to size its columns, and a grid nested in a grid measures its own
    cells again for each measurement of its parent: with items four deep, measuring was most
    of the time of a text report. The mark column's width needs only the mark; the body
    is measured once per level. Where the width leaves no room for the body, the grid
    itself renders (its last-resort sharing of a too-small width).
    """

    def __init__(self, mark: Text, body: RenderableType, mark_width: int = 0) -> None:
        from rich.padding import Padding

        self.mark = mark
        self.body = body
        self.mark_width = mark_width
        self._mark_cell = Padding(mark, (0, 1, 0, 0))
        self._body_cell = Padding(body, (0, 0, 0, 0))

    def _grid(self) -> Table:
        from rich.table import Table

        grid = Table.grid(padding=(0, 1, 0, 0))
        grid.add_column(no_wrap=True, min_width=self.mark_width or None)
        grid.add_column(overflow="fold")
        grid.add_row(self.mark, self.body)
        return grid

    def _measure(
        self, console: Console, options: ConsoleOptions
    ) -> tuple[Measurement, Measurement]:
        """The grid's measurement of each column (padding included) at ``options``' width."""
        from rich.measure import Measurement

        max_width = options.max_width
        mark = Measurement.get(console, options, self._mark_cell).with_maximum(max_width)
        mark = mark.clamp(self.mark_width + 1 if self.mark_width else None)
        body = Measurement.get(console, options, self._body_cell).with_maximum(max_width)
        return mark, body

    def _widths(
        self, options: ConsoleOptions, mark: Measurement, body: Measurement
    ) -> tuple[int, int] | None:
        """The grid's column widths; None where it would have to squeeze the mark column."""
        mark_width, body_width = mark.maximum or 1, body.maximum or 1
        if mark_width + body_width > options.max_width:
            body_width = options.max_width - mark_width  # the body column folds to fit
            if body_width < 1:
                return None
        return mark_width, body_width

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        from rich.measure import Measurement

        if options.max_width < 1:
            return Measurement(0, 0)
        mark, body = self._measure(console, options)
        if self._widths(options, mark, body) is None:
            return Measurement.get(console, options, self._grid())
        return Measurement(mark.minimum + body.minimum, mark.maximum + body.maximum)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment
        from rich.style import Style

        widths = None
        if options.max_width >= 1:
            widths = self._widths(options, *self._measure(console, options))
        if widths is None:
            yield self._grid()
            return
        mark_width, body_width = widths
        inner = options.update(width=mark_width + body_width, highlight=False, height=None)
        # Each column as the grid renders it: the mark never wraps, the body folds.
        cells: tuple[tuple[RenderableType, int, bool, OverflowMethod], ...] = (
            (self._mark_cell, mark_width, True, "ellipsis"),
            (self._body_cell, body_width, False, "fold"),
        )
        columns = [
            console.render_lines(
                cell,
                inner.update(
                    width=width,
                    justify="left",
                    no_wrap=no_wrap,
                    overflow=overflow,
                    height=None,
                    highlight=False,
                ),
            )
            for cell, width, no_wrap, overflow in cells
        ]
        height = max(len(lines) for lines in columns)
        null = Style.null()
        mark_cell, body_cell = (
            Segment.set_shape(Segment.align_top(lines, width, height, null), width, max(height, 1))
            for lines, width in zip(columns, widths)
        )
        new_line = Segment.line()
        for mark_line, body_line in zip(mark_cell, body_cell):
            yield from mark_line
            yield from body_line
            yield new_line


def render_text(
    report: Report,
    stream: IO[str],
    *,
    plain: bool,
    verbose: bool = False,
    strict: bool = False,
    width: int | None = None,
) -> None:
    """Write the report for a human to ``stream``.

    Plain output is laid out without rich where it can be (see
    :mod:`gpudoctor.report.plain_layout`); a terminal, and text only rich can measure,
    get rich.
    """
    blocks = report_blocks(report, plain=plain, verbose=verbose, strict=strict)
    if plain:
        from gpudoctor.report.plain_layout import layout

        text = layout(blocks, width or output_width(plain) or PLAIN_WIDTH)
        if text is not None:
            stream.write(text)
            stream.flush()
            return
    print_blocks(make_console(stream, plain=plain, width=width), blocks)


def report_blocks(report: Report, *, plain: bool, verbose: bool, strict: bool) -> list[Block]:
    """The text report as a tree of paragraphs and items, before any layout."""
    marks = ASCII_MARKS if plain else UNICODE_MARKS
    blocks: list[Block] = [para(_header(report), style="bold"), Blank()]
    platforms = report_platforms(report.facts)
    idle: list[Area] = []
    for area in group_by_area(report.findings):
        if not area.passes and not area.shown and not verbose:
            idle.append(area)
            continue
        blocks.append(_area(area, marks, plain, verbose, platforms))
    if idle:
        names = ", ".join(a.name for a in idle)
        checks = plural(sum(len(a.findings) for a in idle), "check")
        blocks.append(
            Item(
                _bracket(marks[Severity.SKIP], plain),
                para(f"not applicable here: {names} ({checks}; -v shows why)"),
                STYLES[Severity.SKIP],
                _mark_width(marks, not plain),
            )
        )
    if verbose:
        blocks.extend(_probe_times(report))
    blocks.append(Blank())
    blocks.extend(_summary(report, marks, plain, strict))
    return blocks


def print_blocks(console: Console, blocks: Sequence[Block]) -> None:
    """Draw ``blocks`` with rich, each as :func:`to_renderable` makes it."""
    for block in blocks:
        if isinstance(block, Blank):
            console.print()
        else:
            console.print(to_renderable(block))


def to_renderable(block: Block) -> RenderableType:
    """The rich renderable of a report node: Text for a paragraph, Hanging for an item."""
    from rich.console import Group
    from rich.text import Text

    if isinstance(block, Para):
        text = Text(style=block.style)
        for span in block.spans:
            text.append(span.text, style=span.style or None)
        return text
    if isinstance(block, Stack):
        return Group(*map(to_renderable, block.nodes))
    if isinstance(block, Item):
        body = to_renderable(block.body)
        return Hanging(Text(block.mark, style=block.style), body, block.mark_width)
    if isinstance(block, RichBlock):
        made: RenderableType = block.make()
        return made
    return Text()


def _header(report: Report) -> str:
    header = f"gpudoctor {__version__}"
    host = report.facts.get("host")
    if isinstance(host, Mapping) and host:
        python = host.get("python")
        version = python.get("version") if isinstance(python, Mapping) else None
        header += (
            f" - {host.get('kind')}, {host.get('distro') or host.get('system')}, Python {version}"
        )
    if report.replayed_from:
        header += f" (replayed from {report.replayed_from})"
    return header


def _bracket(mark: str, plain: bool) -> str:
    return mark if plain else f"[{mark}]"


def _mark_width(marks: Mapping[Severity, str], bracketed: bool) -> int:
    """One width for every mark of a list, so the bodies line up."""
    return max(len(m) for m in marks.values()) + (2 if bracketed else 0)


def _area(
    area: Area,
    marks: Mapping[Severity, str],
    plain: bool,
    verbose: bool,
    platforms: frozenset[str] | None,
) -> Item:
    """One line when all is well; otherwise the area's problems expanded beneath it."""
    worst = area.worst if area.shown else Severity.PASS if area.passes else Severity.SKIP
    shown = area.shown
    if shown:
        tally = Counter(map(severity_value, shown))
        counts = {s.value: tally[s.value] for s in Severity}
        tail = f": {count_words(counts)}"
    else:
        tail = f": {area.headline}"
    body: list[Node] = [Para((Span(area.name), Span(tail)), "bold")]
    listed: Sequence[Finding] = (
        [f for f in area.findings if f.severity is not Severity.SKIP] if verbose else shown
    )
    per_check: dict[str, int] = {}
    for finding in listed:
        per_check[finding.check_id] = per_check.get(finding.check_id, 0) + 1
        if per_check[finding.check_id] <= MAX_FINDINGS_PER_CHECK:
            body.append(finding_node(finding, marks, plain, verbose, platforms))
    for check_id, count in per_check.items():
        if count > MAX_FINDINGS_PER_CHECK:
            more = count - MAX_FINDINGS_PER_CHECK
            body.append(
                Item(
                    "...",
                    para(
                        f"and {plural(more, 'more finding')} of {check_id} (all of them: -f json)"
                    ),
                )
            )
    if verbose:
        for reason, ids in collapse_skips(area.skips):
            times = f" (×{len(ids)})" if len(ids) > 1 else ""
            body.append(
                Item(
                    marks[Severity.SKIP],
                    para(f"{', '.join(ids)} {reason}{times}", style=STYLES[Severity.SKIP]),
                    STYLES[Severity.SKIP],
                )
            )
    width = _mark_width(marks, not plain)
    return Item(_bracket(marks[worst], plain), Stack(tuple(body)), STYLES[worst], width)


def render_finding(
    finding: Finding,
    marks: Mapping[Severity, str],
    plain: bool,
    verbose: bool,
    platforms: frozenset[str] | None = None,
) -> RenderableType:
    """A finding as a rich renderable (see :func:`finding_node`)."""
    return to_renderable(finding_node(finding, marks, plain, verbose, platforms))


def finding_node(
    finding: Finding,
    marks: Mapping[Severity, str],
    plain: bool,
    verbose: bool,
    platforms: frozenset[str] | None = None,
) -> Item:
    """A finding as an item: its title, then evidence and remedies hanging beneath it."""
    evidence_bullet, remedy_bullet, command_bullet = _BULLETS[plain]
    style = STYLES[finding.severity]
    title = Para(
        (
            Span(f"{finding.check_id} ", style),
            Span(f"{finding.name}: ", "bold" if finding.is_problem else "dim"),
            Span(finding.title),
        )
    )
    body: list[Node] = [title]
    if finding.severity.rank >= Severity.INFO.rank or verbose:
        for ev, times in collapse_evidence(finding.evidence):
            spans = [Span(f"{ev.label}: ", "dim"), Span(ev.value)]
            if ev.source:
                spans.append(Span(f" ({ev.source})", "dim"))
            if times > 1:
                spans.append(Span(f" ×{times}", "bold"))
            body.append(Item(evidence_bullet, Para(tuple(spans)), "dim"))
        remedies = finding.remedies if verbose else remedies_for(finding.remedies, platforms)
        for remedy in remedies:
            words = [Span(remedy.text)]
            if remedy.platforms and (verbose or platforms is None):
                words.append(Span(f" [{', '.join(remedy.platforms)}]", "dim"))
            commands = [Item(command_bullet, para(c, style="bold")) for c in remedy.commands]
            body.append(Item(remedy_bullet, Stack((Para(tuple(words)), *commands))))
        if finding.fix:
            body.append(
                Item(remedy_bullet, para(f"fix: gpudoctor fix --{finding.fix}", style="green"))
            )
        if finding.severity is Severity.ERROR and verbose and finding.details:
            body.append(para(finding.details.rstrip(), style="dim"))
    return Item(marks[finding.severity], Stack(tuple(body)), style, _mark_width(marks, False))


def _render_finding(
    console: Console, finding: Finding, marks: Mapping[Severity, str], verbose: bool
) -> None:
    """Print one finding on its own (the cluster report lists findings without areas)."""
    plain = marks is ASCII_MARKS
    console.print(render_finding(finding, marks, plain, verbose))


def _summary(
    report: Report, marks: Mapping[Severity, str], plain: bool, strict: bool
) -> list[Block]:
    counts = report.counts
    worst = report.worst if report.worst.rank >= Severity.INFO.rank else Severity.PASS
    if any(counts[s] for s in ("info", "warn", "fail", "error")):
        text = Para(
            (
                Span(count_words(counts).capitalize() + ". "),
                Span(f"Verdict: {report.verdict}.", STYLES[worst]),
            ),
            "bold",
        )
    else:
        checked = counts["pass"]
        spans = [Span(f"No problems found in {plural(checked, 'check')}")]
        if counts["skip"]:
            spans.append(Span(f" ({counts['skip']} not applicable here)"))
        spans.append(Span("."))
        text = Para(tuple(spans), "bold")
    blocks: list[Block] = [
        Item(_bracket(marks[worst], plain), text, STYLES[worst], _mark_width(marks, not plain))
    ]
    fixes = sorted({f.fix for f in report.findings if f.fix})
    if fixes:
        blocks.append(
            para("Automatic fixes: " + ", ".join(f"gpudoctor fix --{name}" for name in fixes))
        )
    if report.exit_code(strict):
        blocks.append(para("Details of any check: gpudoctor explain ID", style="dim"))
    return blocks


def _probe_times(report: Report) -> list[Block]:
    probes = sorted(report.facts.probes.values(), key=lambda p: -p.seconds)
    if not probes:
        return []
    rows = [
        (
            f"  {record.name}",
            f"{record.seconds * 1000:.1f} ms",
            "" if record.status == "ok" else f"{record.status}: {record.error}",
        )
        for record in probes
    ]

    def make_grid() -> Table:
        from rich.table import Table

        grid = Table.grid(padding=(0, 2, 0, 0))
        grid.add_column(no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        for row in rows:
            grid.add_row(*row)
        return grid

    return [Blank(), para("Probe timings (slowest first):", style="bold"), RichBlock(make_grid)]


def summary_line(report: Report) -> str:
    """The summary in one plain line, for commands that write the report to a file."""
    counts = report.counts
    if any(counts[s] for s in ("info", "warn", "fail", "error")):
        return f"{count_words(counts).capitalize()}. Verdict: {report.verdict}."
    return f"No problems found in {plural(counts['pass'], 'check')}."


__all__ = [
    "ASCII_MARKS",
    "STYLES",
    "Hanging",
    "UNICODE_MARKS",
    "item",
    "finding_node",
    "make_console",
    "output_width",
    "plain_output",
    "print_blocks",
    "render_finding",
    "render_text",
    "report_blocks",
    "to_renderable",
    "summary_line",
]
