"""``gpudoctor snapshot``: record this machine's facts for a maintainer to replay."""

from __future__ import annotations

import click

from gpudoctor.commands.options import budget_option
from gpudoctor.commands.options import command_line
from gpudoctor.commands.options import no_redact_option
from gpudoctor.commands.options import output_option


@click.command("snapshot")
@output_option(
    "Write the snapshot to FILE (default: standard output); %N or %h in FILE becomes this "
    "host's name, for one file per node: -o reports/%N.json"
)
@budget_option(help="Total time the probes may take (default 5).")
@no_redact_option()
@click.option(
    "--replay-as", "replay_as", default=None, hidden=True, help="Testing: re-record FILE."
)
def snapshot_command(
    output: str | None, budget: float | None, no_redact: bool, replay_as: str | None
) -> None:
    """Record this machine's facts for replay: gpudoctor check --replay FILE.

    The snapshot holds no secrets: only allow-listed environment variables are recorded,
    and user, host and home names, addresses and GPU ids are replaced by placeholders.
    """
    from gpudoctor.cluster.hostname import expand_node_pattern
    from gpudoctor.facts.snapshot import load_replay
    from gpudoctor.session import write_snapshot

    write_snapshot(
        expand_node_pattern(output) if output else None,
        budget=budget,
        command=command_line(),
        redact=not no_redact,
        facts=load_replay(replay_as) if replay_as else None,
    )
