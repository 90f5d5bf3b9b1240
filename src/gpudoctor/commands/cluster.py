"""``gpudoctor cluster``: under torchrun, every node probes and rank 0 writes one report."""

from __future__ import annotations

import os
import sys

import click

from gpudoctor.commands.options import budget_option
from gpudoctor.commands.options import float_option
from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import no_plugins_option
from gpudoctor.commands.options import no_redact_option
from gpudoctor.commands.options import output_option
from gpudoctor.commands.options import strict_option
from gpudoctor.commands.options import verbose_option


def _files(value: str | None) -> list[str]:
    return [p for p in (value or "").split(",") if p]


@click.command("cluster")
@format_option("text", "json", "markdown", help="Output format of rank 0's report.")
@output_option("Rank 0 writes the report to FILE instead of standard output.")
@click.option(
    "--comms",
    is_flag=True,
    help="Also time a short all-reduce per backend (gloo; NCCL with CUDA) and look "
    "at the NCCL environment of every node.",
)
@float_option(
    "--timeout",
    min=1,
    max=3600,
    default=60.0,
    help="How long rank 0 waits for every rank at each step before naming the "
    "ranks that never arrived.",
)
@click.option(
    "--comms-size",
    type=click.IntRange(min=4, max=2**31),
    default=8 * 2**20,
    show_default=True,
    metavar="BYTES",
    help="All-reduce message size for bandwidth.",
)
@budget_option(help="Total time each node's probes may take (default 5).")
@verbose_option()
@strict_option()
@no_plugins_option()
@no_redact_option(
    "Keep user, host and home names (nodes are then labelled by host name), "
    "addresses and GPU ids (never secrets)."
)
@click.option(
    "--replay-as",
    "replay_as",
    default=None,
    hidden=True,
    help="Testing: rank r replays the r-th of these comma-separated snapshots.",
)
@click.option(
    "--stall-rank",
    "stall_rank",
    type=int,
    default=None,
    hidden=True,
    help="Testing: this rank never arrives at its first guarded step.",
)
def cluster_command(
    fmt: str,
    output: str | None,
    comms: bool,
    timeout: float,
    comms_size: int,
    budget: float | None,
    verbose: bool,
    strict: bool,
    no_plugins: bool,
    no_redact: bool,
    replay_as: str | None,
    stall_rank: int | None,
) -> None:
    """Check every node of a distributed job from inside the job's launcher.

    Run one process per node under torchrun (or any launcher that sets RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT). Each node runs the usual checks; rank 0 merges them, compares
    the nodes and writes one report (exit 1 when anything is above info).

    \b
    Examples:
      torchrun --nnodes 4 --nproc-per-node 1 --rdzv-backend c10d \\
          --rdzv-endpoint HEAD:29500 -m gpudoctor cluster \\
          -o cluster.md -f markdown
      torchrun ... -m gpudoctor cluster --comms
                                     also time all-reduce, check NCCL setup
    """
    from gpudoctor.cluster.dist import Aborted
    from gpudoctor.cluster.dist import ClusterOptions
    from gpudoctor.cluster.dist import run_cluster
    from gpudoctor.commands.merge import exit_with_cluster_report
    from gpudoctor.files import check_writable
    from gpudoctor.session import warn_if_not_redacted

    if output and os.environ.get("RANK", "0") == "0":
        check_writable(output)
    options = ClusterOptions(
        comms=comms,
        timeout=timeout,
        budget=budget,
        redact=not no_redact,
        plugins=not no_plugins,
        command="gpudoctor " + " ".join(sys.argv[1:]),
        comms_bytes=comms_size,
        replay_as=_files(replay_as),
        stall_rank=stall_rank,
    )
    try:
        report = run_cluster(options)
    except Aborted as exc:
        click.echo(f"gpudoctor: cluster run stopped: {exc}", err=True)
        sys.exit(exc.exit_code)
    if report is None:
        sys.exit(0)
    warn_if_not_redacted(not no_redact)
    exit_with_cluster_report(
        report, fmt=fmt.lower(), output=output, redact=not no_redact, strict=strict, verbose=verbose
    )
