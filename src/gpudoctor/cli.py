"""The ``gpudoctor`` command line: the group, its error rule, and the table of commands.

Every command lives in :mod:`gpudoctor.commands`; this module only wires them up. Exit codes:
0 nothing above ``info``; 1 a ``warn``, ``fail`` or ``error`` finding (with ``--strict`` also
``info``); 2 bad usage or input, or gpudoctor itself failed.
"""

from __future__ import annotations

import atexit
import errno
import gc
import importlib
import os
import sys
import threading
from collections.abc import ItemsView
from collections.abc import Iterator
from collections.abc import KeysView
from collections.abc import ValuesView
from typing import Any
from typing import NoReturn

import click

from gpudoctor._version import __version__
from gpudoctor.commands.completion import register as register_completion
from gpudoctor.commands.options import EXIT_USAGE
from gpudoctor.commands.options import fail_usage
from gpudoctor.errors import GpuDoctorError
from gpudoctor.gc_pause import leave_to_exit

#: (name, module, attribute) of each command, in the order ``--help`` lists them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("check", "gpudoctor.commands.check", "check_command"),
    ("fix", "gpudoctor.commands.fix", "fix_command"),
    ("report", "gpudoctor.commands.report", "report_command"),
    ("snapshot", "gpudoctor.commands.snapshot", "snapshot_command"),
    ("diff", "gpudoctor.commands.diff", "diff_command"),
    ("merge", "gpudoctor.commands.merge", "merge_command"),
    ("cluster", "gpudoctor.commands.cluster", "cluster_command"),
    ("bench", "gpudoctor.commands.bench", "bench_group"),
    ("watch", "gpudoctor.commands.watch", "watch_command"),
    ("log", "gpudoctor.commands.log", "log_command"),
    ("list", "gpudoctor.commands.list_checks", "list_command"),
    ("explain", "gpudoctor.commands.explain", "explain_command"),
)


class _LazyCommands(dict[str, click.Command]):
    """The group's commands, each imported when it is first looked up.

    ``gpudoctor check`` then imports the check command alone, not the modules of watch,
    bench, log, diff and the rest. Listing the names imports nothing; anything that reads
    the commands themselves (``--help``, iterating ``items()``) imports them all.
    """

    def __init__(self, table: tuple[tuple[str, str, str], ...]) -> None:
        super().__init__()
        self._table = {name: (module, attribute) for name, module, attribute in table}

    def _load(self, name: str) -> click.Command | None:
        if not dict.__contains__(self, name):
            if name not in self._table:
                return None
            module, attribute = self._table[name]
            command = getattr(importlib.import_module(module), attribute)
            dict.__setitem__(self, name, command)
        command = dict.__getitem__(self, name)
        return command if isinstance(command, click.Command) else None

    def __getitem__(self, name: str) -> click.Command:
        command = self._load(name)
        if command is None:
            raise KeyError(name)
        return command

    def get(self, name: str, default: Any = None) -> Any:
        command = self._load(name)
        return default if command is None else command

    def __contains__(self, name: object) -> bool:
        return name in self._table or dict.__contains__(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter([*self._table, *(n for n in dict.keys(self) if n not in self._table)])

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        return dict.fromkeys(self).keys()

    def items(self) -> ItemsView[str, click.Command]:  # type: ignore[override]
        return {name: self[name] for name in self}.items()

    def values(self) -> ValuesView[click.Command]:  # type: ignore[override]
        return {name: self[name] for name in self}.values()


def _safe_streams() -> None:
    """Never crash on a terminal that cannot show a character (cp437, ascii, latin-1)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError, TypeError):
                pass


class _Group(click.Group):
    """The error rule: anything that escapes a command is one line and exit 2.

    GpuDoctorError is the message itself; any other exception names the command and the
    error (``--debug`` prints the traceback as well). Findings use 0 and 1 only.
    """

    def invoke(self, ctx: click.Context) -> Any:
        _safe_streams()
        try:
            return super().invoke(ctx)
        except GpuDoctorError as exc:
            fail_usage(str(exc))
        except KeyboardInterrupt:
            click.echo("gpudoctor: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into exit 2
            if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
                # A full disk or quota (a report to /dev/full, a redirect onto a full
                # filesystem) is the machine's state, not a bug.
                fail_usage(f"cannot write: {exc.strerror or exc}")
            if ctx.meta.get("gpudoctor.debug"):
                import traceback

                traceback.print_exc()
            name = ctx.invoked_subcommand or "gpudoctor"
            fail_usage(
                f"'gpudoctor {name}' failed: {type(exc).__name__}: {exc} "
                "(this is a bug in gpudoctor; --debug shows where)"
            )
        return None


#: Write errors that say where the bytes could not go, never what gpudoctor did wrong.
_FULL_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name)
)


def _quiet_broken_pipe() -> None:
    """The reader went away (``| head``): stop without a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(EXIT_USAGE)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    __version__, "-V", "--version", prog_name="gpudoctor", message="%(prog)s %(version)s"
)
@click.option(
    "--debug", is_flag=True, hidden=False, help="On an internal error, show the traceback."
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
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
    ctx.meta["gpudoctor.debug"] = debug


main.commands = _LazyCommands(COMMANDS)
register_completion()


#: Commands that run for long or read without bound (a watched run, a log of any size, a
#: benchmark, a distributed job): the cycle collector stays on for them.
LONG_RUNNING = frozenset({"watch", "log", "bench", "cluster"})


def run(args: list[str] | None = None) -> NoReturn:
    """The ``gpudoctor`` command: run, flush, and leave without tearing the interpreter down.

    Once the command is done and its output flushed there is nothing left to free that the
    operating system does not take back at once, while the interpreter's teardown (unloading
    some 300 modules, a last cycle collection) cost ~15 ms of every ``gpudoctor check``.
    Exit handlers still run (:mod:`atexit`: logging, finalisers of temporary files). Where
    a thread that Python would wait for is still running, it exits the ordinary way.

    A one-shot command (``check``, ``report``, ``list`` ...) runs without the cycle
    collector: what it builds lives until the report is written, and the collections
    during its imports walked every object its dependencies had loaded to free nothing
    (~10 ms of a ``check``). What it releases (``gc_pause.release``: the report) is left
    for the OS too, rather than freed object by object.
    """
    argv = list(sys.argv[1:] if args is None else args)
    if _command_name(argv) not in LONG_RUNNING:
        gc.disable()
        leave_to_exit()  # the report need not be freed object by object
    try:
        main(args=argv, prog_name="gpudoctor")
        status: object = 0
    except SystemExit as exc:
        status = exc.code
    main_thread = threading.main_thread()
    if any(t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.exit(status)  # type: ignore[arg-type]
    code = exit_status(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            code = code or 120  # what Python returns when it cannot flush at exit
    os._exit(code)


def _command_name(argv: list[str]) -> str | None:
    """The command asked for: the first word that is not an option of the group."""
    return next((word for word in argv if not word.startswith("-")), None)


def exit_status(status: object) -> int:
    """The process status ``SystemExit(status)`` gives: None 0, an int itself, else 1.

    A message (any other value) is written to standard error, as the interpreter does. Of
    an int the operating system keeps what it keeps (the low 8 bits on POSIX).
    """
    if status is None:
        return 0
    if isinstance(status, int):
        return status if -(2**31) <= status < 2**31 else 1
    print(status, file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    run()
