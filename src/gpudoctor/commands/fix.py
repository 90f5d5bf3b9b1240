"""``gpudoctor fix``: apply the fixes that are safe to automate, one flag per fix."""

from __future__ import annotations

import sys

import click

from gpudoctor.commands.options import float_option
from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import path_option


@click.command("fix")
@click.option(
    "--kill-stale",
    is_flag=True,
    help="Stop stale processes (orphaned workers, idle kernels, stopped or finished runs) "
    "that hold GPU memory.",
)
@click.option(
    "--wslconfig",
    "wslconfig",
    is_flag=True,
    help="Write sensible memory/swap/processors limits into the Windows .wslconfig.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be done and change nothing.")
@click.option(
    "--memory",
    metavar="SIZE",
    default=None,
    help="[--wslconfig] VM memory cap, e.g. 12GB (default: computed from host RAM).",
)
@click.option(
    "--swap",
    metavar="SIZE",
    default=None,
    help="[--wslconfig] Swap size, e.g. 8GB (default: computed).",
)
@click.option(
    "--processors",
    type=click.IntRange(min=1),
    default=None,
    help="[--wslconfig] Logical processors for the VM (default: leave as is).",
)
@path_option(
    "--wslconfig-path",
    metavar="PATH",
    help="[--wslconfig] Edit this file instead of the located .wslconfig.",
)
@click.option(
    "--all-users",
    is_flag=True,
    help="[--kill-stale] Also other users' processes (only as root/Administrator).",
)
@float_option(
    "--grace",
    min=0,
    max=600,
    default=5.0,
    help="[--kill-stale] Wait this long after the polite signal before forcing.",
)
@float_option(
    "--idle-minutes",
    min=0,
    default=30.0,
    metavar=None,
    help="[--kill-stale] Measured idle time (no CPU, no GPU use; for a notebook kernel its "
    "Jupyter server's last activity) after which a process counts as stale. Never its age.",
)
@float_option(
    "--observe",
    min=0,
    max=120,
    default=5.0,
    help="[--kill-stale] Watch candidates this long (CPU, I/O, GPU samples) before deciding; "
    "any activity drops a candidate.",
)
@format_option(
    "text", "json", help="[--kill-stale] Output format; json prints the plan for scripts."
)
def fix_command(
    kill_stale: bool,
    wslconfig: bool,
    yes: bool,
    dry_run: bool,
    memory: str | None,
    swap: str | None,
    processors: int | None,
    wslconfig_path: str | None,
    all_users: bool,
    grace: float,
    idle_minutes: float,
    observe: float,
    fmt: str,
) -> None:
    """Apply a fix: lists what it will change and asks first (or --dry-run / --yes).

    \b
    Examples:
      gpudoctor fix --kill-stale --dry-run       show stale GPU memory holders
      gpudoctor fix --kill-stale -n -f json      the plan as JSON
      gpudoctor fix --kill-stale                 stop them, after asking
      gpudoctor fix --wslconfig --memory 12GB    cap the WSL2 VM
                                                 (then: wsl --shutdown)
    """
    if not (kill_stale or wslconfig):
        raise click.UsageError("name a fix: --kill-stale or --wslconfig")
    code = 0
    if wslconfig:
        from gpudoctor.commands.fix_wslconfig import run_fix_wslconfig

        code = max(
            code,
            run_fix_wslconfig(
                path=wslconfig_path,
                memory=memory,
                swap=swap,
                processors=processors,
                yes=yes,
                dry_run=dry_run,
            ),
        )
    if kill_stale:
        from gpudoctor.commands.fix_kill_stale import run_kill_stale

        code = max(
            code,
            run_kill_stale(
                all_users=all_users,
                grace=grace,
                idle_minutes=idle_minutes,
                yes=yes,
                dry_run=dry_run,
                observe=observe,
                fmt=fmt.lower(),
            ),
        )
    sys.exit(code)
