"""``gpudoctor report``: the report to attach to a bug ticket (verdicts, then every fact)."""

from __future__ import annotations

import click

#: Probes get more time here than in ``check``: torch is imported in a child process.
REPORT_BUDGET = 30.0


@click.command("report")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json"], case_sensitive=False),
    default="markdown",
    show_default=True,
    help="markdown to paste into an issue; json to attach (replays with check --replay).",
)
@click.option(
    "--no-redact",
    is_flag=True,
    help="Keep user, host and home names, addresses and GPU ids (secrets are still withheld).",
)
@click.option(
    "--replay",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Build the report from a snapshot or JSON report instead of this machine.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.1, max=600),
    default=REPORT_BUDGET,
    show_default=True,
    metavar="SECONDS",
    help="Total time the probes may take.",
)
def report_command(
    output: str | None, fmt: str, no_redact: bool, replay: str | None, budget: float
) -> None:
    """Write a bug-ticket report: findings with remedies first, then every fact.

    It holds every field of 'python -m torch.utils.collect_env' (without importing torch in
    this process) plus gpudoctor's verdicts, memory, swap, /dev/shm, WSL and GPU facts. User,
    host and home names, IP/MAC addresses and GPU ids are replaced by placeholders, and no
    secret is ever printed. The Markdown fits in a GitHub issue body.

    \b
    Examples:
      gpudoctor report -o report.md                 paste report.md into the issue
      gpudoctor report --format json -o report.json attach it; maintainers replay it:
      gpudoctor check --replay report.json
      gpudoctor report --replay report.json         re-render a user's JSON report
    """
    import io
    import sys

    from gpudoctor.cli import _command_line
    from gpudoctor.files import atomic_write_text, check_writable
    from gpudoctor.privacy import redact_report
    from gpudoctor.report.ticket import render_ticket_markdown, ticket_document
    from gpudoctor.session import CheckRequest, build_report, warn_if_not_redacted

    if output:
        check_writable(output)
    redact = not no_redact
    warn_if_not_redacted(redact)
    request = CheckRequest(
        fmt=fmt.lower(),
        output=output,
        replay=replay,
        budget=budget,
        command=_command_line(),
        redact=redact,
        options={"report": True},
    )
    report = redact_report(build_report(request), enabled=redact)
    buffer = io.StringIO()
    if request.fmt == "json":
        import json

        buffer.write(json.dumps(ticket_document(report, redacted=redact), indent=2) + "\n")
    else:
        buffer.write(render_ticket_markdown(report, redacted=redact))
    if output:
        atomic_write_text(output, buffer.getvalue())
        click.echo(f"gpudoctor: report written to {output} (verdict: {report.verdict})", err=True)
    else:
        sys.stdout.write(buffer.getvalue())


def register(main: click.Group) -> None:
    main.add_command(report_command)
