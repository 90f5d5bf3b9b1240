"""Shell completion: check ids for ``--select``/``--ignore``/``explain``, and PowerShell.

click completes commands and options for bash, zsh and fish by itself
(``_GPUDOCTOR_COMPLETE=bash_source gpudoctor``). This module adds the check ids as values
and a ``powershell`` shell class in the same protocol, so the README can give one line
per shell.
"""

from __future__ import annotations

import os
from typing import Any

import click
from click.shell_completion import CompletionItem
from click.shell_completion import ShellComplete
from click.shell_completion import add_completion_class


def check_id_items(incomplete: str) -> list[CompletionItem]:
    """Check ids and names starting with ``incomplete`` (after the last comma)."""
    from gpudoctor.registry import load_registry

    head, _, tail = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    items: list[CompletionItem] = []
    try:
        specs = list(load_registry())
    except Exception:  # noqa: BLE001 - a broken plugin must not break the user's shell
        return items
    needle = tail.lower()
    for spec in specs:
        if spec.id.lower().startswith(needle):
            items.append(CompletionItem(prefix + spec.id, help=spec.summary))
        elif needle and spec.name.startswith(needle):
            items.append(CompletionItem(prefix + spec.name, help=spec.summary))
    return items


def complete_check_ids(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """A click ``shell_complete`` callback for options and arguments that take check ids."""
    return check_id_items(incomplete)


_POWERSHELL_SOURCE = """\
Register-ArgumentCompleter -Native -CommandName %(prog_name)s -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $env:COMP_WORDS = $commandAst.ToString()
    $env:COMP_CWORD = $commandAst.CommandElements.Count - 1
    if ($wordToComplete -eq '') { $env:COMP_CWORD = $commandAst.CommandElements.Count }
    $env:%(complete_var)s = 'powershell_complete'
    %(prog_name)s | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
    Remove-Item Env:%(complete_var)s, Env:COMP_WORDS, Env:COMP_CWORD
}
"""


class PowerShellComplete(ShellComplete):
    """PowerShell completion through click's protocol (click ships bash, zsh and fish)."""

    name = "powershell"
    source_template = _POWERSHELL_SOURCE

    def get_completion_args(self) -> tuple[list[str], str]:
        import shlex

        words = shlex.split(os.environ.get("COMP_WORDS", ""), posix=False)
        try:
            cword = int(os.environ.get("COMP_CWORD", "0"))
        except ValueError:
            cword = len(words)
        args = words[1:cword]
        incomplete = words[cword] if cword < len(words) else ""
        return args, incomplete

    def format_completion(self, item: CompletionItem) -> str:
        return str(item.value)


def register() -> None:
    """Make ``_GPUDOCTOR_COMPLETE=powershell_source`` known to click."""
    add_completion_class(PowerShellComplete)


def completion_kwargs() -> dict[str, Any]:
    """Keyword arguments that give a click option or argument check-id completion."""
    return {"shell_complete": complete_check_ids}
