"""``gpudoctor list``: every check with its id, name, summary and fix."""

from __future__ import annotations

import click

from gpudoctor.commands.options import format_option


@click.command("list")
@format_option("text", "json")
def list_command(fmt: str) -> None:
    """List every check: id, name, what it looks for, and its fix."""
    import json

    from gpudoctor.registry import load_registry

    registry = load_registry()
    specs = list(registry)
    if fmt == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "id": s.id,
                        "name": s.name,
                        "summary": s.summary,
                        "fix": s.fix,
                        "requires": list(s.requires),
                        "origin": s.origin,
                        "tags": list(s.tags),
                    }
                    for s in specs
                ],
                indent=2,
            )
        )
        return
    for spec in specs:
        fix = f"  [fix: {spec.fix}]" if spec.fix else ""
        origin = "" if spec.origin == "gpudoctor" else f"  ({spec.origin})"
        click.echo(f"{spec.id}  {spec.name:<28} {spec.summary}{fix}{origin}")
    for err in registry.load_errors:
        click.echo(f"GD900  plugin {err.plugin!r} not loaded: {err.message}", err=True)
