"""``gpudoctor merge``: one cluster report from per-node snapshots (any launcher)."""

from __future__ import annotations

import io
import sys

import click

from gpudoctor.commands.options import format_option, no_redact_option, output_option


def write_cluster_report(
    report: object, *, fmt: str, output: str | None, redact: bool, strict: bool, verbose: bool
) -> int:
    """Render to ``output`` (atomically) or standard output; return the exit code."""
    from gpudoctor.cluster.merge import ClusterReport
    from gpudoctor.files import atomic_write_text
    from gpudoctor.report.cluster import render_cluster
    from gpudoctor.report.text import plain_output

    assert isinstance(report, ClusterReport)
    if output:
        buffer = io.StringIO()
        render_cluster(
            report, fmt, buffer, plain=True, redact=redact, strict=strict, verbose=verbose
        )
        atomic_write_text(output, buffer.getvalue())
        click.echo(
            f"gpudoctor: cluster report written to {output} (verdict: {report.summary.verdict})",
            err=True,
        )
    else:
        render_cluster(
            report,
            fmt,
            sys.stdout,
            plain=plain_output(sys.stdout),
            redact=redact,
            strict=strict,
            verbose=verbose,
        )
    return report.summary.exit_code(strict)


@click.command("merge")
@click.argument("snapshots", nargs=-1, required=True, metavar="SNAPSHOT...")
@format_option(
    "text", "json", "markdown", help="Output format; json is the cluster report (docs/cluster.md)."
)
@output_option("Write the report to FILE instead of standard output.")
@click.option("-v", "--verbose", is_flag=True, help="Also show passing and skipped checks.")
@click.option("--strict", is_flag=True, help="Exit 1 on info findings too (for CI).")
@click.option("--no-plugins", is_flag=True, help="Run only gpudoctor's built-in checks.")
@no_redact_option()
def merge_command(
    snapshots: tuple[str, ...],
    fmt: str,
    output: str | None,
    verbose: bool,
    strict: bool,
    no_plugins: bool,
    no_redact: bool,
) -> None:
    """Merge snapshots of several nodes into one cluster report.

    Each SNAPSHOT is what 'gpudoctor snapshot' wrote on one node; its file name (without
    .json) names the node in the report. Runs every check on every node, labels each
    finding with its nodes, and compares the nodes (driver, CUDA, torch, NCCL, GPUs,
    throttling, limits).

    \b
    Examples:
      srun --ntasks-per-node=1 gpudoctor snapshot -o reports/%N.json
      gpudoctor merge reports/*.json
    """
    from gpudoctor.cluster.merge import merge_files
    from gpudoctor.files import check_writable
    from gpudoctor.session import warn_if_not_redacted

    if output:
        check_writable(output)
    warn_if_not_redacted(not no_redact)
    command = "gpudoctor merge " + " ".join(snapshots)
    report = merge_files(list(snapshots), command=command, plugins=not no_plugins)
    sys.exit(
        write_cluster_report(
            report,
            fmt=fmt.lower(),
            output=output,
            redact=not no_redact,
            strict=strict,
            verbose=verbose,
        )
    )
