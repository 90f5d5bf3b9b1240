"""WSL2: the VM's memory budget, a .wslconfig that WSL ignores, GPU passthrough, slow mounts.

Every check reads the ``wsl`` facts section. On anything that is not WSL they report
``skip`` with the reason, except the .wslconfig validation, which also runs on a file given
with ``gpudoctor check --wslconfig PATH``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpudoctor.api import GiB
from gpudoctor.api import TiB
from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import fmt_bytes
from gpudoctor.api import info
from gpudoctor.api import passed
from gpudoctor.api import remedy
from gpudoctor.api import skip
from gpudoctor.api import warn
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.model import Verdict

#: A VM cap below these is too small for training (when the host has RAM to spare).
FAIL_CAP, WARN_CAP = 4 * GiB, 8 * GiB
#: No PC has more RAM than this; a larger memory= is a wrapped negative number or a typo.
MAX_PLAUSIBLE_RAM = 64 * TiB
#: Windows itself needs this much outside the VM, or the host starts to freeze.
HOST_RESERVE = 3 * GiB
#: MemTotal sits a little below the configured cap (kernel reservations); beyond this share
#: of difference the running VM was started with other settings.
APPLIED_TOLERANCE = 0.08
#: Settings whose loss changes the memory budget.
BUDGET_KEYS = ("wsl2.memory", "wsl2.swap", "wsl2.processors")
BUDGET_NAMES = ("memory", "swap", "processors")
#: WSL cannot create a swap disk this large and boots without swap (microsoft/WSL#5476).
MAX_SWAP = 256 * GiB
#: GD503 lists this many skipped lines, then "and N more".
MAX_LINES_SHOWN = 12

_WSL_ONLY = ("wsl",)
#: A WSL check: the facts in, its verdicts out.
_SHUTDOWN = remedy(
    "Restart the WSL VM so it reads the file: close your WSL terminals, run this in Windows "
    "PowerShell or cmd (not inside WSL), wait until 'wsl --list --running' shows nothing "
    "(about 8 seconds), then open your distro again.",
    "wsl --shutdown",
    platforms=("windows",),
)
_FIX = remedy(
    "Let gpudoctor write the limits (shows the diff, keeps a backup, writes UTF-8 without BOM).",
    "gpudoctor fix --wslconfig --dry-run",
    "gpudoctor fix --wslconfig",
    platforms=_WSL_ONLY,
)


def _wsl(facts: Facts) -> Mapping[str, Any]:
    section = facts.get("wsl")
    return section if isinstance(section, Mapping) else {}


def _no_vm(facts: Facts) -> Verdict | None:
    """The skip for a machine without a WSL2 VM (not WSL, or WSL1), as the facts word it."""
    vm = facts.get("wsl.vm")
    if isinstance(vm, NotApplicable):
        return skip(f"Not applicable: {vm.reason}")
    return None


def _config(facts: Facts) -> Mapping[str, Any]:
    value = _wsl(facts).get("wslconfig")
    return value if isinstance(value, Mapping) else {}


def _parsed(facts: Facts) -> Mapping[str, Any] | None:
    parsed = _config(facts).get("parsed")
    return parsed if isinstance(parsed, Mapping) else None


def _host_ram(facts: Facts) -> tuple[int | None, str]:
    """Host RAM from Windows, or an estimate from the default-capped VM, or unknown."""
    host = _wsl(facts).get("windows_host")
    if isinstance(host, (Unavailable, NotApplicable)):
        return None, f"host RAM unknown ({host})"
    ram = host.get("ram_bytes") if isinstance(host, Mapping) else None
    if isinstance(host, Mapping) and isinstance(ram, int) and ram > 0:
        return ram, str(host.get("ram_source") or "Windows")
    return None, f"host RAM unknown ({ram})" if isinstance(ram, Unavailable) else "host RAM unknown"


def _vm(facts: Facts) -> Mapping[str, Any]:
    vm = _wsl(facts).get("vm")
    return vm if isinstance(vm, Mapping) else {}


def _path_evidence(config: Mapping[str, Any]) -> list[Any]:
    return [
        evidence(".wslconfig", config.get("path") or "not located", config.get("how") or ""),
    ]


def _limits(facts: Facts) -> dict[str, Any]:
    """The limits WSL applies with this .wslconfig on this host (None where unknown)."""
    from gpudoctor.readers.wslconfig import MIN_VM_MEMORY  # the reader loads on WSL only
    from gpudoctor.readers.wslconfig import MiB

    parsed = _parsed(facts) or {}
    readable = bool(parsed.get("readable"))
    ram, _ = _host_ram(facts)
    host = _wsl(facts).get("windows_host")
    cpus = host.get("logical_processors") if isinstance(host, Mapping) else None
    memory_cfg = parsed.get("memory_bytes") if readable else None
    swap_cfg = parsed.get("swap_bytes") if readable else None
    if not memory_cfg:
        memory = ram // 2 if ram else None
    else:
        memory = max(memory_cfg, MIN_VM_MEMORY)
        memory = min(memory, ram) if ram else memory
    if memory is not None:
        memory = (memory // (2 * MiB)) * 2 * MiB
    if swap_cfg is None:
        swap = -(-(memory // 4) // GiB) * GiB if memory is not None else None
    else:
        swap = swap_cfg
    return {
        "memory": memory,
        "memory_cfg": memory_cfg,
        "swap": swap,
        "swap_cfg": swap_cfg,
        "cpus": cpus,
    }


# -- GD501 ------------------------------------------------------------------------------


@check(
    "GD501",
    "wslconfig-missing",
    summary="WSL2 has a .wslconfig that sets the VM's memory (default: half the host RAM)",
    requires=("wsl.vm", "wsl.wslconfig"),
    uses=("wsl.windows_host",),
    fix="wslconfig",
    tags=("wsl", "memory"),
)
def wslconfig_missing(facts: Facts) -> Verdict | list[Verdict]:
    """Without .wslconfig the VM gets half the host RAM and a small swap."""
    config = _config(facts)
    if config.get("exists"):
        return passed(f".wslconfig found at {config.get('path')}", evidence=_path_evidence(config))
    if not config.get("path"):
        return info(
            "Could not locate the Windows user profile, so the .wslconfig was not checked",
            evidence=_path_evidence(config),
            remedies=[
                remedy(
                    "Point gpudoctor at the file (in Windows: %UserProfile%\\.wslconfig).",
                    "gpudoctor check --wslconfig /mnt/c/Users/<you>/.wslconfig",
                )
            ],
        )
    ram, ram_source = _host_ram(facts)
    vm = _vm(facts)
    mem_total = vm.get("mem_total_bytes")
    ev = _path_evidence(config)
    ev.append(evidence("host RAM", fmt_bytes(ram) if ram else "unknown", ram_source))
    if mem_total:
        ev.append(evidence("VM memory now (MemTotal)", fmt_bytes(mem_total), "/proc/meminfo"))
    if vm.get("swap_total_bytes") is not None:
        ev.append(evidence("VM swap now", fmt_bytes(vm["swap_total_bytes"]), "/proc/meminfo"))
    limits = _limits(facts)
    cap = limits["memory"] or mem_total
    title = (
        f"No .wslconfig: the WSL2 VM is capped at half the host RAM ({fmt_bytes(cap)}"
        + (f" of {fmt_bytes(ram)}" if ram else "")
        + f") with {fmt_bytes(limits['swap'] or vm.get('swap_total_bytes'))} swap"
    )
    remedies = [
        _FIX,
        remedy(
            "Or create %UserProfile%\\.wslconfig in Windows (UTF-8, no BOM) with a [wsl2] "
            "section, e.g. memory=<host RAM minus 4 GB> and swap=8GB.",
            platforms=("windows",),
        ),
        _SHUTDOWN,
    ]
    near = config.get("near_misses") or []
    if near:
        ev.append(evidence("files with a similar name", ", ".join(near), "user profile folder"))
    if config.get("linux_home_copy"):
        ev.append(
            evidence(
                "a .wslconfig inside Linux (WSL never reads it)",
                config["linux_home_copy"],
                "$HOME",
            )
        )
    if ram is not None and ram > 32 * GiB:
        return info(title, evidence=ev, remedies=remedies)
    return warn(title, evidence=ev, remedies=remedies)


# -- GD502 ------------------------------------------------------------------------------


@check(
    "GD502",
    "wsl-memory-cap",
    summary="The WSL2 memory cap leaves room for training and for Windows",
    requires=("wsl.wslconfig",),
    uses=("wsl.version", "wsl.vm", "wsl.windows_host"),
    fix="wslconfig",
    tags=("wsl", "memory"),
)
def wsl_memory_cap(facts: Facts) -> Verdict | list[Verdict]:
    """A configured cap that starves training, or one that leaves Windows no room."""
    config = _config(facts)
    given = bool(config.get("given"))
    if not (given and config.get("exists")):
        skipped = _no_vm(facts)
        if skipped:
            return skipped
    limits = _limits(facts)
    configured = limits["memory_cfg"]
    if not configured:
        return skip("no memory= in effect in .wslconfig (the default cap is covered by GD501)")
    ram, ram_source = _host_ram(facts)
    cap = limits["memory"]
    ev = _path_evidence(config)
    ev.append(evidence("memory cap", fmt_bytes(cap), ".wslconfig memory"))
    ev.append(evidence("host RAM", fmt_bytes(ram) if ram else "unknown", ram_source))
    ev.extend(_processors_evidence(facts))
    if ram is None and configured > MAX_PLAUSIBLE_RAM:
        return warn(
            f"memory= asks for {fmt_bytes(configured)}, more than any PC has (a negative "
            "number wraps around): WSL clamps it to all of the host RAM, leaving Windows "
            "nothing",
            evidence=ev,
            remedies=[remedy("Set memory= to the host RAM minus 4 to 8 GB."), _FIX, _SHUTDOWN],
        )
    room = ram - HOST_RESERVE if ram else None
    if room is not None and cap > room:
        return warn(
            f"The WSL2 cap ({fmt_bytes(cap)}) leaves Windows only {fmt_bytes(ram - cap)} "
            f"of {fmt_bytes(ram)}: a memory-hungry epoch can freeze the whole host",
            evidence=ev,
            remedies=[
                remedy(
                    f"Lower memory= to about {fmt_bytes(_suggested(ram))} (host RAM minus "
                    "4 to 8 GB) and add swap instead.",
                ),
                _FIX,
                _SHUTDOWN,
            ],
        )
    has_room = room is None or room > cap + 2 * GiB
    if cap < WARN_CAP and has_room:
        severity = fail if cap < FAIL_CAP else warn
        better = f"about {fmt_bytes(_suggested(ram))}" if ram else "8GB or more"
        return severity(
            f"The WSL2 VM is capped at {fmt_bytes(cap)}: too little for training with "
            "DataLoader workers; the kernel will kill the run ('Killed')",
            evidence=ev,
            remedies=[remedy(f"Raise memory= to {better}."), _FIX, _SHUTDOWN],
        )
    if ram is None:
        on_wsl = facts.get("wsl.version") == 2
        why = ram_source if on_wsl else "this is not the WSL machine"
        return info(
            f"WSL2 memory cap {fmt_bytes(cap)} is enough for training; whether it leaves "
            f"Windows room is unknown (host RAM unknown: {why})",
            evidence=ev,
        )
    return passed(f"WSL2 memory cap {fmt_bytes(cap)} fits this host", evidence=ev)


def _processors_evidence(facts: Facts) -> list[Any]:
    """The processors= limit against the host's logical processors, when set."""
    parsed = _parsed(facts) or {}
    setting = (parsed.get("settings") or {}).get("wsl2.processors")
    if not isinstance(setting, Mapping):
        return []
    host = _wsl(facts).get("windows_host")
    cpus = host.get("logical_processors") if isinstance(host, Mapping) else None
    value = setting.get("value") if setting.get("valid") else None
    if value is None:
        return [evidence("processors", f"{setting.get('raw')} (invalid: all processors)", "")]
    if not isinstance(value, int) or value <= 0:
        return [evidence("processors", f"{value} (all logical processors)", ".wslconfig")]
    if isinstance(cpus, int) and cpus > 0:
        if value > cpus:
            text = f"{value} > {cpus} logical processors: WSL warns and uses {cpus}"
        else:
            text = f"{value} of {cpus} logical processors"
        return [evidence("processors", text, ".wslconfig and Windows")]
    return [evidence("processors", f"{value} (host processor count unknown)", ".wslconfig")]


def suggested_memory(host_ram: int) -> int:
    """Host RAM minus what Windows needs (a quarter, 4 to 8 GB), in whole GB, at least 2 GB."""
    reserve = min(max(host_ram // 4, 4 * GiB), 8 * GiB)
    return max(2 * GiB, ((host_ram - reserve) // GiB) * GiB)


def _suggested(ram: int | None) -> int:
    return suggested_memory(ram) if ram else 8 * GiB


def suggested_swap(memory: int) -> int:
    """Half the VM memory, between 8 and 16 GB, in whole GB: room for spikes, not for thrash."""
    return min(max((memory // 2 // GiB) * GiB, 8 * GiB), 16 * GiB)


# -- GD503 ------------------------------------------------------------------------------


@check(
    "GD503",
    "wslconfig-ignored",
    summary="WSL reads every line of .wslconfig (encoding, location, section names, syntax)",
    requires=("wsl.wslconfig",),
    uses=("wsl.version", "wsl.vm", "wsl.wsl_conf"),
    fix="wslconfig",
    tags=("wsl",),
)
def wslconfig_ignored(facts: Facts) -> Verdict | list[Verdict]:
    """Each line WSL skips silently: wrong encoding, [wsl2] typo, keys before the section."""
    main = _wslconfig_verdict(facts)
    conf = _wsl_conf_verdict(facts)
    return [main, conf] if conf is not None else main


def _wsl_conf_verdict(facts: Facts) -> Verdict | None:
    """/etc/wsl.conf stops at its first malformed line: every later setting is lost."""
    if facts.get("wsl.version") != 2:
        return None
    conf = _wsl(facts).get("wsl_conf")
    if not isinstance(conf, Mapping):
        return None
    diags = [d for d in conf.get("diagnostics") or () if isinstance(d, Mapping)]
    if not diags:
        return None
    ev = [
        evidence(f"line {d.get('line')}" if d.get("line") else "whole file", d.get("message"), "")
        for d in diags
    ]
    stopped = any(d.get("severity") == "error" for d in diags)
    severity = fail if stopped else warn
    return severity(
        f"/etc/wsl.conf has {len(diags)} problem(s): "
        + (
            "WSL stops reading it at the first malformed line, so settings after it "
            "([boot] systemd, [automount], [interop]) are lost"
            if stopped
            else "WSL ignores the line(s) named below"
        ),
        evidence=ev,
        remedies=[
            remedy(
                "Fix or delete the line named in the evidence (UTF-8 without BOM, LF line "
                "endings, 'key = value' under a [section]), then restart WSL.",
                "sudo nano /etc/wsl.conf",
                platforms=_WSL_ONLY,
            ),
            _SHUTDOWN,
        ],
        subject="wsl.conf",
    )


def _wslconfig_verdict(facts: Facts) -> Verdict:
    config = _config(facts)
    given = bool(config.get("given"))
    if not given:
        skipped = _no_vm(facts)
        if skipped:
            return skipped
    parsed = _parsed(facts)
    ev = _path_evidence(config)
    if config.get("error"):
        return skip(str(config["error"]), evidence=ev)
    if parsed is None:
        if config.get("near_misses") or config.get("linux_home_copy"):
            misplaced = [*(config.get("near_misses") or [])]
            if config.get("linux_home_copy"):
                misplaced.append(config["linux_home_copy"])
            return fail(
                "WSL ignores your settings: the file has the wrong name or is in the wrong "
                f"place ({', '.join(misplaced)})",
                evidence=ev,
                remedies=[
                    remedy(
                        "WSL reads only %UserProfile%\\.wslconfig, exactly that name, on the "
                        "Windows side (Notepad may have added .txt: enable 'File name "
                        "extensions' in Explorer and rename it).",
                        platforms=("windows",),
                    ),
                    _SHUTDOWN,
                ],
            )
        return skip("there is no .wslconfig to read (see GD501)", evidence=ev)
    diagnostics = [d for d in parsed.get("diagnostics") or () if isinstance(d, Mapping)]
    errors = [d for d in diagnostics if d.get("severity") == "error"]
    warnings = [d for d in diagnostics if d.get("severity") == "warning"]
    ev.append(evidence("encoding", parsed.get("encoding"), "first bytes of the file"))
    shown = errors + warnings
    for diag in shown[:MAX_LINES_SHOWN]:
        where = f"line {diag.get('line')}" if diag.get("line") else "whole file"
        ev.append(evidence(where, diag.get("message"), ".wslconfig"))
    if len(shown) > MAX_LINES_SHOWN:
        rest = shown[MAX_LINES_SHOWN:]
        ev.append(
            evidence(
                f"and {len(rest)} more",
                ", ".join(f"line {d.get('line')}" for d in rest),
                ".wslconfig",
            )
        )
    remedies = [
        _FIX,
        remedy(
            "Or edit it in Windows: save as UTF-8 (not 'UTF-16' or 'Unicode'), put memory=, "
            "swap= and processors= under a [wsl2] header, write sizes like 12GB, and use '#' "
            "for comments.",
            platforms=("windows",),
        ),
        _SHUTDOWN,
    ]
    whole_file = not parsed.get("readable") or any(d.get("line") == 0 for d in errors)
    if whole_file:
        return fail(
            "WSL ignores this .wslconfig entirely ("
            + str(parsed.get("encoding"))
            + "): every setting is at its default",
            evidence=ev,
            remedies=remedies,
        )
    semicolons = [d for d in errors if d.get("code") == "semicolon-comment"]
    dropped = [d for d in errors if d.get("code") != "semicolon-comment"]
    budget = [d for d in dropped if _budget_key(d)]
    if budget:
        keys = sorted({_budget_key(d) for d in budget})
        lines = ", ".join(str(d.get("line")) for d in budget)
        settings = parsed.get("settings") or {}
        lost = [k for k in keys if not (settings.get(f"wsl2.{k}") or {}).get("valid")]
        tail = (
            f": {' and '.join(lost)} stay(s) at WSL's default"
            if lost
            else ": an earlier line sets it, and WSL keeps the first"
        )
        return fail(
            f"WSL skips {len(dropped)} line(s) of .wslconfig, including "
            + " and ".join(f"{k}=" for k in keys)
            + f" (line {lines}){tail}",
            evidence=ev,
            remedies=remedies,
        )
    if dropped:
        names = sorted({str(d.get("key")) for d in dropped if d.get("key")})
        what = f" ({', '.join(names)})" if names else ""
        return warn(
            f"WSL skips {len(dropped)} line(s) of .wslconfig{what}; the memory, swap and "
            "processors settings are not among them",
            evidence=ev,
            remedies=remedies,
        )
    if warnings:
        return warn(
            f".wslconfig is read, with {len(warnings)} thing(s) WSL does differently than it looks",
            evidence=ev,
            remedies=remedies,
        )
    if semicolons:
        return info(
            f".wslconfig is read; WSL warns at each start about {len(semicolons)} line(s) "
            "starting with ';' (not a comment there) and skips them, which loses nothing",
            evidence=ev,
            remedies=[remedy("Use '#' for comments in .wslconfig to silence the warnings.")],
        )
    return passed(".wslconfig is read completely", evidence=ev)


def _budget_key(diag: Mapping[str, Any]) -> str:
    """The budget key (memory, swap, processors) a skipped line meant to set, or ""."""
    key = str(diag.get("key") or "").lower()
    if not key:
        return ""
    import difflib

    for name in BUDGET_NAMES:
        if key == name or difflib.get_close_matches(key, [name], n=1, cutoff=0.75):
            return name
    return ""


# -- GD504 ------------------------------------------------------------------------------


@check(
    "GD504",
    "wsl-swap",
    summary="The WSL2 VM has swap to absorb memory spikes",
    # A file given with --wslconfig is judged off WSL too, so the version is only used.
    requires=("wsl.wslconfig",),
    uses=("wsl.version", "wsl.windows_host", "wsl.vm"),
    fix="wslconfig",
    tags=("wsl", "memory"),
)
def wsl_swap(facts: Facts) -> Verdict | list[Verdict]:
    """No swap turns a short spike (checkpoint save, eval) into an OOM kill."""
    limits = _limits(facts)
    skipped = _no_vm(facts)
    config = _config(facts)
    # A file given with --wslconfig is judged by what it says, even off WSL.
    judge_file = bool(config.get("given") and config.get("exists"))
    if skipped and (not judge_file or limits["swap_cfg"] is None):
        return skipped
    vm = _vm(facts) if not skipped else {}
    swap = vm.get("swap_total_bytes")
    source = "/proc/meminfo SwapTotal"
    if swap is None and limits["swap_cfg"] is not None:
        swap, source = limits["swap_cfg"], ".wslconfig swap"
    elif swap is None:
        swap, source = limits["swap"], "WSL default (a quarter of the VM memory)"
    if swap is None:
        return skip("swap size unknown")
    memory = vm.get("mem_total_bytes") or limits["memory"] or 0
    ev = [
        evidence("swap", fmt_bytes(swap), source),
        evidence("VM memory", fmt_bytes(memory) if memory else "unknown", ""),
    ]
    remedies = [
        remedy("Set swap=8GB (or 16GB) under [wsl2] in .wslconfig; it lives in a file on C:."),
        _FIX,
        _SHUTDOWN,
    ]
    if swap >= MAX_SWAP:
        return warn(
            f"swap={fmt_bytes(swap)} is more than WSL can create (just under 256 GB): the VM "
            "starts without any swap",
            evidence=ev,
            remedies=remedies,
        )
    if swap == 0:
        return warn(
            "The WSL2 VM has no swap: any memory spike kills training instead of slowing it",
            evidence=ev,
            remedies=remedies,
        )
    if swap < 2 * GiB and memory and swap < memory / 8:
        return warn(
            f"WSL2 swap is only {fmt_bytes(swap)} for {fmt_bytes(memory)} of memory",
            evidence=ev,
            remedies=remedies,
        )
    return passed(f"WSL2 swap {fmt_bytes(swap)}", evidence=ev)


# -- GD505 ------------------------------------------------------------------------------


@check(
    "GD505",
    "wslconfig-not-applied",
    summary="The running WSL2 VM uses the limits .wslconfig sets (restarted after editing)",
    requires=("wsl.wslconfig",),
    uses=("wsl.version", "wsl.windows_host", "wsl.vm"),
    tags=("wsl", "memory"),
)
def wslconfig_not_applied(facts: Facts) -> Verdict | list[Verdict]:
    """An edit is read only when the VM starts; closing the terminal is not enough."""
    skipped = _no_vm(facts)
    if skipped:
        if _config(facts).get("given"):
            return skip("comparison with the running VM needs WSL: " + str(skipped.title))
        return skipped
    parsed = _parsed(facts)
    if parsed is None or not parsed.get("readable"):
        return skip("no readable .wslconfig to compare with")
    vm = _vm(facts)
    mem_total, swap_total = vm.get("mem_total_bytes"), vm.get("swap_total_bytes")
    limits = _limits(facts)
    expected = limits["memory"]
    ev = _path_evidence(_config(facts))
    mismatches = []
    if expected and mem_total:
        how = ".wslconfig memory" if limits["memory_cfg"] else "default: half the host RAM"
        ev.append(evidence("memory by .wslconfig", fmt_bytes(expected), how))
        ev.append(evidence("memory of the running VM", fmt_bytes(mem_total), "/proc/meminfo"))
        if abs(mem_total - expected) > APPLIED_TOLERANCE * expected:
            mismatches.append(
                f"memory {fmt_bytes(expected)} configured, {fmt_bytes(mem_total)} running"
            )
    swap_cfg = limits["swap_cfg"]
    if swap_cfg is not None and swap_total is not None:
        ev.append(evidence("swap by .wslconfig", fmt_bytes(swap_cfg), ".wslconfig swap"))
        ev.append(evidence("swap of the running VM", fmt_bytes(swap_total), "/proc/meminfo"))
        if abs(swap_total - swap_cfg) > APPLIED_TOLERANCE * max(swap_cfg, GiB):
            mismatches.append(
                f"swap {fmt_bytes(swap_cfg)} configured, {fmt_bytes(swap_total)} running"
            )
    if not ev[1:]:
        return skip("host RAM unknown and no memory= set, so there is nothing to compare")
    if mismatches:
        return warn(
            "The running WSL2 VM does not use your .wslconfig: "
            + "; ".join(mismatches)
            + " (edited but not applied?)",
            evidence=ev,
            remedies=[_SHUTDOWN],
        )
    return passed("The running VM matches .wslconfig", evidence=ev)


# -- GD506 ------------------------------------------------------------------------------


@check(
    "GD506",
    "wsl-data-on-windows-drive",
    summary="Dataset and working directory are in the Linux file system, not on /mnt/<drive>",
    requires=("wsl.vm", "wsl.paths"),
    tags=("wsl", "io"),
)
def wsl_data_on_windows_drive(facts: Facts) -> Verdict | list[Verdict]:
    """/mnt/c is served over 9p across the VM boundary: each file open costs milliseconds."""
    verdicts = []
    for entry in _wsl(facts).get("paths") or ():
        if not isinstance(entry, Mapping):
            continue
        role, path = entry.get("role"), entry.get("path")
        ev = [
            evidence(
                "file system",
                f"{entry.get('fstype')} at {entry.get('mount_point')}",
                entry.get("source") or "",
            )
        ]
        if not entry.get("windows_drive"):
            verdicts.append(
                passed(f"{path} is in the Linux file system", evidence=ev, subject=str(role))
            )
            continue
        name = str(path).rstrip("/").rsplit("/", 1)[-1] or "data"
        remedies = [
            remedy(
                "Copy the data into the Linux file system (check free space with df -h ~ "
                "first) and point your training script at the copy; leave the original in "
                "place.",
                f"mkdir -p ~/data && cp -r --reflink=auto '{path}' ~/data/",
                "df -h ~",
                platforms=_WSL_ONLY,
            ),
            remedy(
                "Or pack many small files into a few large shards (tar/WebDataset, LMDB, "
                "HDF5): 9p pays per file open, not per byte.",
            ),
        ]
        if role == "data":
            verdicts.append(
                warn(
                    f"The dataset {path} is on a Windows drive ({entry.get('fstype')}): "
                    f"reading it from WSL is many times slower; copy it to ~/data/{name}",
                    evidence=ev,
                    remedies=remedies,
                    subject="data",
                )
            )
        else:
            verdicts.append(
                info(
                    f"The working directory {path} is on a Windows drive "
                    f"({entry.get('fstype')}): relative dataset paths and checkpoints there "
                    "are slow",
                    evidence=ev,
                    remedies=[
                        remedy(
                            "Keep code, data and checkpoints under your Linux home (~/), "
                            "e.g. clone the project again there.",
                            "cd ~ && git clone <repo>",
                            platforms=_WSL_ONLY,
                        ),
                        remedies[1],
                    ],
                    subject="cwd",
                )
            )
    return verdicts or skip("no working directory or --data path to look at")


# -- GD507 ------------------------------------------------------------------------------


@check(
    "GD507",
    "wsl-linux-driver-inside",
    summary="No Linux NVIDIA driver inside WSL shadows the Windows driver's libcuda",
    requires=("wsl.gpu",),
    tags=("wsl", "gpu", "driver"),
)
def wsl_linux_driver_inside(facts: Facts) -> Verdict | list[Verdict]:
    """A Linux driver in WSL replaces the passthrough libcuda: 'GPU access blocked by the OS'."""
    gpu = _wsl(facts).get("gpu") or {}
    packages = list(gpu.get("driver_packages") or ())
    elsewhere = gpu.get("libcuda_elsewhere")
    libs = list(elsewhere) if isinstance(elsewhere, (list, tuple)) else []
    ev = []
    if packages:
        ev.append(evidence("driver packages", ", ".join(packages), "/var/lib/dpkg/status"))
    if libs:
        ev.append(evidence("libcuda outside /usr/lib/wsl/lib", ", ".join(libs), "ldconfig -p"))
    if not ev:
        return passed("No Linux NVIDIA driver inside WSL")
    return fail(
        "A Linux NVIDIA driver is installed inside WSL and shadows the Windows driver's "
        "libcuda: CUDA fails with 'GPU access blocked by the operating system' or "
        "'libcuda.so: cannot open shared object file'",
        evidence=ev,
        remedies=[
            remedy(
                "Remove the Linux driver packages (WSL uses the Windows driver); if you need "
                "the CUDA toolkit, install only cuda-toolkit-12-x from NVIDIA's WSL-Ubuntu "
                "repository (PyTorch wheels bring their own runtime).",
                "sudo apt-get purge " + (" ".join(packages) if packages else "'nvidia-*'"),
                "sudo ldconfig",
                platforms=_WSL_ONLY,
            ),
            remedy("Update the driver on the Windows side only.", platforms=("windows",)),
        ],
    )


# -- GD508 ------------------------------------------------------------------------------


@check(
    "GD508",
    "wsl-gpu-passthrough",
    summary="WSL2 GPU passthrough is there: /dev/dxg and /usr/lib/wsl/lib/libcuda",
    requires=("wsl.version",),
    uses=("wsl.gpu", "wsl.wsl_conf", "wsl.distro", "wsl.wslconfig"),
    tags=("wsl", "gpu"),
)
def wsl_gpu_passthrough(facts: Facts) -> Verdict | list[Verdict]:
    """Without /dev/dxg or the WSL libcuda, torch.cuda.is_available() is False."""
    section = _wsl(facts)
    if section.get("version") == 1:
        return fail(
            "This distro runs under WSL1, which has no GPU support",
            evidence=[evidence("WSL version", 1, "kernel release")],
            remedies=[
                remedy(
                    "Convert the distro to WSL2 (from Windows).",
                    f"wsl --set-version {section.get('distro') or '<distro>'} 2",
                    platforms=("windows",),
                )
            ],
        )
    gpu = section.get("gpu") or {}
    parsed = _parsed(facts) or {}
    settings = parsed.get("settings") or {}
    gpu_setting = settings.get("wsl2.gpuSupport") or {}
    conf_values = (section.get("wsl_conf") or {}).get("values") or {}
    ev = [
        evidence("/dev/dxg", "present" if gpu.get("dxg") else "missing", "device node"),
        evidence(
            "WSL libcuda",
            ", ".join(gpu.get("wsl_libcuda") or ()) or "missing",
            "/usr/lib/wsl/lib",
        ),
    ]
    if gpu.get("dxg") and gpu.get("wsl_libcuda"):
        return passed("GPU passthrough is set up (/dev/dxg and the WSL libcuda)", evidence=ev)
    disabled = gpu_setting.get("value") is False or str(
        conf_values.get("gpu.enabled", "true")
    ).lower() in ("false", "0")
    remedies = [
        remedy(
            "Install or update the NVIDIA driver on Windows (it provides the WSL libcuda), "
            "then update WSL and restart it.",
            "wsl --update",
            "wsl --shutdown",
            platforms=("windows",),
        ),
    ]
    if disabled:
        ev.append(evidence("GPU turned off", "gpuSupport=false or [gpu] enabled=false", "config"))
        remedies.insert(0, remedy("Remove gpuSupport=false / [gpu] enabled=false."))
    return fail(
        "WSL2 GPU passthrough is missing: CUDA cannot see the GPU",
        evidence=ev,
        remedies=remedies,
    )


# -- GD509 ------------------------------------------------------------------------------


@check(
    "GD509",
    "wsl-pin-memory",
    summary="pin_memory has a small pool under WSL2",
    requires=("wsl.gpu",),
    tags=("wsl", "dataloader"),
)
def wsl_pin_memory(facts: Facts) -> Verdict | list[Verdict]:
    """Pinned host memory is limited in WSL2, independent of the .wslconfig cap."""
    if not (_wsl(facts).get("gpu") or {}).get("dxg"):
        return skip("no GPU passthrough, so nothing is pinned for CUDA")
    return info(
        "Under WSL2, pinned (page-locked) memory is limited: DataLoader(pin_memory=True) with "
        "many workers or large batches can fail with 'CUDA error: out of memory' while the "
        "GPU has free memory",
        evidence=[evidence("platform", "WSL2 with GPU passthrough", "/dev/dxg")],
        remedies=[
            remedy(
                "If you see that error, set pin_memory=False, or lower num_workers × "
                "prefetch_factor × batch size.",
            )
        ],
    )
