"""Options that several commands share, declared once so they read the same everywhere."""

from __future__ import annotations

import shlex
import sys
from typing import Callable, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

NO_REDACT_HELP = (
    "Keep user, host and home names, IP/MAC addresses and GPU ids in the output "
    "(secrets are still withheld). Not for public tickets."
)


def format_option(
    *choices: str, default: str = "text", help: str = "Output format."
) -> Callable[[F], F]:
    """``-f/--format`` limited to the formats a command can write (first is the default)."""
    return click.option(
        "-f",
        "--format",
        "fmt",
        type=click.Choice(list(choices), case_sensitive=False),
        default=choices[0],
        show_default=True,
        help=help,
    )


def output_option(help: str = "Write to FILE instead of standard output.") -> Callable[[F], F]:
    """``-o/--output FILE``."""
    return click.option(
        "-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE", help=help
    )


def replay_option(help: str) -> Callable[[F], F]:
    """``--replay FILE``: a recorded snapshot or JSON report instead of this machine."""
    return click.option(
        "--replay", type=click.Path(dir_okay=False), default=None, metavar="FILE", help=help
    )


def budget_option(default: float | None = None, help: str = "") -> Callable[[F], F]:
    """``--budget SECONDS``: the total time the probes may take."""
    return click.option(
        "--budget",
        type=click.FloatRange(min=0.1, max=600),
        default=default,
        show_default=default is not None,
        metavar="SECONDS",
        help=help or "Total time the probes may take.",
    )


def no_redact_option(help: str = NO_REDACT_HELP) -> Callable[[F], F]:
    """``--no-redact``."""
    return click.option("--no-redact", is_flag=True, help=help)


def log_option(help: str) -> Callable[[F], F]:
    """``--log PATH`` (repeatable): a training log or crash output to read as well."""
    return click.option(
        "--log", "logs", multiple=True, type=click.Path(), metavar="PATH", help=help
    )


def command_line() -> str:
    """How the user called us, for the report header."""
    args = sys.argv[1:]
    return "gpudoctor" + ("" if not args else " " + shlex.join(args))


def fail_usage(message: str) -> NoReturn:
    """Print a one-line error and leave with exit code 2."""
    click.echo(f"gpudoctor: error: {message}", err=True)
    sys.exit(EXIT_USAGE)
