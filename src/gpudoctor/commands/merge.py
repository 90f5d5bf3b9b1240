"""``gpudoctor merge``: one cluster report from per-node snapshots (any launcher)."""

from __future__ import annotations

import sys
from typing import NoReturn
from typing import TextIO

import click

from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import no_plugins_option
from gpudoctor.commands.options import no_redact_option
from gpudoctor.commands.options import output_option
from gpudoctor.commands.options import strict_option
from gpudoctor.commands.options import verbose_option
from gpudoctor.commands.options import write_document


def exit_with_cluster_report(
    report: object, *, fmt: str, output: str | None, redact: bool, strict: bool, verbose: bool
) -> NoReturn:
    """Render to ``output`` (atomically) or standard output, and exit with the report's code."""
    from gpudoctor.cluster.merge import ClusterReport
    from gpudoctor.report.cluster import render_cluster

    assert isinstance(report, ClusterReport)

    def draw(stream: TextIO, plain: bool) -> None:
        render_cluster(
            report, fmt, stream, plain=plain, redact=redact, strict=strict, verbose=verbose
        )

    write_document(output, draw, what="cluster report", verdict=report.summary.verdict)
    sys.exit(report.summary.exit_code(strict))


@click.command("merge")
@click.argument("snapshots", nargs=-1, required=True, metavar="SNAPSHOT...")
@format_option(
    "text", "json", "markdown", help="Output format; json is the cluster report (docs/cluster.md)."
)
@output_option("Write the report to FILE instead of standard output.")
@verbose_option()
@strict_option()
@no_plugins_option()
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
    exit_with_cluster_report(
        report, fmt=fmt.lower(), output=output, redact=not no_redact, strict=strict, verbose=verbose
    )
