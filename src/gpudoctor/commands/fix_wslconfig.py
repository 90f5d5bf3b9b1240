"""``gpudoctor fix --wslconfig`` on a terminal: locate, show the diff, confirm, write, re-read."""

from __future__ import annotations

import sys

import click

from gpudoctor.errors import BadInputError
from gpudoctor.facts.model import NotApplicable
from gpudoctor.files import WSLCONFIG_MAX_BYTES
from gpudoctor.files import read_bounded
from gpudoctor.fixes.wslconfig import EXIT_NOT_APPLIED
from gpudoctor.fixes.wslconfig import EXIT_OK
from gpudoctor.fixes.wslconfig import apply
from gpudoctor.fixes.wslconfig import parse_user_size
from gpudoctor.fixes.wslconfig import plan
from gpudoctor.fixes.wslconfig import resolve_target
from gpudoctor.fixes.wslconfig_edit import render_value
from gpudoctor.readers.wslconfig import parse_wslconfig


def _locate() -> tuple[str | None, int | None, str]:
    """The .wslconfig WSL uses and the host RAM, found the way ``gpudoctor check`` does."""
    from gpudoctor.probes import ProbeContext
    from gpudoctor.probes.wsl import probe_wsl

    facts = probe_wsl(ProbeContext())
    if isinstance(facts, NotApplicable):
        return None, None, facts.reason
    config = facts.get("wslconfig") or {}
    ram = (facts.get("windows_host") or {}).get("ram_bytes")
    return config.get("path"), ram if isinstance(ram, int) else None, str(config.get("how"))


def run_fix_wslconfig(
    *,
    path: str | None,
    memory: str | None,
    swap: str | None,
    processors: int | None,
    yes: bool,
    dry_run: bool,
) -> int:
    """Plan, show, confirm and apply the .wslconfig edit; return the exit code."""
    memory_bytes = parse_user_size(memory, "memory") if memory is not None else None
    swap_bytes = parse_user_size(swap, "swap") if swap is not None else None
    how = "given with --wslconfig-path"
    located, host_ram, located_how = _locate()  # host RAM counts even for a given path
    if path is None:
        path, how = located, located_how
        if path is None:
            raise BadInputError(
                f"cannot locate the Windows .wslconfig ({how}); "
                "pass it with --wslconfig-path /mnt/c/Users/<you>/.wslconfig"
            )
    target, link_note = resolve_target(path)
    if target.is_dir():
        raise BadInputError(f"{target} is a folder, not a .wslconfig file")
    if not target.parent.is_dir():
        raise BadInputError(f"folder {target.parent} does not exist")
    exists = target.exists() or target.is_symlink()
    original = read_bounded(target, WSLCONFIG_MAX_BYTES, ".wslconfig") if exists else b""
    if link_note:
        click.echo(f"gpudoctor: {link_note}")
    the_plan = plan(
        original,
        path=str(target),
        memory=memory_bytes,
        swap=swap_bytes,
        processors=processors,
        host_ram=host_ram,
    )
    click.echo(f"gpudoctor: .wslconfig: {target} ({how})")
    if not the_plan.changed:
        click.echo("gpudoctor: nothing to change; .wslconfig already sets these values.")
        return EXIT_OK
    for change in the_plan.changes or ["create the file"]:
        click.echo(f"  - {change}")
    sys.stdout.write(the_plan.diff())
    if dry_run:
        click.echo("gpudoctor: dry run, nothing changed.")
        return EXIT_OK
    if not yes and not click.confirm("Write these changes?", default=False):
        click.echo("gpudoctor: nothing changed.")
        return EXIT_NOT_APPLIED
    backup = apply(the_plan)  # backs up, writes, reads back; rolls back on any failure
    readback = parse_wslconfig(read_bounded(target, WSLCONFIG_MAX_BYTES, ".wslconfig"))
    if backup is not None:
        click.echo(f"gpudoctor: backup of the old file: {backup}")
    got = {k: readback.value(f"wsl2.{k}") for k in the_plan.values}
    if got != the_plan.values:
        click.echo(f"gpudoctor: error: the written file reads back as {got}", err=True)
        return EXIT_NOT_APPLIED
    summary = ", ".join(f"{k}={render_value(k, v)}" for k, v in the_plan.values.items())
    click.echo(f"gpudoctor: wrote {target}: WSL will read {summary}.")
    click.echo(
        "gpudoctor: now, in Windows PowerShell or cmd (not inside WSL), run 'wsl --shutdown', "
        "wait until 'wsl --list --running' shows nothing (about 8 s), and reopen your distro. "
        "Then 'gpudoctor check --select GD5' confirms the new limits."
    )
    return EXIT_OK
