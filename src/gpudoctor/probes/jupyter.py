"""How long each Jupyter kernel has really been idle, asked of the server that runs it.

A kernel's process age says nothing about its use: the running server knows. Each server
leaves a runtime file (``jpserver-<pid>.json``; ``nbserver-<pid>.json`` for the classic
notebook) with its URL and token; ``GET /api/kernels`` answers every kernel's ``id``,
``execution_state`` and ``last_activity``. A kernel process names its connection file
(``kernel-<id>.json``) on its command line, which maps the id to the pid. Where no server
answers, the idle time stays unknown: such a kernel is listed, never proposed for stopping.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.probes.base import ProbeContext

#: Seconds one server may take to answer; the whole lookup is bounded by TOTAL_TIMEOUT_S.
REQUEST_TIMEOUT_S = 1.0
TOTAL_TIMEOUT_S = 2.5
MAX_SERVERS = 16
MAX_RUNTIME_FILE = 64 * 1024
MAX_ANSWER = 1 << 20

_KERNEL_FILE = lazy_compile(r"kernel-([0-9a-fA-F-]{8,})\.json")
_SERVER_FILE = lazy_compile(r"^(?:jp|nb)server-\d+\.json$")


def kernel_id_of(cmdline: str) -> str | None:
    """The kernel id in a kernel's command line (``-f .../kernel-<id>.json``), if any."""
    match = _KERNEL_FILE.search(cmdline)
    return match.group(1) if match else None


def connection_file(argv: Iterable[str]) -> str | None:
    """The ``kernel-<id>.json`` argument of a kernel's command line (``-f PATH``/``--f=PATH``)."""
    for part in argv:
        value = part.split("=", 1)[-1] if part.startswith("-") else part
        if _KERNEL_FILE.search(os.path.basename(value)):
            return value
    return None


def runtime_dirs(ctx: ProbeContext, connection_files: Iterable[str] = ()) -> list[str]:
    """Where servers leave their runtime files: the env settings, the defaults, and the
    folders the kernels' own connection files are in (other users' ones included)."""
    env = ctx.env
    found: list[str] = []
    if env.get("JUPYTER_RUNTIME_DIR"):
        found.append(os.path.normpath(env["JUPYTER_RUNTIME_DIR"]))
    if env.get("JUPYTER_DATA_DIR"):
        found.append(os.path.join(os.path.normpath(env["JUPYTER_DATA_DIR"]), "runtime"))
    home = env.get("HOME") or os.path.expanduser("~")
    data = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    found.append(os.path.join(os.path.normpath(data), "jupyter", "runtime"))
    if env.get("APPDATA"):
        found.append(os.path.join(os.path.normpath(env["APPDATA"]), "jupyter", "runtime"))
    for connection in connection_files:
        found.append(os.path.dirname(os.path.normpath(connection)))
    unique: list[str] = []
    for folder in found:
        if folder not in unique:
            unique.append(folder)
    return unique


def read_server_file(data: bytes) -> dict[str, str] | None:
    """URL and token from one runtime file's bytes; None for anything unusable."""
    import json  # only where a Jupyter server left a runtime file

    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    url = doc.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    token = doc.get("token")
    return {"url": url if url.endswith("/") else url + "/", "token": str(token or "")}


def servers(ctx: ProbeContext, dirs: Iterable[str]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for folder in dirs:
        try:
            names = sorted(os.listdir(ctx.path(folder)))
        except OSError:
            continue
        for name in names:
            if not _SERVER_FILE.match(name):
                continue
            path = os.path.join(ctx.path(folder), name)
            try:
                if not os.path.isfile(path):
                    continue
                with open(path, "rb") as handle:
                    server = read_server_file(handle.read(MAX_RUNTIME_FILE))
            except OSError:
                continue
            if server is not None and server not in found:
                found.append(server)
    return found[:MAX_SERVERS]


def parse_kernels(data: bytes, now: float) -> dict[str, dict[str, Any]]:
    """``/api/kernels`` answer -> kernel id -> state, last activity and idle seconds."""
    import json

    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    kernels: dict[str, dict[str, Any]] = {}
    for item in doc if isinstance(doc, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        last = _timestamp(item.get("last_activity"))
        kernels[item["id"]] = {
            "execution_state": str(item.get("execution_state") or "unknown"),
            "last_activity": item.get("last_activity"),
            "idle_seconds": None if last is None else round(max(0.0, now - last), 1),
            "connections": item.get("connections"),
        }
    return kernels


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _ask(server: Mapping[str, str], timeout: float) -> bytes | None:
    import urllib.request  # http, ssl and email with it: only when a server is asked

    request = urllib.request.Request(server["url"] + "api/kernels")
    if server.get("token"):
        request.add_header("Authorization", f"token {server['token']}")
    # Never through a proxy: these servers listen on this machine.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as answer:
            data: bytes = answer.read(MAX_ANSWER)
            return data
    except (OSError, ValueError):
        return None


def kernel_activity(ctx: ProbeContext, files: Mapping[int, str]) -> dict[int, dict[str, Any]]:
    """For each kernel process (pid -> its connection file): what its server says, or why
    its idle time is unknown."""
    wanted: dict[int, str] = {}
    for pid, path in files.items():
        kid = kernel_id_of(path)
        if kid:
            wanted[pid] = kid
    if not wanted:
        return {}
    deadline = time.monotonic() + TOTAL_TIMEOUT_S
    known: dict[str, dict[str, Any]] = {}
    asked = answered = 0
    for server in servers(ctx, runtime_dirs(ctx, files.values())):
        left = deadline - time.monotonic()
        if left <= 0.05 or set(wanted.values()) <= set(known):
            break
        asked += 1
        data = _ask(server, min(REQUEST_TIMEOUT_S, left))
        if data is None:
            continue
        answered += 1
        for kid, state in parse_kernels(data, time.time()).items():
            known.setdefault(kid, {**state, "server": server["url"]})
    result: dict[int, dict[str, Any]] = {}
    for pid, kid in wanted.items():
        if kid in known:
            result[pid] = {"kernel_id": kid, **known[kid]}
        else:
            why = (
                "no running Jupyter server was found (no jpserver-*.json runtime file)"
                if not asked
                else f"none of the {asked} Jupyter server(s) found knows this kernel"
                if answered
                else f"none of the {asked} Jupyter server(s) found answered"
            )
            result[pid] = {"kernel_id": kid, "unknown": why}
    return result
