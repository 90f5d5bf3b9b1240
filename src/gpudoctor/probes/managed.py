"""Who manages a process: a systemd service, a container, a pod, a Slurm job, a supervisor.

A managed process is restarted, accounted or owned by something else; signalling it behind the
manager's back breaks a service or someone's job. So it is never "stale": it gets the remedy its
manager understands (``systemctl stop UNIT``, ``docker stop``, ``scancel``). The evidence is
the kernel's: the cgroup path in ``/proc/<pid>/cgroup`` and the parent's name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gpudoctor.lazy_regex import lazy_compile

#: Parents that supervise their children (init replacements in containers, process managers).
SUPERVISORS = {
    "tini": "tini (container init)",
    "dumb-init": "dumb-init (container init)",
    "docker-init": "docker-init (container init)",
    "catatonit": "catatonit (container init)",
    "s6-svscan": "s6",
    "s6-supervise": "s6",
    "supervisord": "supervisord",
    "runsv": "runit",
    "runsvdir": "runit",
    "conmon": "podman (conmon)",
    "slurmstepd": "Slurm (slurmstepd; cancel the job with scancel)",
}
#: Parents whose child is a container's main process (seen from the host).
CONTAINER_SHIMS = ("containerd-shim", "conmon")

_DOCKER = lazy_compile(r"(?:/docker/|docker-)([0-9a-f]{12,64})")
_CONTAINERD = lazy_compile(r"(?:cri-containerd-|crio-|libpod-)([0-9a-f]{12,64})")
_KUBEPODS = lazy_compile(r"kubepods.*?pod([0-9a-f_-]{8,})")
#: Slurm's cgroup v1 layout (``/slurm/uid_N/job_M/step_S``) and v2 (``slurmstepd.scope/job_M``).
_SLURM = lazy_compile(r"(?:slurm[^/]*/uid_\d+/|slurmstepd\.scope/)job_(\d+)(?:/step_([\w.]+))?")
_SERVICE = lazy_compile(r"([^/]+\.service)(?:/|$)")
_SCOPE = lazy_compile(r"([^/]+\.scope)(?:/|$)")
_USER_MANAGER = lazy_compile(r"^user@\d+\.service$")


def manager_of(
    cgroups: Sequence[str],
    parent_name: str | None,
    own_cgroups: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The manager of a process, as ``{kind, name, evidence, remedy}``; None for none.

    ``own_cgroups`` are gpudoctor's own: a process in the same container or job as gpudoctor
    is judged on its own merits (that container or job is the user's own workspace).
    """
    own = set(own_cgroups)
    for path in cgroups:
        if path in ("", "/") or path in own:
            continue
        found = _from_cgroup(path, own)
        if found is not None:
            return found
    return _from_parent(parent_name)


def _same_unit(pattern: re.Pattern[str], path: str, own: set[str]) -> bool:
    match = pattern.search(path)
    return match is not None and any(match.group(0) in mine for mine in own)


def _from_cgroup(path: str, own: set[str]) -> dict[str, Any] | None:
    where = f"cgroup {path}"
    for pattern, kind in ((_DOCKER, "docker"), (_CONTAINERD, "container")):
        match = pattern.search(path)
        if match and not _same_unit(pattern, path, own):
            cid = match.group(1)[:12]
            command = f"docker stop {cid}" if kind == "docker" else f"crictl stop {cid}"
            return _managed("container", cid, where, command, "stop the container")
    match = _KUBEPODS.search(path)
    if match and not _same_unit(_KUBEPODS, path, own):
        return _managed(
            "kubernetes-pod",
            match.group(1),
            where,
            "kubectl delete pod POD -n NAMESPACE",
            "delete or scale down the pod (find it with kubectl get pods -A -o wide)",
        )
    match = _SLURM.search(path)
    if match and not any(f"job_{match.group(1)}" in mine for mine in own):
        job = match.group(1)
        return _managed("slurm-job", job, where, f"scancel {job}", "cancel the job")
    for segment in reversed(path.strip("/").split("/")):
        if _SERVICE.fullmatch(segment) and not _USER_MANAGER.match(segment):
            user = "/user.slice/" in path or path.startswith("user.slice")
            command = f"systemctl {'--user ' if user else ''}stop {segment}"
            if not user:
                command = "sudo " + command
            return _managed("systemd-service", segment, where, command, "stop the service")
        if _SCOPE.fullmatch(segment) and not _is_session(segment, path):
            return _managed(
                "systemd-scope", segment, where, f"systemctl stop {segment}", "stop the scope"
            )
    return None


def _is_session(scope: str, path: str) -> bool:
    """The user's own login session or desktop/terminal app scope: not a manager."""
    if scope.startswith("session-"):
        return True
    return "/user.slice/" in path and ("app.slice" in path or scope.startswith(("app-", "vte-")))


def _from_parent(parent_name: str | None) -> dict[str, Any] | None:
    if not parent_name:
        return None
    if parent_name.startswith(CONTAINER_SHIMS):
        return _managed(
            "container-main",
            parent_name,
            f"its parent is {parent_name}: it is a container's main process",
            "docker stop CONTAINER",
            "stop the container (docker ps shows which)",
        )
    label = SUPERVISORS.get(parent_name)
    if label is None and parent_name.startswith("s6-"):
        label = "s6"
    if label is None:
        return None
    return _managed(
        "supervised",
        parent_name,
        f"its parent is {parent_name}, a supervisor ({label}) that restarts or owns it",
        "",
        f"stop it through {label} or the container it runs in, or ask its owner",
    )


def _managed(kind: str, name: str, evidence: str, command: str, advice: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "evidence": evidence, "remedy": command, "advice": advice}
