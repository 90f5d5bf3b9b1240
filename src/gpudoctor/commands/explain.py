"""``gpudoctor explain ID``: the reference page of a check."""

from __future__ import annotations

import click

from gpudoctor.commands.options import fail_usage


@click.command("explain")
@click.argument("check_id", metavar="ID")
def explain_command(check_id: str) -> None:
    """Print the reference page of a check (by id like GD303, or by name)."""
    from gpudoctor.reference import reference_page
    from gpudoctor.registry import load_registry

    spec = load_registry().get(check_id)
    if spec is None:
        fail_usage(f"unknown check {check_id!r}: see 'gpudoctor list' for the check ids")
    click.echo(reference_page(spec))
