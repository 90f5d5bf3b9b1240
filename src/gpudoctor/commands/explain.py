"""``gpudoctor explain ID``: the reference page of a check.

On a terminal the page is rendered (headings, bold, code blocks) by rich; piped or
redirected it is the Markdown page itself, so ``gpudoctor explain GD303 > GD303.md`` works.
"""

from __future__ import annotations

import sys

import click

from gpudoctor.commands.completion import complete_check_ids
from gpudoctor.commands.options import fail_usage


@click.command("explain")
@click.argument("check_id", metavar="ID", shell_complete=complete_check_ids)
def explain_command(check_id: str) -> None:
    """Show the reference page of a check (by id like GD303, or by name).

    \b
    Examples:
      gpudoctor explain GD303
      gpudoctor explain dev-shm-size
      gpudoctor explain GD303 > GD303.md     the Markdown page itself
    """
    from gpudoctor.reference import reference_page
    from gpudoctor.registry import load_registry
    from gpudoctor.report.text import plain_output

    spec = load_registry().get(check_id)
    if spec is None:
        fail_usage(f"unknown check {check_id!r}: see 'gpudoctor list' for the check ids")
        return
    page = reference_page(spec)
    if plain_output(sys.stdout):
        click.echo(page)
        return
    render_page(page)


def render_page(page: str) -> None:
    """The page as rich renders Markdown, at most 100 columns wide."""
    from rich.markdown import Markdown

    from gpudoctor.report.text import make_console
    from gpudoctor.report.text import output_width

    width = output_width(False)
    console = make_console(sys.stdout, plain=False, width=width)
    if width is None and console.width > 100:
        console.width = 100
    console.print(Markdown(page, code_theme="ansi_dark", hyperlinks=False))
