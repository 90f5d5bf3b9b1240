"""The ``gpudoctor`` command line.

Exit codes: 0 nothing above ``info``; 1 a ``warn``, ``fail`` or ``error`` finding (with
``--strict`` also ``info``); 2 bad usage or input, or gpudoctor itself failed.
"""

from __future__ import annotations

import importlib
import os
import shlex
import sys
from typing import Any

import click

from gpudoctor._version import __version__
from gpudoctor.errors import GpuDoctorError

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2

#: Modules that each add one command (or group) to the CLI through ``register(main)``.
COMMAND_MODULES: tuple[str, ...] = (
    "gpudoctor.commands.fix",
    "gpudoctor.commands.report",
    "gpudoctor.commands.diff",
    "gpudoctor.commands.bench",
    "gpudoctor.commands.watch",
)


def _command_line() -> str:
    args = sys.argv[1:]
    return "gpudoctor" + ("" if not args else " " + shlex.join(args))


def fail_usage(message: str) -> None:
    """Print a one-line error and leave with exit code 2."""
    click.echo(f"gpudoctor: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


class _Group(click.Group):
    """Turns GpuDoctorError anywhere below into one line and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GpuDoctorError as exc:
            fail_usage(str(exc))
        except KeyboardInterrupt:
            click.echo("gpudoctor: interrupted", err=True)
            sys.exit(130)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "-V", "--version", prog_name="gpudoctor", message="%(prog)s %(version)s"
)
def main() -> None:
    """Find out why GPU training crashes, hangs, stutters or runs out of memory.

    \b
    Start with:
      gpudoctor check                  look at this machine and explain what is wrong
      gpudoctor check -f markdown -o report.md
                                       a report to paste into a bug ticket
      gpudoctor explain GD303          what a check looks at and how to fix it
      gpudoctor list                   every check, with its id

    \b
    Exit codes: 0 nothing above info, 1 warnings or failures found, 2 bad usage or
    gpudoctor itself failed.
    """


# -- check ------------------------------------------------------------------------------

_FORMAT = click.Choice(["text", "json", "markdown"], case_sensitive=False)
NO_REDACT_HELP = (
    "Keep user, host and home names, IP/MAC addresses and GPU ids in the output "
    "(secrets are still withheld). Not for public tickets."
)


@main.command("check")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=_FORMAT,
    default="text",
    show_default=True,
    help="Output format; json follows schemas/report.schema.json.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--select",
    multiple=True,
    metavar="IDS",
    help="Run only these checks: ids, names or prefixes, comma-separated (GD3,GD101).",
)
@click.option("--ignore", multiple=True, metavar="IDS", help="Skip these checks (same syntax).")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show evidence for passing checks and probe timings."
)
@click.option("--strict", is_flag=True, help="Exit 1 on info findings too (for CI).")
@click.option(
    "--replay",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Run the checks on a recorded snapshot or JSON report instead of this machine.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.1, max=600),
    default=None,
    metavar="SECONDS",
    help="Total time the probes may take (default 5; 60 with --deep).",
)
@click.option("--no-plugins", is_flag=True, help="Run only gpudoctor's built-in checks.")
@click.option(
    "--wslconfig",
    "wslconfig_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    metavar="PATH",
    help="Analyse this .wslconfig instead of the one WSL uses.",
)
@click.option(
    "--script",
    "scripts",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Read (never run) a training script for DataLoader pitfalls.",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Read a training config (mmengine .py, YAML) likewise.",
)
@click.option(
    "--deep",
    is_flag=True,
    help="Also measure: disk read speed of --data, DataLoader throughput, GPU self-test.",
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(),
    default=None,
    metavar="PATH",
    help="The dataset folder that --deep measures.",
)
@click.option("--no-redact", is_flag=True, help=NO_REDACT_HELP)
def check_command(
    fmt: str,
    output: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    verbose: bool,
    strict: bool,
    replay: str | None,
    budget: float | None,
    no_plugins: bool,
    wslconfig_path: str | None,
    scripts: tuple[str, ...],
    configs: tuple[str, ...],
    deep: bool,
    data_path: str | None,
    no_redact: bool,
) -> None:
    """Look at this machine (or a replayed snapshot) and report what will hurt training.

    \b
    Examples:
      gpudoctor check
      gpudoctor check --select GD3 -v
      gpudoctor check --format json -o report.json
      gpudoctor check --replay machine.json      re-run checks on a user's snapshot
    """
    from gpudoctor.session import CheckRequest, run_check

    request = CheckRequest(
        fmt=fmt.lower(),
        output=output,
        select=select,
        ignore=ignore,
        verbose=verbose,
        strict=strict,
        replay=replay,
        budget=budget,
        plugins=not no_plugins,
        deep=deep,
        command=_command_line(),
        redact=not no_redact,
        options={
            "wslconfig": wslconfig_path,
            "scripts": list(scripts),
            "configs": list(configs),
            "data": data_path,
        },
    )
    sys.exit(run_check(request))


# -- snapshot ---------------------------------------------------------------------------


@main.command("snapshot")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the snapshot to FILE (default: standard output).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0.1, max=600),
    default=None,
    metavar="SECONDS",
    help="Total time the probes may take (default 5).",
)
@click.option("--no-redact", is_flag=True, help=NO_REDACT_HELP)
def snapshot_command(output: str | None, budget: float | None, no_redact: bool) -> None:
    """Record this machine's facts for replay: gpudoctor check --replay FILE.

    The snapshot holds no secrets: only allow-listed environment variables are recorded,
    and user, host and home names, addresses and GPU ids are replaced by placeholders.
    """
    from gpudoctor.session import write_snapshot

    write_snapshot(output, budget=budget, command=_command_line(), redact=not no_redact)


# -- list / explain ---------------------------------------------------------------------


@main.command("list")
@click.option(
    "-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
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


@main.command("explain")
@click.argument("check_id", metavar="ID")
def explain_command(check_id: str) -> None:
    """Print the reference page of a check (by id like GD303, or by name)."""
    from gpudoctor.explain import reference_page
    from gpudoctor.registry import load_registry

    spec = load_registry().get(check_id)
    if spec is None:
        fail_usage(f"unknown check {check_id!r}: see 'gpudoctor list' for the check ids")
    click.echo(reference_page(spec))


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(main)


_register_commands()


def run() -> None:  # pragma: no cover - thin wrapper used by __main__
    main(prog_name="gpudoctor")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    run()
