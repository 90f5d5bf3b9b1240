"""Run the selected checks over one facts snapshot and collect the findings.

The runner does what check bodies should not have to: it skips a check whose required facts
are unavailable (saying which and why), turns a check that raises into an ``error`` finding
for that check alone, reports probes that failed or timed out, and stamps each verdict with
its check's id, name, fix and reference page.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Iterable

from gpudoctor.declare import CheckSpec
from gpudoctor.facts.model import Facts
from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable
from gpudoctor.model import Evidence
from gpudoctor.model import Finding
from gpudoctor.model import Remedy
from gpudoctor.model import Severity
from gpudoctor.model import Verdict
from gpudoctor.model import severity_value
from gpudoctor.registry import LoadError

_RANK_OF_VALUE = {s.value: s.rank for s in Severity}


class Report:
    """The outcome of one ``gpudoctor check``: the facts and every finding drawn from them."""

    def __init__(
        self,
        facts: Facts,
        findings: list[Finding] | None = None,
        command: str = "",
        replayed_from: str = "",
    ) -> None:
        self.facts = facts
        self.findings: list[Finding] = [] if findings is None else findings
        self.command = command
        self.replayed_from = replayed_from

    def __repr__(self) -> str:
        return f"Report({len(self.findings)} findings, command={self.command!r})"

    @property
    def counts(self) -> dict[str, int]:
        counter = Counter(map(severity_value, self.findings))
        return {s.value: counter.get(s.value, 0) for s in Severity}

    @property
    def worst(self) -> Severity:
        worst = max(
            map(severity_value, self.findings), key=_RANK_OF_VALUE.__getitem__, default=None
        )
        return Severity.PASS if worst is None else Severity(worst)

    def exit_code(self, strict: bool = False) -> int:
        """0 when nothing is above ``info``; 1 for a warn, fail or error (or info if strict)."""
        threshold = Severity.INFO if strict else Severity.WARN
        return 1 if any(f.severity.rank >= threshold.rank for f in self.findings) else 0

    @property
    def verdict(self) -> str:
        counts = self.counts
        if counts["fail"]:
            return "problems found that will break or slow down training"
        if counts["error"]:
            return "some checks could not run; see the errors below"
        if counts["warn"]:
            return "warnings worth a look"
        return "no problems found"


def run_checks(
    facts: Facts,
    specs: Iterable[CheckSpec],
    *,
    load_errors: Iterable[LoadError] = (),
    probe_errors: bool = True,
) -> list[Finding]:
    """Findings of ``specs`` on ``facts``, sorted worst first, then by id."""
    findings: list[Finding] = []
    selected = list(specs)
    selected_ids = {s.id for s in selected}
    if "GD900" in selected_ids:
        findings.extend(_plugin_findings(load_errors))
    for spec in selected:
        if spec.func is None:
            continue
        findings.extend(run_one(spec, facts))
    if probe_errors and "GD902" in selected_ids:
        findings.extend(_probe_findings(facts, selected))
    order = {s.id: i for i, s in enumerate(selected)}
    findings.sort(key=lambda f: (-f.severity.rank, order.get(f.check_id, 999_999), f.subject))
    return findings


def run_one(spec: CheckSpec, facts: Facts) -> list[Finding]:
    """Run one check, isolating it: never raises."""
    values = [(path, facts.get(path)) for path in spec.requires]
    absent = [(p, v) for p, v in values if isinstance(v, NotApplicable)]
    if absent:
        path, value = absent[0]
        return [spec.finding(Verdict(Severity.SKIP, f"Not applicable: {value.reason}"))]
    missing = [(p, v) for p, v in values if isinstance(v, Unavailable)]
    if missing:
        path, unavailable = missing[0]
        return [
            spec.finding(
                Verdict(
                    Severity.SKIP,
                    f"skipped: needs {path}, {unavailable}",
                    evidence=tuple(Evidence(p, str(v), "facts") for p, v in missing),
                ),
            )
        ]
    try:
        result = spec.func(facts)  # type: ignore[misc]
        verdicts = _as_verdicts(result)
    except Exception as exc:  # noqa: BLE001 - one broken check must not stop the rest
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return [
            Finding(
                check_id=spec.id,
                name=spec.name,
                severity=Severity.ERROR,
                title=f"check {spec.id} {spec.name} crashed: {type(exc).__name__}: {exc}",
                evidence=(Evidence("raised at", f"{where.filename}:{where.lineno}", "traceback"),),
                remedies=(
                    Remedy(
                        "This is a bug in the check, not in your setup. Please report it with "
                        "the output of 'gpudoctor snapshot'.",
                    ),
                ),
                reference="checks/GD901.md",
                details="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            )
        ]
    if not verdicts:
        verdicts = [Verdict(Severity.PASS, spec.summary)]
    return [spec.finding(v) for v in verdicts]


def _as_verdicts(result: object) -> list[Verdict]:
    """A check returns ``Verdict | list[Verdict] | None``; anything else is refused."""
    if result is None:
        return []
    if isinstance(result, Verdict):
        return [result]
    if isinstance(result, list):
        bad = [type(i).__name__ for i in result if not isinstance(i, Verdict)]
        if bad:
            raise TypeError(f"check returned {', '.join(bad)}; expected Verdict objects")
        return result
    raise TypeError(f"check returned {type(result).__name__}; expected Verdict, list or None")


def _plugin_findings(load_errors: Iterable[LoadError]) -> list[Finding]:
    return [
        Finding(
            check_id="GD900",
            name="plugin-load-failed",
            severity=Severity.ERROR,
            title=f"check plugin {err.plugin!r} ({err.distribution}) was not loaded: {err.message}",
            subject=err.plugin,
            evidence=(Evidence("entry point", err.plugin, "gpudoctor.checks entry points"),),
            remedies=(
                Remedy(
                    "Upgrade or uninstall the plugin; gpudoctor's own checks ran without it.",
                    (f"pip install -U {err.distribution.split(' ')[0]}",),
                ),
            ),
            reference="checks/GD900.md",
        )
        for err in load_errors
    ]


def _probe_findings(facts: Facts, selected: list[CheckSpec]) -> list[Finding]:
    """One GD902 error per probe that failed or timed out, naming the checks it starved."""
    findings = []
    for name, record in sorted(facts.probes.items()):
        if record.status == "ok":
            continue
        starved = sorted(
            s.id for s in selected if any(p == name or p.startswith(name + ".") for p in s.requires)
        )
        findings.append(
            Finding(
                check_id="GD902",
                name="probe-failed",
                severity=Severity.ERROR,
                title=f"probe {name!r} {'timed out' if record.status == 'timeout' else 'failed'}: "
                f"{record.error}",
                subject=name,
                evidence=(
                    Evidence("probe", name, "gather"),
                    Evidence("ran for", f"{record.seconds:.2f} s", "gather"),
                    Evidence("checks skipped", ", ".join(starved) or "none", "registry"),
                ),
                remedies=(
                    Remedy(
                        "Something on this machine is slow or stuck (a hung driver, a dead "
                        "network mount). Re-run with -v to see each probe's time, and attach "
                        "'gpudoctor snapshot' output to a bug report if it persists.",
                    ),
                ),
                reference="checks/GD902.md",
            )
        )
    return findings
