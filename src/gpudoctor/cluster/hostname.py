"""Per-node output names without launcher-specific code: ``%N`` / ``%h`` become the host name."""

from __future__ import annotations

import re
import socket

_PATTERN = re.compile(r"%([Nh%])")


def expand_node_pattern(path: str, hostname: str | None = None) -> str:
    """``reports/%N.json`` -> ``reports/gpu-node-07.json``; ``%%`` is a literal ``%``.

    ``%N`` is the short host name (as Slurm's ``%N``), ``%h`` the same; both work under any
    launcher because gpudoctor expands them itself.
    """
    name = (hostname or socket.gethostname()).split(".")[0] or "localhost"
    return _PATTERN.sub(lambda m: "%" if m.group(1) == "%" else name, path)
