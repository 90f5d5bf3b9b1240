"""Options that several commands share, declared once so they read the same everywhere."""

from __future__ import annotations

import io
import math
import sys
from typing import Any
from typing import Callable
from typing import NoReturn
from typing import TextIO
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that refuses NaN and infinities (``nan`` passes every comparison)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        number = float(super().convert(value, param, ctx))
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return float(number)


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
    return path_option("-o", "--output", help=help)


def replay_option(help: str) -> Callable[[F], F]:
    """``--replay FILE``: a recorded snapshot or JSON report instead of this machine."""
    return path_option("--replay", help=help)


def float_option(
    *decls: str,
    help: str,
    min: float,
    max: float | None = None,
    min_open: bool = False,
    default: float | None = None,
    metavar: str | None = "SECONDS",
) -> Callable[[F], F]:
    """A finite number from ``min`` to ``max`` (seconds unless ``metavar`` names another
    unit; ``None`` shows the range), with its default shown when it has one."""
    return click.option(
        *decls,
        type=FiniteFloatRange(min=min, max=max, min_open=min_open),
        default=default,
        show_default=default is not None,
        metavar=metavar,
        help=help,
    )


def path_option(
    *decls: str, help: str, metavar: str | None = "FILE", exists: bool = False
) -> Callable[[F], F]:
    """A file path, none by default (``metavar=None`` shows click's ``PATH``)."""
    return click.option(
        *decls,
        type=click.Path(exists=exists, dir_okay=False),
        default=None,
        metavar=metavar,
        help=help,
    )


def budget_option(default: float | None = None, help: str = "") -> Callable[[F], F]:
    """``--budget SECONDS``: the total time the probes may take."""
    return float_option(
        "--budget",
        min=0.1,
        max=600,
        default=default,
        help=help or "Total time the probes may take.",
    )


def no_redact_option(help: str = NO_REDACT_HELP) -> Callable[[F], F]:
    """``--no-redact``."""
    return click.option("--no-redact", is_flag=True, help=help)


def python_option() -> Callable[[F], F]:
    """``--python PATH``: inspect another interpreter's environment (its torch, its packages)."""
    return click.option(
        "--python",
        "python",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        metavar="PATH",
        help="Inspect this interpreter's environment instead of the active one (VIRTUAL_ENV, "
        "CONDA_PREFIX). torch is never imported in gpudoctor's process.",
    )


def config_option(help: str) -> Callable[[F], F]:
    """``--config FILE`` (repeatable): a training config to read, never to run."""
    return click.option(
        "--config",
        "configs",
        multiple=True,
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help=help,
    )


def verbose_option(help: str = "Also show passing and skipped checks.") -> Callable[[F], F]:
    """``-v/--verbose``."""
    return click.option("-v", "--verbose", is_flag=True, help=help)


def strict_option() -> Callable[[F], F]:
    """``--strict``: info findings fail a CI job too."""
    return click.option("--strict", is_flag=True, help="Exit 1 on info findings too (for CI).")


def no_plugins_option() -> Callable[[F], F]:
    """``--no-plugins``."""
    return click.option("--no-plugins", is_flag=True, help="Run only gpudoctor's built-in checks.")


def write_document(
    output: str | None, render: Callable[[TextIO, bool], None], *, what: str, verdict: str
) -> None:
    """``render(stream, plain)`` into ``output`` (atomically, plain text, and say so on
    standard error) or onto standard output (plain where that is not a terminal)."""
    from gpudoctor.files import atomic_write_text
    from gpudoctor.report.text import plain_output

    if output:
        buffer = io.StringIO()
        render(buffer, True)
        atomic_write_text(output, buffer.getvalue())
        click.echo(f"gpudoctor: {what} written to {output} (verdict: {verdict})", err=True)
    else:
        render(sys.stdout, plain_output(sys.stdout))


def log_option(help: str) -> Callable[[F], F]:
    """``--log PATH`` (repeatable): a training log or crash output to read as well."""
    return click.option(
        "--log", "logs", multiple=True, type=click.Path(), metavar="PATH", help=help
    )


def command_line() -> str:
    """How the user called us, for the report header."""
    args = sys.argv[1:]
    if all(map(_needs_no_quotes, args)):
        return " ".join(["gpudoctor", *args])  # what shlex.join writes for these
    import shlex

    return "gpudoctor " + shlex.join(args)


def _needs_no_quotes(arg: str) -> bool:
    """True where ``shlex.quote`` leaves ``arg`` as it is (word characters and ``@%+=:,./-``)."""
    return bool(arg) and all(c.isalnum() or c in "_@%+=:,./-" for c in arg)


def fail_usage(message: str) -> NoReturn:
    """Print a one-line error and leave with exit code 2."""
    from gpudoctor.privacy import strip_control

    line = " ".join(strip_control(message).splitlines())
    click.echo(f"gpudoctor: error: {line}", err=True)
    sys.exit(EXIT_USAGE)
