"""``gpudoctor diff``: what changed between two reports or snapshots, to prove a fix worked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import click

from gpudoctor.commands.options import format_option

#: Fact paths that change on every run and say nothing about a fix.
NOISY_SUFFIXES = ("seconds", "created_utc")


@dataclass
class Side:
    """One input file: its facts (as JSON data) and findings keyed by (id, subject)."""

    path: str
    facts: dict[str, Any]
    findings: dict[tuple[str, str], dict[str, Any]]


@dataclass
class Difference:
    resolved: list[dict[str, Any]] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)
    changed_severity: list[dict[str, Any]] = field(default_factory=list)
    changed_facts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def worse(self) -> bool:
        """True when a problem (warn or worse) appeared or got more severe."""
        from gpudoctor.model import Severity

        bad = Severity.WARN.rank
        return any(Severity.parse(f["severity"]).rank >= bad for f in self.new) or any(
            Severity.parse(c["after"]).rank > Severity.parse(c["before"]).rank
            and Severity.parse(c["after"]).rank >= bad
            for c in self.changed_severity
        )


def load_side(path: str) -> Side:
    """Read a snapshot or JSON report; findings come from the report, or are recomputed."""
    from gpudoctor.errors import SnapshotError
    from gpudoctor.facts.snapshot import facts_from_document
    from gpudoctor.facts.snapshot import parse_replay_bytes
    from gpudoctor.files import REPLAY_MAX_BYTES
    from gpudoctor.files import read_bounded
    from gpudoctor.model import Finding
    from gpudoctor.model import Severity

    raw_bytes = read_bounded(path, REPLAY_MAX_BYTES, "JSON report or snapshot")
    doc = parse_replay_bytes(raw_bytes, path)  # every way it can be wrong -> one line
    facts = facts_from_document(doc, path)
    raw = doc.get("findings")
    if isinstance(raw, list):
        try:
            findings = [Finding.from_json(f) for f in raw]
            for finding in findings:
                Severity.parse(finding.to_json()["severity"])
        except Exception as exc:  # noqa: BLE001 - any malformed finding is a bad input
            raise SnapshotError(f"{path}: a finding is malformed: {exc!r}") from None
    else:
        from gpudoctor.registry import load_registry
        from gpudoctor.runner import run_checks

        registry = load_registry()
        specs = [s for s in registry if not s.deep and "watch" not in s.tags]
        findings = run_checks(facts, specs, probe_errors=False)
    keyed = {(f.check_id, f.subject): f.to_json() for f in findings}
    return Side(path=path, facts=facts.to_json(), findings=keyed)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value and set(value) != {"$unavailable"}:
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, child in enumerate(value):
            out.update(_flatten(child, f"{prefix}.{index}"))
        return out
    return {prefix: value}


def compare(before: Side, after: Side, *, all_facts: bool = False) -> Difference:
    """Findings resolved, new and re-graded; facts whose value changed (dotted paths)."""
    from gpudoctor.model import Severity

    def problems(side: Side) -> dict[tuple[str, str], dict[str, Any]]:
        info = Severity.INFO.rank
        return {
            key: f for key, f in side.findings.items() if Severity.parse(f["severity"]).rank >= info
        }

    diff = Difference()
    old, new = problems(before), problems(after)
    for key, finding in old.items():
        if key not in new:
            now = after.findings.get(key)
            diff.resolved.append({**_brief(finding), "now": now["severity"] if now else "absent"})
    for key, finding in new.items():
        if key not in old:
            diff.new.append(_brief(finding))
        elif finding["severity"] != old[key]["severity"]:
            diff.changed_severity.append(
                {**_brief(finding), "before": old[key]["severity"], "after": finding["severity"]}
            )
    flat_before, flat_after = _flatten(before.facts), _flatten(after.facts)
    for path in sorted(set(flat_before) | set(flat_after)):
        if not all_facts and path.rsplit(".", 1)[-1].endswith(NOISY_SUFFIXES):
            continue
        missing = object()
        a, b = flat_before.get(path, missing), flat_after.get(path, missing)
        if a != b:
            diff.changed_facts.append(
                {
                    "path": path,
                    "before": None if a is missing else a,
                    "after": None if b is missing else b,
                    "added": a is missing,
                    "removed": b is missing,
                }
            )
    return diff


def _brief(finding: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": finding["id"],
        "name": finding.get("name", ""),
        "subject": finding.get("subject", ""),
        "severity": finding["severity"],
        "title": finding.get("title", ""),
    }


def _show(value: Any) -> str:
    import json

    if isinstance(value, Mapping) and set(value) == {"$unavailable"}:
        return f"<not available: {value['$unavailable']}>"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def render_text(diff: Difference, before: str, after: str) -> str:
    def label(f: dict[str, Any]) -> str:
        subject = f" [{f['subject']}]" if f["subject"] else ""
        return f"{f['id']} {f['name']}{subject}"

    lines = [f"gpudoctor diff: {before} -> {after}", ""]
    lines.append(f"Resolved findings ({len(diff.resolved)}):")
    lines += [
        f"  - {label(f)} ({f['severity']} -> {f['now']}): {f['title']}" for f in diff.resolved
    ]
    lines.append(f"New findings ({len(diff.new)}):")
    lines += [f"  + {label(f)} ({f['severity']}): {f['title']}" for f in diff.new]
    lines.append(f"Severity changes ({len(diff.changed_severity)}):")
    lines += [
        f"  ~ {label(f)}: {f['before']} -> {f['after']}: {f['title']}"
        for f in diff.changed_severity
    ]
    lines.append(f"Changed facts ({len(diff.changed_facts)}):")
    for change in diff.changed_facts:
        if change["added"]:
            lines.append(f"  + {change['path']} = {_show(change['after'])}")
        elif change["removed"]:
            lines.append(f"  - {change['path']} (was {_show(change['before'])})")
        else:
            lines.append(
                f"  ~ {change['path']}: {_show(change['before'])} -> {_show(change['after'])}"
            )
    return "\n".join(lines) + "\n"


@click.command("diff")
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@format_option("text", "json")
@click.option("--all-facts", is_flag=True, help="Also list facts that change on every run.")
def diff_command(before: str, after: str, fmt: str, all_facts: bool) -> None:
    """Compare two JSON reports or snapshots: resolved, new and re-graded findings, changed facts.

    Snapshots have no findings stored, so the checks are run on their facts. Exits 1 when
    a warning or worse appeared or got more severe, 0 otherwise, 2 on an unreadable file.

    \b
    Examples:
      gpudoctor report --format json -o before.json
      (apply the fix, e.g. gpudoctor fix --wslconfig, then wsl --shutdown)
      gpudoctor report --format json -o after.json
      gpudoctor diff before.json after.json
      gpudoctor diff before.json after.json --format json
    """
    import json
    import sys

    old, new = redact_sides(load_side(before), load_side(after))
    difference = compare(old, new, all_facts=all_facts)
    shown_before, shown_after = old.path, new.path
    if fmt.lower() == "json":
        doc = {"format": "gpudoctor-diff", "before": shown_before, "after": shown_after}
        doc.update(difference.to_json())
        click.echo(json.dumps(doc, indent=2, allow_nan=False))
    else:
        click.echo(render_text(difference, shown_before, shown_after), nl=False)
    sys.exit(1 if difference.worse else 0)


def redact_sides(before: Side, after: Side) -> tuple[Side, Side]:
    """Both inputs redacted by one Redactor, so a placeholder means the same on both sides.

    Redaction comes before comparing and before any value is cut for display.
    """
    from gpudoctor.privacy import Redactor

    redactor = Redactor()

    def one(side: Side) -> Side:
        findings = {
            (redactor.text(k[0]), redactor.text(k[1])): redactor.value(f)
            for k, f in side.findings.items()
        }
        return Side(
            path=redactor.text(side.path), facts=redactor.value(side.facts), findings=findings
        )

    return one(before), one(after)
