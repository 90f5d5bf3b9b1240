"""Terminal output: one line per check, evidence and remedies under each problem.

Colour and Unicode marks only on a terminal without ``NO_COLOR``; otherwise plain ASCII, so
logs, pipes and CI output stay readable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

from gpudoctor._version import __version__
from gpudoctor.model import Finding, Severity
from gpudoctor.runner import Report

_UNICODE_MARKS = {
    Severity.PASS: "✓",
    Severity.SKIP: "-",
    Severity.INFO: "i",
    Severity.WARN: "!",
    Severity.FAIL: "✗",
    Severity.ERROR: "E",
}
_ASCII_MARKS = {
    Severity.PASS: "[ok]",
    Severity.SKIP: "[--]",
    Severity.INFO: "[i]",
    Severity.WARN: "[!]",
    Severity.FAIL: "[x]",
    Severity.ERROR: "[E]",
}
_STYLES = {
    Severity.PASS: "green",
    Severity.SKIP: "dim",
    Severity.INFO: "cyan",
    Severity.WARN: "yellow",
    Severity.FAIL: "bold red",
    Severity.ERROR: "bold magenta",
}


def plain_output(stream: IO[str], env: Any = None) -> bool:
    """True when output should be ASCII without colour: not a TTY, or NO_COLOR is set."""
    environ = os.environ if env is None else env
    if "NO_COLOR" in environ:
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty and isatty())
    except ValueError:  # closed stream
        return True


def make_console(stream: IO[str], *, plain: bool, width: int | None = None):  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(
        file=stream,
        no_color=plain,
        color_system=None if plain else "auto",
        highlight=False,
        emoji=False,
        markup=False,
        width=width or (100 if plain else None),
        force_terminal=False if plain else None,
        soft_wrap=plain,
    )


def render_text(
    report: Report,
    stream: IO[str],
    *,
    plain: bool,
    verbose: bool = False,
    strict: bool = False,
    width: int | None = None,
) -> None:
    """Write the report for a human to ``stream``."""
    from rich.text import Text

    console = make_console(stream, plain=plain, width=width)
    marks = _ASCII_MARKS if plain else _UNICODE_MARKS
    host = report.facts.get("host")
    header = f"gpudoctor {__version__}"
    if isinstance(host, Mapping) and host:
        python = host.get("python")
        version = python.get("version") if isinstance(python, Mapping) else None
        header += (
            f" - {host.get('kind')}, {host.get('distro') or host.get('system')}, Python {version}"
        )
    if report.replayed_from:
        header += f" (replayed from {report.replayed_from})"
    console.print(Text(header, style="bold"))
    console.print()
    skipped = [f for f in report.findings if f.severity is Severity.SKIP]
    for finding in report.findings:
        if finding.severity is Severity.SKIP and not verbose:
            continue
        _render_finding(console, finding, marks, verbose)
    if skipped and not verbose:
        ids = ", ".join(sorted({f.check_id for f in skipped}))
        console.print(
            Text(
                f"{marks[Severity.SKIP]} {len(skipped)} checks skipped as not "
                f"applicable here: {ids} (-v shows why)",
                style=_STYLES[Severity.SKIP],
            )
        )
    if verbose:
        _render_probe_times(console, report)
    console.print()
    counts = report.counts
    parts = [
        f"{counts[s.value]} {label}"
        for s, label in (
            (Severity.PASS, "passed"),
            (Severity.INFO, "info"),
            (Severity.WARN, "warnings"),
            (Severity.FAIL, "failed"),
            (Severity.ERROR, "errors"),
            (Severity.SKIP, "skipped"),
        )
        if counts[s.value]
    ]
    line = Text(f"{len(report.findings)} findings: {', '.join(parts)}. ", style="bold")
    line.append(f"Verdict: {report.verdict}.", style=_STYLES[report.worst])
    console.print(line)
    fixes = sorted({f.fix for f in report.findings if f.fix})
    if fixes:
        console.print(
            Text(
                "Automatic fixes available: "
                + ", ".join(f"gpudoctor fix --{name}" for name in fixes)
            )
        )
    if report.exit_code(strict):
        console.print(Text("Details of any check: gpudoctor explain ID", style="dim"))


def _render_finding(
    console: Any, finding: Finding, marks: dict[Severity, str], verbose: bool
) -> None:
    from rich.text import Text

    style = _STYLES[finding.severity]
    line = Text()
    line.append(f"{marks[finding.severity]} ", style=style)
    line.append(f"{finding.check_id} ", style=style)
    line.append(f"{finding.name}: ", style="bold" if finding.is_problem else "")
    line.append(finding.title)
    console.print(line)
    show_details = finding.severity.rank >= Severity.INFO.rank or verbose
    if not show_details:
        return
    for item in finding.evidence:
        ev = Text("    ")
        ev.append(f"{item.label}: ", style="dim")
        ev.append(item.value)
        if item.source:
            ev.append(f"  ({item.source})", style="dim")
        console.print(ev)
    for remedy in finding.remedies:
        where = f" [{', '.join(remedy.platforms)}]" if remedy.platforms else ""
        console.print(Text(f"    -> {remedy.text}{where}"))
        for command in remedy.commands:
            console.print(Text(f"         $ {command}", style="bold"))
    if finding.fix:
        console.print(Text(f"    fix: gpudoctor fix --{finding.fix}", style="green"))
    if finding.severity is Severity.ERROR and verbose and finding.details:
        console.print(Text(finding.details, style="dim"))


def _render_probe_times(console: Any, report: Report) -> None:
    from rich.text import Text

    probes = sorted(report.facts.probes.values(), key=lambda p: -p.seconds)
    if not probes:
        return
    console.print()
    console.print(Text("Probe timings (slowest first):", style="bold"))
    for record in probes:
        status = "" if record.status == "ok" else f"  {record.status}: {record.error}"
        console.print(Text(f"    {record.name:<16} {record.seconds * 1000:8.1f} ms{status}"))
