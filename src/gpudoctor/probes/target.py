"""Which Python interpreter will run the user's training, and where its packages live.

gpudoctor is often installed as a tool (``pipx install``, ``uv tool install``) and so runs in
an environment of its own; the torch that matters is the one of the user's environment. The
target is, in order: ``--python PATH``; the virtual environment in ``VIRTUAL_ENV``; the conda
environment in ``CONDA_PREFIX``; and, when gpudoctor itself runs from a tool environment, the
``python`` on ``PATH``. Otherwise it is gpudoctor's own interpreter.

Another interpreter is asked for its paths in a child process with a timeout; nothing is
imported in it besides ``sys``, ``site``, ``sysconfig``, ``platform`` and ``json``. The
packages are then read from files in this process (torch is never imported).
"""

from __future__ import annotations

import os
import platform
import site
import sys
from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import ProbeContext

#: Seconds the target interpreter may take to print its paths.
QUERY_TIMEOUT = 3.0

#: Printed by the target interpreter: where it looks for packages (no third-party import).
PATHS_QUERY = (
    "import json, platform, site, sys, sysconfig\n"
    "user = site.getusersitepackages() if site.ENABLE_USER_SITE else None\n"
    "print(json.dumps({'executable': sys.executable, 'version': platform.python_version(),"
    " 'implementation': platform.python_implementation(), 'prefix': sys.prefix,"
    " 'base_prefix': getattr(sys, 'base_prefix', sys.prefix), 'path': sys.path,"
    " 'user_site': user, 'user_site_enabled': bool(site.ENABLE_USER_SITE),"
    " 'purelib': sysconfig.get_paths().get('purelib'), 'machine': platform.machine()}))\n"
)

#: Path fragments of environments that tool installers create for one application.
TOOL_ENV_MARKERS = ("pipx/venvs", "pipx\\venvs", "uv/tools", "uv\\tools")


def own_python() -> dict[str, Any]:
    """This interpreter, described like :data:`PATHS_QUERY` describes another."""
    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "path": list(sys.path),
        "user_site": site.getusersitepackages() if site.ENABLE_USER_SITE else None,
        "user_site_enabled": bool(site.ENABLE_USER_SITE),
        "machine": platform.machine(),
    }


def _same(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def env_python(prefix: str, windows: bool) -> str:
    """The interpreter of the environment at ``prefix`` (venv or conda layout)."""
    root = os.path.normpath(prefix)
    if windows:
        scripts = os.path.join(root, "Scripts", "python.exe")
        for candidate in (scripts, os.path.join(root, "python.exe")):
            if os.path.exists(candidate):
                return candidate
        return scripts
    for name in ("python", "python3"):
        if os.path.exists(os.path.join(root, "bin", name)):
            return os.path.join(root, "bin", name)
    return os.path.join(root, "bin", "python")


def is_tool_environment(prefix: str) -> bool:
    """True for an environment made by pipx or ``uv tool`` for one application."""
    text = prefix.replace(os.sep, "/")
    return any(marker.replace("\\", "/") in text for marker in TOOL_ENV_MARKERS)


def choose(ctx: ProbeContext) -> tuple[str | None, str]:
    """``(interpreter to inspect or None for this one, why)``."""
    windows = ctx.platform.startswith("win")
    explicit = ctx.options.get("python")
    if explicit:
        return str(explicit), "chosen with --python"
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = ctx.env.get(variable)
        if not prefix:
            continue
        if _same(prefix, sys.prefix):
            return None, f"gpudoctor runs inside the active environment ({variable})"
        return env_python(prefix, windows), f"{variable} points at {prefix}"
    if is_tool_environment(sys.prefix):
        found = ctx.which("python") or ctx.which("python3")
        if found:
            return found, f"gpudoctor runs from a tool environment; '{found}' is the python on PATH"
    return None, "no other environment is active (VIRTUAL_ENV and CONDA_PREFIX are unset)"


def query_python(ctx: ProbeContext, executable: str) -> dict[str, Any] | Unavailable:
    """Ask ``executable`` where it looks for packages (a child process, bounded)."""
    result = ctx.run_or_unavailable([executable, "-c", PATHS_QUERY], QUERY_TIMEOUT)
    if isinstance(result, Unavailable):
        return result
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not result.ok or not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return Unavailable(f"{executable} failed (exit {result.returncode}): {tail[:200]}")
    import json  # only where another interpreter is the target

    try:
        answer = json.loads(lines[-1])
    except ValueError:
        return Unavailable(f"{executable} printed an unreadable answer")
    if not isinstance(answer, dict) or not isinstance(answer.get("path"), list):
        return Unavailable(f"{executable} printed an unexpected answer")
    return answer


def resolve_target(ctx: ProbeContext) -> dict[str, Any]:
    """The interpreter to inspect: its description, whether it is this one, and why."""
    executable, reason = choose(ctx)
    if executable is None:
        return {**own_python(), "is_gpudoctor": True, "reason": reason}
    answer = query_python(ctx, executable)
    if isinstance(answer, Unavailable):
        return {"executable": executable, "reason": reason, "error": answer.reason}
    if _same(str(answer.get("prefix", "")), sys.prefix):
        reason += " (the same environment gpudoctor runs in)"
    answer["is_gpudoctor"] = _same(str(answer.get("prefix", "")), sys.prefix)
    answer["reason"] = reason
    return answer


def target(ctx: ProbeContext) -> dict[str, Any]:
    """:func:`resolve_target`, computed once per run and shared by every probe."""
    value: dict[str, Any] = ctx.cached("target_python", lambda: resolve_target(ctx))
    return value


def target_executable(ctx: ProbeContext) -> str:
    """The interpreter child processes should run (gpudoctor's own when the target failed)."""
    chosen = target(ctx)
    if chosen.get("error") or not chosen.get("executable"):
        return sys.executable
    return str(chosen["executable"])


def interpreter_problem(executable: str) -> str | None:
    """Why ``executable`` cannot be inspected (not a Python, hangs), or None when it can."""
    ctx = ProbeContext(options={"python": executable})
    answer = query_python(ctx, executable)
    return answer.reason if isinstance(answer, Unavailable) else None


def target_paths(ctx: ProbeContext) -> list[str] | None:
    """The target's ``sys.path`` when it is another interpreter; None for this one."""
    chosen = target(ctx)
    if chosen.get("error") or chosen.get("is_gpudoctor"):
        return None
    return [p for p in chosen.get("path") or () if isinstance(p, str) and p]
