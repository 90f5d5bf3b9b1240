"""``gpudoctor check``: look at this machine (or a replayed one) and report what hurts training."""

from __future__ import annotations

import sys

import click

from gpudoctor.commands.completion import complete_check_ids
from gpudoctor.commands.options import budget_option
from gpudoctor.commands.options import command_line
from gpudoctor.commands.options import config_option
from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import log_option
from gpudoctor.commands.options import no_plugins_option
from gpudoctor.commands.options import no_redact_option
from gpudoctor.commands.options import output_option
from gpudoctor.commands.options import path_option
from gpudoctor.commands.options import python_option
from gpudoctor.commands.options import replay_option
from gpudoctor.commands.options import strict_option
from gpudoctor.commands.options import verbose_option


@click.command("check")
@format_option(
    "text", "json", "markdown", help="Output format; json follows schemas/report.schema.json."
)
@output_option("Write the report to FILE instead of standard output.")
@click.option(
    "--select",
    multiple=True,
    metavar="IDS",
    help="Run only these checks: ids, names or prefixes, comma-separated (GD3,GD101).",
    shell_complete=complete_check_ids,
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="IDS",
    help="Skip these checks (same syntax).",
    shell_complete=complete_check_ids,
)
@verbose_option("Also show passes, the checks that did not apply (once per reason), probe timings.")
@strict_option()
@replay_option("Run the checks on a recorded snapshot or JSON report instead of this machine.")
@budget_option(help="Total time the probes may take (default 5; 60 with --deep).")
@no_plugins_option()
@path_option(
    "--wslconfig",
    "wslconfig_path",
    exists=True,
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
@config_option("Read a training config (mmengine .py, YAML) likewise.")
@click.option(
    "--deep",
    is_flag=True,
    help="Also measure the read speed of --data and the DataLoader's throughput "
    "(about a minute; the GPU self-test is 'gpudoctor bench gpu').",
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(),
    default=None,
    metavar="PATH",
    help="The dataset folder that --deep measures.",
)
@python_option()
@log_option("Also read a training log or crash output (as 'gpudoctor log' does).")
@no_redact_option()
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
    python: str | None,
    logs: tuple[str, ...],
    no_redact: bool,
) -> None:
    """Look at this machine (or a replayed snapshot) and report what will hurt training.

    \b
    Examples:
      gpudoctor check
      gpudoctor check --select GD3 -v
      gpudoctor check --format json -o report.json
      gpudoctor check --replay machine.json    re-run checks on a snapshot
      gpudoctor check --python ~/venvs/train/bin/python
                                               inspect that environment's torch
    """
    from gpudoctor.session import CheckRequest
    from gpudoctor.session import run_check

    if python:
        from gpudoctor.commands.options import fail_usage
        from gpudoctor.probes.target import interpreter_problem

        problem = interpreter_problem(python)
        if problem:
            fail_usage(f"--python {python}: {problem}")

    # Regular files of a documented size only (a FIFO would hang the probe): exit 2 early.
    if wslconfig_path or scripts or configs:
        from gpudoctor.files import SOURCE_MAX_BYTES
        from gpudoctor.files import WSLCONFIG_MAX_BYTES
        from gpudoctor.files import check_readable

        if wslconfig_path:
            check_readable(wslconfig_path, WSLCONFIG_MAX_BYTES, ".wslconfig file")
        for source in (*scripts, *configs):
            check_readable(source, SOURCE_MAX_BYTES, "training script or config")
    request = CheckRequest(
        fmt=fmt.lower(),
        output=output,
        select=select,
        ignore=ignore,
        verbose=verbose,
        strict=strict,
        replay=replay,
        budget=budget if budget is not None or not logs else 60.0,
        plugins=not no_plugins,
        deep=deep,
        command=command_line(),
        redact=not no_redact,
        options={
            "wslconfig": wslconfig_path,
            "scripts": list(scripts),
            "configs": list(configs),
            "data": data_path,
            "python": python,
            "logs": list(logs),
            # -v shows evidence, so it pays for a short swap sample (--deep does too).
            "swap_sample": verbose,
        },
    )
    sys.exit(run_check(request))
