"""``gpudoctor list``: every check with its id, name, summary and fix, in 80 columns."""

from __future__ import annotations

import sys

import click

from gpudoctor.commands.options import format_option

#: ``list`` stays readable in the narrowest common terminal.
LIST_WIDTH = 80


@click.command("list")
@format_option("text", "json")
def list_command(fmt: str) -> None:
    """List every check: id, name, what it looks for, and its fix.

    \b
    Examples:
      gpudoctor list
      gpudoctor list -f json
    """
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
    render_list(specs, sys.stdout)
    for err in registry.load_errors:
        click.echo(f"GD900  plugin {err.plugin!r} not loaded: {err.message}", err=True)


def render_list(specs: list[object], stream: object) -> None:
    """Id and name on the left, the summary wrapping beside them, never past 80 columns."""
    from rich.table import Table
    from rich.text import Text

    from gpudoctor.report.text import make_console
    from gpudoctor.report.text import output_width
    from gpudoctor.report.text import plain_output

    plain = plain_output(stream)  # type: ignore[arg-type]
    width = min(output_width(plain) or LIST_WIDTH, LIST_WIDTH)
    console = make_console(stream, plain=plain, width=width)  # type: ignore[arg-type]
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for spec in specs:
        name = getattr(spec, "name", "")
        body = Text(f"{name}", style="cyan")
        body.append(f"  {getattr(spec, 'summary', '')}")
        fix = getattr(spec, "fix", None)
        if fix:
            body.append(f" [fix: {fix}]", style="green")
        origin = getattr(spec, "origin", "gpudoctor")
        if origin != "gpudoctor":
            body.append(f" ({origin})", style="dim")
        grid.add_row(getattr(spec, "id", ""), body)
    console.print(grid)
