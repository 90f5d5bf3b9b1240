"""What ``gpudoctor check`` and ``gpudoctor snapshot`` do, between parsing and printing."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import Any

from gpudoctor.facts.model import Facts
from gpudoctor.gc_pause import collector_paused
from gpudoctor.gc_pause import release
from gpudoctor.runner import Report
from gpudoctor.runner import run_checks


class CheckRequest:
    """What ``check`` (and ``report``, ``log``) was asked for, options parsed.

    ``options`` is what probes may look at besides the machine (``wslconfig``,
    ``scripts`` ...); ``redact`` replaces user, host, home, addresses and GPU ids with
    placeholders (off: ``--no-redact``).
    """

    def __init__(
        self,
        fmt: str = "text",
        output: str | None = None,
        select: Sequence[str] = (),
        ignore: Sequence[str] = (),
        verbose: bool = False,
        strict: bool = False,
        replay: str | None = None,
        budget: float | None = None,
        plugins: bool = True,
        deep: bool = False,
        command: str = "gpudoctor check",
        options: dict[str, Any] | None = None,
        redact: bool = True,
    ) -> None:
        self.fmt = fmt
        self.output = output
        self.select = select
        self.ignore = ignore
        self.verbose = verbose
        self.strict = strict
        self.replay = replay
        self.budget = budget
        self.plugins = plugins
        self.deep = deep
        self.command = command
        self.options: dict[str, Any] = {} if options is None else options
        self.redact = redact


def gather_live(
    options: dict[str, Any], *, deep: bool, budget: float | None, show_progress: bool
) -> Facts:
    """Run the probes, with a spinner on an interactive terminal."""
    from gpudoctor.probes.gather import collect

    if not show_progress:
        return collect(options, deep=deep, budget=budget)
    from rich.console import Console

    console = Console(file=sys.stderr)
    with console.status("gpudoctor: looking at this machine...") as status:

        def progress(name: str, done: int, total: int) -> None:
            status.update(f"gpudoctor: looking at this machine... {done}/{total} ({name})")

        return collect(options, deep=deep, budget=budget, progress=progress)


def build_report(request: CheckRequest, facts: Facts | None = None) -> Report:
    """Gather (or load) facts and run the selected checks; raises GpuDoctorError on bad input."""
    from gpudoctor.registry import load_registry
    from gpudoctor.report.text import plain_output

    registry = load_registry(plugins=request.plugins, everything=False)
    specs = registry.select(request.select, request.ignore)
    if not request.deep:
        specs = [s for s in specs if not s.deep]
    specs = [s for s in specs if "watch" not in s.tags]  # they need a watched run
    replayed_from = ""
    if facts is None:
        if request.replay:
            from gpudoctor.facts.snapshot import load_replay

            facts = load_replay(request.replay)
            replayed_from = request.replay
        else:
            interactive = not plain_output(sys.stderr)
            facts = gather_live(
                request.options, deep=request.deep, budget=request.budget, show_progress=interactive
            )
    findings = run_checks(facts, specs, load_errors=registry.load_errors)
    return Report(
        facts=facts, findings=findings, command=request.command, replayed_from=replayed_from
    )


def render(report: Report, request: CheckRequest, stream: Any, *, plain: bool) -> None:
    from gpudoctor.privacy import redact_report

    if request.fmt == "text":
        report = written_by_text(report, verbose=request.verbose)
    report = redact_report(report, enabled=request.redact)
    if request.fmt == "json":  # each renderer is imported only when it is the one asked for
        from gpudoctor.report.json_report import render_json

        stream.write(render_json(report, strict=request.strict))
    elif request.fmt == "markdown":
        from gpudoctor.report.markdown import render_markdown

        stream.write(render_markdown(report, strict=request.strict))
    else:
        from gpudoctor.report.text import render_text

        render_text(report, stream, plain=plain, verbose=request.verbose, strict=request.strict)


#: The facts sections the text report prints from (besides findings and probe timings).
TEXT_FACT_SECTIONS = ("host",)


def written_by_text(report: Report, *, verbose: bool = True) -> Report:
    """The part of ``report`` the text output writes: findings, probe timings and the host.

    Redaction costs time in proportion to what it walks, and a text report never prints
    the rest of the facts (a replayed 50k-row process table among them), nor more than a
    few findings of one check (the rest it counts).
    """
    from gpudoctor.report.text import written_findings

    facts = report.facts
    sections = {name: facts[name] for name in TEXT_FACT_SECTIONS if name in facts}
    return Report(
        facts=Facts(sections, dict(facts.probes), schema_version=facts.schema_version),
        findings=written_findings(report.findings, verbose=verbose),
        command=report.command,
        replayed_from=report.replayed_from,
    )


def run_check(request: CheckRequest) -> int:
    """Build the report, write it where asked, and return the exit code."""
    from gpudoctor.report.text import plain_output

    if request.output:
        from gpudoctor.files import check_writable  # only where a file is written

        check_writable(request.output)
    warn_if_not_redacted(request.redact)
    # Facts, findings and their redacted copies are acyclic and live until the output is
    # written: with a 50k-row replay the collector's walks over them cost more than the
    # checks do.
    with collector_paused():
        report = build_report(request)
        if request.output:
            buffer = io.StringIO()
            render(report, request, buffer, plain=True)
            from gpudoctor.files import atomic_write_text

            atomic_write_text(request.output, buffer.getvalue())
            print(
                f"gpudoctor: report written to {request.output} (verdict: {report.verdict})",
                file=sys.stderr,
            )
        else:
            render(report, request, sys.stdout, plain=plain_output(sys.stdout))
        code = report.exit_code(request.strict)
        # Released while the collector is still paused: once it runs again, its first
        # collection would walk every container made above (a 50k-row replay: millions),
        # all alive and acyclic, before they could be freed.
        release(report)
        del report
    return code


def warn_if_not_redacted(redact: bool) -> None:
    """Say loudly, on standard error, what an unredacted report contains."""
    if not redact:
        from gpudoctor.privacy import no_redact_warning

        print(no_redact_warning(), file=sys.stderr)


def write_snapshot(
    output: str | None,
    *,
    budget: float | None,
    command: str,
    options: dict[str, Any] | None = None,
    redact: bool = True,
    facts: Facts | None = None,
) -> None:
    """Record this machine's facts (or ``facts`` given) as a snapshot file or to stdout."""
    from gpudoctor.facts.snapshot import snapshot_document
    from gpudoctor.files import atomic_write_text
    from gpudoctor.files import check_writable
    from gpudoctor.report.text import plain_output

    if output:
        check_writable(output)
    warn_if_not_redacted(redact)
    if facts is None:
        facts = gather_live(
            options or {}, deep=False, budget=budget, show_progress=not plain_output(sys.stderr)
        )
    from gpudoctor.privacy import redact_data

    document = redact_data(snapshot_document(facts, command=command), enabled=redact)
    from gpudoctor.report.json_text import dumps_indented

    text = dumps_indented(document) + "\n"
    if output:
        atomic_write_text(output, text)
        print(
            f"gpudoctor: snapshot written to {output}; replay it with: "
            f"gpudoctor check --replay {output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
