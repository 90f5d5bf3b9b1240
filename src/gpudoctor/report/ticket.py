"""The bug-ticket report (``gpudoctor report``): verdicts first, then every fact, paste-ready.

It carries every field ``python -m torch.utils.collect_env`` prints, under the same labels,
plus whatever facts sections exist (rendered generically, so new probes show up without
changes here). Markdown stays under GitHub's issue-body limit: long sections fold into
``<details>`` and, when needed, are trimmed with a note pointing at the JSON report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gpudoctor._version import __version__
from gpudoctor.model import Severity
from gpudoctor.report.json_report import REPORT_SCHEMA_VERSION
from gpudoctor.report.markdown import details
from gpudoctor.runner import Report

#: GitHub refuses issue bodies longer than this many characters.
GITHUB_BODY_LIMIT = 65_536
#: What we aim for, leaving room for the user's own words around the report.
TARGET_LENGTH = 60_000
#: Longest single value shown in a facts table before it is cut.
MAX_VALUE_CHARS = 600
#: Shown in the ticket for a value collect_env could not read.
NOT_COLLECTED = "Could not collect"

#: Sections already shown in the collect_env table, not repeated in the facts.
_TABLE_SECTIONS = ("system", "collect_env")
#: Sections people look for first; the rest follow alphabetically.
_FIRST_SECTIONS = ("host", "memory", "shm", "gpu", "wsl", "wslconfig", "processes", "torch")


def _text(value: Any, fallback: str = NOT_COLLECTED) -> str:
    if value is None:
        return fallback
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _section(facts: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = facts.get(name)
    return value if isinstance(value, Mapping) else {}


def collect_env_fields(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """collect_env's fields, under its labels, with its conventions for missing values.

    The labels and values are those of the installed torch's own ``collect_env`` when its
    child process could run it (fields differ between torch versions); otherwise the fields
    are rebuilt from gpudoctor's probes under the labels of current torch releases.
    """
    extra = _section(facts, "collect_env")
    answers = extra.get("torch")
    if isinstance(answers, Mapping):
        own = torch_collect_env_fields(answers)
        if own:
            return own
    return _rebuilt_fields(facts)


def torch_collect_env_fields(answers: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``Label: value`` pairs of torch's own collect_env text, in its order; [] without it."""
    labels = answers.get("collect_env_labels")
    text = answers.get("collect_env_text")
    if not isinstance(labels, list) or not isinstance(text, str):
        return []
    known = [str(label) for label in labels]
    heads = tuple(label + ":" for label in known)
    values: dict[str, str] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        label = next((lb for lb, head in zip(known, heads) if line.startswith(head)), None)
        if label is None:
            continue
        value = [line[len(label) + 1 :].strip()]
        for more in lines[index + 1 :]:
            if (not more.strip() and value != [""]) or more.startswith(heads):
                break
            value.append(more)
        values[label] = "\n".join(v for v in value if v.strip()).strip()
    return [(label, values.get(label, NOT_COLLECTED)) for label in known]


def _rebuilt_fields(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """collect_env's fields rebuilt from gpudoctor's own probes (no torch, or it failed)."""
    system = _section(facts, "system")
    extra = _section(facts, "collect_env")
    raw_torch, raw_smi = extra.get("torch"), extra.get("nvidia_smi")
    torch: Mapping[str, Any] = raw_torch if isinstance(raw_torch, Mapping) else {}
    has_torch = bool(torch) and "error" not in torch
    smi: Mapping[str, Any] = raw_smi if isinstance(raw_smi, Mapping) else {}

    def from_torch(key: str, fallback: str = "N/A") -> Any:
        return torch.get(key) if has_torch else fallback

    cudnn_files = system.get("cudnn_libraries") or []
    cudnn: str | None = None
    if len(cudnn_files) == 1:
        cudnn = cudnn_files[0]
    elif cudnn_files:
        cudnn = "Probably one of the following:\n" + "\n".join(cudnn_files)
    if has_torch and torch.get("hip_compiled_version") is not None:
        cuda_built: Any = "N/A"
    else:
        cuda_built = from_torch("cuda_compiled_version")
    dynamic = {
        "runtime": system.get("nvcc_version"),
        "models": smi.get("gpu_models"),
        "driver": smi.get("driver_version"),
    }
    if has_torch and torch.get("is_cuda_available") == "False" and not any(dynamic.values()):
        dynamic = dict.fromkeys(dynamic, "No CUDA")
        cudnn = "No CUDA"
        cuda_built = "None" if cuda_built is None else cuda_built
    allocator = system.get("caching_allocator_config") or {}
    return [
        ("PyTorch version", _text(from_torch("torch_version"))),
        ("Is debug build", _text(from_torch("is_debug_build"))),
        ("CUDA used to build PyTorch", _text(cuda_built)),
        ("ROCM used to build PyTorch", _text(from_torch("hip_compiled_version"), "N/A")),
        ("OS", _text(system.get("os"))),
        ("GCC version", _text(system.get("gcc_version"))),
        ("Clang version", _text(system.get("clang_version"))),
        ("CMake version", _text(system.get("cmake_version"))),
        ("Libc version", _text(system.get("libc_version"))),
        ("Python version", _text(system.get("python_version"))),
        ("Python platform", _text(system.get("python_platform"))),
        ("Is CUDA available", _text(from_torch("is_cuda_available"))),
        ("CUDA runtime version", _text(dynamic["runtime"])),
        ("CUDA_MODULE_LOADING set to", _text(from_torch("cuda_module_loading"))),
        ("GPU models and configuration", _text(dynamic["models"])),
        ("Nvidia driver version", _text(dynamic["driver"])),
        ("cuDNN version", _text(cudnn)),
        ("Is XPU available", _text(from_torch("is_xpu_available"))),
        ("HIP runtime version", _text(from_torch("hip_runtime_version", "N/A"), "N/A")),
        ("MIOpen runtime version", _text(from_torch("miopen_runtime_version", "N/A"), "N/A")),
        ("Is XNNPACK available", _text(from_torch("is_xnnpack_available"))),
        ("Caching allocator config", str(dict(allocator)) if allocator else "N/A"),
    ]


def library_lines(facts: Mapping[str, Any]) -> list[str]:
    """collect_env's "Versions of relevant libraries" block, ``[pip3]``/``[conda]`` prefixed."""
    system = _section(facts, "system")
    extra = _section(facts, "collect_env")
    lines = []
    for tag, packages in (
        (f"[{system.get('pip_version') or 'pip3'}]", system.get("pip_packages")),
        ("[conda]", extra.get("conda_packages")),
    ):
        if packages is None or not isinstance(packages, (list, tuple)):
            lines.append(f"{tag} {NOT_COLLECTED}")
        elif not packages:
            lines.append(f"{tag} No relevant packages")
        else:
            lines.extend(f"{tag} {p}" for p in packages)
    return lines


def cpu_info(facts: Mapping[str, Any]) -> str:
    extra = _section(facts, "collect_env")
    value = extra.get("cpu_info") or _section(facts, "system").get("cpu_model")
    return _text(value if isinstance(value, str) else None)


def replay_hint(report: Report) -> str:
    return (
        "Save the JSON report (`gpudoctor report --format json -o gpudoctor-report.json`) "
        "or the *Replay data* block below as a `.json` file, then run "
        "`gpudoctor check --replay FILE` to re-run every check on these facts."
    )


# -- JSON ----------------------------------------------------------------------------------


def ticket_document(report: Report, *, redacted: bool) -> dict[str, Any]:
    """The JSON report plus the collect_env view; replays with ``gpudoctor check --replay``."""
    from gpudoctor.report.json_report import report_document

    document = report_document(report)
    document["redacted"] = redacted
    document["replay"] = {"command": "gpudoctor check --replay FILE", "how": replay_hint(report)}
    document["collect_env"] = {
        "fields": dict(collect_env_fields(report.facts)),
        "cpu_info": cpu_info(report.facts),
        "libraries": library_lines(report.facts),
    }
    return document


# -- Markdown ------------------------------------------------------------------------------


def _cut(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit} more characters in the JSON report)"


def _cell(text: str) -> str:
    escaped = _cut(text).replace("|", "\\|").replace("`", "'")
    lines = [line for line in escaped.splitlines() if line.strip()] or [""]
    return "<br>".join(f"`{line}`" if line else "" for line in lines)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted paths to leaf values (``gpu.devices.0.name``); empty containers are leaves."""
    if isinstance(value, Mapping) and value and set(value) != {"$unavailable"}:
        rows = []
        for key, child in value.items():
            rows.extend(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(value, (list, tuple)) and value:
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return [(prefix, ", ".join(_text(v, "null") for v in value))]
        rows = []
        for index, child in enumerate(value):
            rows.extend(flatten(child, f"{prefix}.{index}"))
        return rows
    return [(prefix, value)]


def _leaf(value: Any, path: str = "") -> str:
    if path.endswith("_bytes") and isinstance(value, int) and not isinstance(value, bool):
        from gpudoctor.api import fmt_bytes

        return f"{value} ({fmt_bytes(value)})"
    if isinstance(value, Mapping) and set(value) == {"$unavailable"}:
        return f"not available: {value['$unavailable']}"
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, allow_nan=False)
    return _text(value, "null")


def _facts_section(name: str, data: Any) -> str:
    from gpudoctor.facts.model import thaw

    rows = flatten(thaw(data))
    table = ["| Fact | Value |", "|---|---|"]
    table += [f"| `{path or name}` | {_cell(_leaf(value, path))} |" for path, value in rows]
    return "\n".join(details(f"<b>{name}</b> ({len(rows)} facts)", table))


def _ordered_sections(facts: Mapping[str, Any]) -> list[str]:
    names = [n for n in facts if n not in _TABLE_SECTIONS]
    first = [n for n in _FIRST_SECTIONS if n in names]
    return first + sorted(n for n in names if n not in first)


def _header(report: Report, *, redacted: bool) -> str:
    privacy = (
        "Redacted: user, host and home names, IP/MAC addresses and GPU ids are placeholders; "
        "only allow-listed environment variables are included; secrets are withheld."
        if redacted
        else "⚠️ **Not redacted** (`--no-redact`): user, host and home names, addresses "
        "and GPU ids are included as they are."
    )
    return "\n".join(
        [
            "## gpudoctor report",
            "",
            f"- gpudoctor **{__version__}**, facts schema **{report.facts.schema_version}**, "
            f"report schema **{REPORT_SCHEMA_VERSION}**",
            f"- Produced by: `{report.command or 'gpudoctor report'}`"
            + (f" (replayed from `{report.replayed_from}`)" if report.replayed_from else ""),
            f"- Replay: {replay_hint(report)}",
            f"- {privacy}",
            "",
        ]
    )


def _findings(report: Report) -> str:
    from gpudoctor.report.markdown import finding_section
    from gpudoctor.report.markdown import findings_table
    from gpudoctor.report.summary import count_words
    from gpudoctor.report.summary import report_platforms

    words = count_words(report.counts) if report.findings else "no checks ran"
    lines = [f"### Verdict: {report.verdict}", "", f"({words})", ""]
    lines += findings_table(report.findings)
    problems = [f for f in report.findings if f.severity.rank >= Severity.INFO.rank]
    if problems:
        platforms = report_platforms(report.facts)
        lines += ["### Findings and what to do", ""]
        for finding in problems:
            lines += finding_section(finding, platforms)
    return "\n".join(lines)


def _collect_env_table(report: Report) -> str:
    lines = [
        "### collect_env fields",
        "",
        "The fields `python -m torch.utils.collect_env` prints, same labels "
        "(torch was asked in a child process).",
        "",
        "| Field | Value |",
        "|---|---|",
    ]
    lines += [f"| {label} | {_cell(value)} |" for label, value in collect_env_fields(report.facts)]
    lines.append("")
    return "\n".join(lines)


def _code_details(title: str, body: str, lang: str = "") -> str:
    fence = "````" if "```" in body else "```"
    return "\n".join(details(title, [fence + lang, body, fence]))


def _probe_table(report: Report) -> str:
    rows = sorted(report.facts.probes.values(), key=lambda p: p.name)
    lines = ["| Probe | Status | Seconds |", "|---|---|---|"]
    lines += [
        f"| {p.name} | {p.status}{': ' + _cell(p.error) if p.error else ''} | {p.seconds:.3f} |"
        for p in rows
    ]
    return "\n".join(details("Probes", lines))


def render_ticket_markdown(report: Report, *, redacted: bool, limit: int = TARGET_LENGTH) -> str:
    """Markdown for a GitHub issue, never longer than ``limit`` characters."""
    from gpudoctor.facts.snapshot import snapshot_document

    essential = [
        _header(report, redacted=redacted),
        _findings(report),
        _collect_env_table(report),
    ]
    # (title, text) in the order shown; trimmed from the least useful when too long.
    optional: list[tuple[str, str]] = [
        ("CPU", _code_details("CPU (collect_env)", cpu_info(report.facts))),
        (
            "libraries",
            _code_details("Versions of relevant libraries", "\n".join(library_lines(report.facts))),
        ),
    ]
    optional.append(("facts heading", "### Facts\n"))
    for name in _ordered_sections(report.facts):
        optional.append((f"facts section {name!r}", _facts_section(name, report.facts[name])))
    optional.append(("probes", _probe_table(report)))
    snapshot = json.dumps(snapshot_document(report.facts, report.command), allow_nan=False)
    optional.append(
        (
            "replay data",
            _code_details("Replay data (save as a .json file)", snapshot, "json"),
        )
    )
    return _fit(essential, optional, limit)


def _fit(essential: list[str], optional: list[tuple[str, str]], limit: int) -> str:
    """Join the blocks, dropping the largest optional ones (with a note) until it fits."""
    notes: list[str] = []
    kept = list(optional)

    def assemble() -> str:
        tail = ""
        if notes:
            tail = (
                "\n> ✂️ Trimmed to fit a GitHub issue: "
                + ", ".join(notes)
                + ". The JSON report (`gpudoctor report --format json`) has everything.\n"
            )
        return "\n".join(essential + [text for _, text in kept]) + tail

    text = assemble()
    while len(text) > limit and kept:
        # Replay data goes first (the JSON report replaces it), then the biggest blocks.
        victim = next((item for item in kept if item[0] == "replay data"), None)
        if victim is None:
            victim = max(kept, key=lambda item: len(item[1]))
        kept.remove(victim)
        notes.append(f"{victim[0]} left out ({len(victim[1]):,} characters)")
        text = assemble()
    if len(text) > limit:
        text = text[: limit - 80] + "\n\n> ✂️ Cut at the GitHub issue size limit.\n"
    return text
