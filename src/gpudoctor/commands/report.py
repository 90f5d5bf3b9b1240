"""``gpudoctor report``: the report to attach to a bug ticket (verdicts, then every fact)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from gpudoctor.commands.options import budget_option
from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import log_option
from gpudoctor.commands.options import no_redact_option
from gpudoctor.commands.options import output_option
from gpudoctor.commands.options import python_option
from gpudoctor.commands.options import replay_option

if TYPE_CHECKING:
    from gpudoctor.runner import Report

#: Probes get more time here than in ``check``: torch is imported in a child process.
REPORT_BUDGET = 30.0


@click.command("report")
@output_option("Write the report to FILE instead of standard output.")
@format_option(
    "markdown",
    "json",
    help="markdown to paste into an issue; json to attach (replays with check --replay).",
)
@no_redact_option()
@replay_option("Build the report from a snapshot or JSON report instead of this machine.")
@budget_option(default=REPORT_BUDGET)
@python_option()
@log_option("Attach what a training log or crash output says (GD8 findings, run_log facts).")
def report_command(
    output: str | None,
    fmt: str,
    no_redact: bool,
    replay: str | None,
    budget: float,
    python: str | None,
    logs: tuple[str, ...],
) -> None:
    """Write a bug-ticket report: findings with remedies first, then every fact.

    On a terminal without -o, the report goes to ./gpudoctor-report.md (.json) and only
    the verdict and the problems are shown; piped, the document itself is printed.

    It holds every field of 'python -m torch.utils.collect_env' (without importing torch in
    this process) plus gpudoctor's verdicts, memory, swap, /dev/shm, WSL and GPU facts. User,
    host and home names, IP/MAC addresses and GPU ids are replaced by placeholders, and no
    secret is ever printed. The Markdown fits in a GitHub issue body.

    \b
    Examples:
      gpudoctor report                          summary here, report in a file
      gpudoctor report -o report.md             paste report.md into the issue
      gpudoctor report -f json -o report.json   attach it; maintainers replay it:
      gpudoctor check --replay report.json
      gpudoctor report --replay report.json     re-render a user's JSON report
    """
    import io
    import sys

    from gpudoctor.commands.options import command_line
    from gpudoctor.files import atomic_write_text
    from gpudoctor.files import check_writable
    from gpudoctor.privacy import redact_report
    from gpudoctor.report.ticket import render_ticket_markdown
    from gpudoctor.report.ticket import ticket_document
    from gpudoctor.session import CheckRequest
    from gpudoctor.session import build_report
    from gpudoctor.session import warn_if_not_redacted

    if output:
        check_writable(output)
    if python:
        from gpudoctor.commands.options import fail_usage
        from gpudoctor.probes.target import interpreter_problem

        problem = interpreter_problem(python)
        if problem:
            fail_usage(f"--python {python}: {problem}")
    redact = not no_redact
    warn_if_not_redacted(redact)
    request = CheckRequest(
        fmt=fmt.lower(),
        output=output,
        replay=replay,
        budget=budget,
        command=command_line(),
        redact=redact,
        options={"report": True, "python": python, "logs": list(logs)},
    )
    report = redact_report(build_report(request), enabled=redact)
    buffer = io.StringIO()
    if request.fmt == "json":
        import json

        buffer.write(
            json.dumps(ticket_document(report, redacted=redact), indent=2, allow_nan=False) + "\n"
        )
    else:
        buffer.write(render_ticket_markdown(report, redacted=redact))
    from gpudoctor.report.text import plain_output

    if not output and plain_output(sys.stdout):
        sys.stdout.write(buffer.getvalue())  # piped: the document itself
        return
    target = output or default_report_path(request.fmt)
    atomic_write_text(target, buffer.getvalue())
    if output:
        click.echo(f"gpudoctor: report written to {output} (verdict: {report.verdict})", err=True)
    else:
        print_terminal_summary(report, target)


def default_report_path(fmt: str) -> str:
    """Where the report goes when asked for on a terminal: this folder, or the temp folder."""
    import os
    import tempfile

    from gpudoctor.errors import GpuDoctorError
    from gpudoctor.files import check_writable

    name = "gpudoctor-report." + ("json" if fmt == "json" else "md")
    try:
        check_writable(name)
        return name
    except (GpuDoctorError, OSError):
        return os.path.join(tempfile.gettempdir(), name)


def print_terminal_summary(report: Report, path: str) -> None:
    """On a terminal: the verdict, each problem in a line, and where the report went."""
    import sys

    from rich.text import Text

    from gpudoctor.model import Severity
    from gpudoctor.report.text import STYLES
    from gpudoctor.report.text import UNICODE_MARKS
    from gpudoctor.report.text import item
    from gpudoctor.report.text import make_console
    from gpudoctor.report.text import summary_line

    console = make_console(sys.stdout, plain=False)
    console.print(Text(summary_line(report), style="bold"))
    for finding in report.findings:
        if finding.severity.rank >= Severity.INFO.rank:
            console.print(
                item(
                    UNICODE_MARKS[finding.severity],
                    Text(f"{finding.check_id} {finding.name}: {finding.title}"),
                    STYLES[finding.severity],
                )
            )
    size = os.path.getsize(path)
    console.print()
    console.print(
        Text(f"Report written to {path} ({size:,} bytes): paste it into the issue, or attach it.")
    )
