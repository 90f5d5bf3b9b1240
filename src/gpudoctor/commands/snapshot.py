"""``gpudoctor snapshot``: record this machine's facts for a maintainer to replay."""

from __future__ import annotations

import click

from gpudoctor.commands.options import budget_option, command_line, no_redact_option, output_option


@click.command("snapshot")
@output_option("Write the snapshot to FILE (default: standard output).")
@budget_option(help="Total time the probes may take (default 5).")
@no_redact_option()
def snapshot_command(output: str | None, budget: float | None, no_redact: bool) -> None:
    """Record this machine's facts for replay: gpudoctor check --replay FILE.

    The snapshot holds no secrets: only allow-listed environment variables are recorded,
    and user, host and home names, addresses and GPU ids are replaced by placeholders.
    """
    from gpudoctor.session import write_snapshot

    write_snapshot(output, budget=budget, command=command_line(), redact=not no_redact)
