"""The ``gpudoctor`` command line: the group, its error rule, and the table of commands.

Every command lives in :mod:`gpudoctor.commands`; this module only wires them up. Exit codes:
0 nothing above ``info``; 1 a ``warn``, ``fail`` or ``error`` finding (with ``--strict`` also
``info``); 2 bad usage or input, or gpudoctor itself failed.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from gpudoctor._version import __version__
from gpudoctor.commands.completion import register as register_completion
from gpudoctor.commands.options import fail_usage
from gpudoctor.errors import GpuDoctorError

#: (module, attribute) of each command, in the order ``--help`` lists them.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("gpudoctor.commands.check", "check_command"),
    ("gpudoctor.commands.fix", "fix_command"),
    ("gpudoctor.commands.report", "report_command"),
    ("gpudoctor.commands.snapshot", "snapshot_command"),
    ("gpudoctor.commands.diff", "diff_command"),
    ("gpudoctor.commands.merge", "merge_command"),
    ("gpudoctor.commands.cluster", "cluster_command"),
    ("gpudoctor.commands.bench", "bench_group"),
    ("gpudoctor.commands.log", "log_command"),
    ("gpudoctor.commands.list_checks", "list_command"),
    ("gpudoctor.commands.explain", "explain_command"),
)


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
      gpudoctor check                  what is wrong on this machine, and why
      gpudoctor check -f markdown -o report.md
                                       a report to paste into a bug ticket
      gpudoctor explain GD303          what a check looks at and how to fix it
      gpudoctor list                   every check, with its id

    \b
    Exit codes: 0 nothing above info, 1 warnings or failures found, 2 bad usage or
    gpudoctor itself failed.
    """


for _module, _attribute in COMMANDS:
    main.add_command(getattr(importlib.import_module(_module), _attribute))
register_completion()


def run() -> None:  # pragma: no cover - thin wrapper used by __main__
    main(prog_name="gpudoctor")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    run()
