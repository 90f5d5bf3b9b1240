"""``gpudoctor watch``: watch a training run live, diagnose it, and report when it ends."""

from __future__ import annotations

import functools
import io
import sys
from dataclasses import dataclass
from dataclasses import field
from typing import IO
from typing import Any

import click

from gpudoctor.checks.live_signals import DEFAULT_THRESHOLDS
from gpudoctor.commands.options import float_option
from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import no_redact_option
from gpudoctor.commands.options import path_option
from gpudoctor.commands.options import replay_option

#: How many ticks pass between two live analyses (findings printed as they appear).
LIVE_CHECK_EVERY = 10


@dataclass
class WatchRequest:
    pid: int | None = None
    argv: tuple[str, ...] = ()
    log: str | None = None
    interval: float = 1.0
    duration: float | None = None
    record: str | None = None
    replay: str | None = None
    ui: bool | None = None  # None: a live view on a terminal, plain lines otherwise
    fmt: str = "text"
    output: str | None = None
    chart: str | None = None
    redact: bool = True
    thresholds: dict[str, float] = field(default_factory=dict)
    stop_on_hang: bool | None = None
    command: str = "gpudoctor watch"
    nvml_module: Any = None
    py_spy: str | None = None


@functools.lru_cache(maxsize=1)
def _watch_specs() -> tuple[Any, ...]:
    """The GD85x checks, loaded once (the live view re-analyses every few ticks)."""
    from gpudoctor.registry import load_registry

    return tuple(s for s in load_registry(plugins=False) if "watch" in s.tags)


def analyse(timeline: Any, *, command: str, replayed_from: str = "") -> Any:
    """Run the watch checks (GD85x) over a timeline: the same for a live run and a replay."""
    from gpudoctor.facts.model import Facts
    from gpudoctor.probes.live.facts import timeline_facts
    from gpudoctor.runner import Report
    from gpudoctor.runner import run_checks

    facts = Facts({"watch": timeline_facts(timeline)})
    findings = run_checks(facts, _watch_specs(), probe_errors=False)
    return Report(facts=facts, findings=findings, command=command, replayed_from=replayed_from)


def render_summary(report: Any, fmt: str, stream: IO[str], *, plain: bool) -> None:
    """The end-of-run report in the usual formats, with the run's chart."""
    from gpudoctor.report.json_report import report_document
    from gpudoctor.report.markdown import render_markdown
    from gpudoctor.report.text import make_console
    from gpudoctor.report.text import render_text
    from gpudoctor.report.watch import chart_series
    from gpudoctor.report.watch import mermaid_chart
    from gpudoctor.report.watch import text_chart

    watch = report.facts["watch"]
    if fmt == "json":
        import json

        doc = report_document(report)
        doc["chart"] = chart_series(watch)
        stream.write(json.dumps(doc, indent=2) + "\n")
        return
    if fmt == "markdown":
        text = render_markdown(report)
        head, sep, tail = text.partition("<details>")
        chart = "### Timeline\n\n" + (mermaid_chart(watch) or "(no samples)") + "\n\n"
        stream.write(head + chart + sep + tail)
        return
    render_text(report, stream, plain=plain)
    console = make_console(stream, plain=plain)
    console.print()
    for line in text_chart(watch, ascii_only=plain):
        console.print(line)


def _live_printer(stream: IO[str], ui: bool) -> tuple[Any, Any, Any]:
    """(listener, line printer, closer) for the live view or plain lines."""
    from gpudoctor.report.watch import LiveView
    from gpudoctor.report.watch import plain_line

    def say(text: str) -> None:
        stream.write(text + "\n")
        stream.flush()

    if ui:
        view = LiveView(stream)
        return view.update, view.print, view.close

    def line(timeline: Any, sample: Any) -> None:
        say(plain_line(sample))

    return line, say, lambda: None


class LiveFindings:
    """Re-analyses every few ticks and prints each new problem once, as it appears."""

    def __init__(self, say: Any, inner: Any, command: str) -> None:
        self.say, self.inner, self.command = say, inner, command
        self.seen: set[str] = set()
        self.ticks = 0
        self.captures = 0

    def __call__(self, timeline: Any, sample: Any) -> None:
        self.inner(timeline, sample)
        self.ticks += 1
        every = max(LIVE_CHECK_EVERY, len(timeline.samples) // 50)
        fresh_stacks = len(timeline.stacks) > self.captures  # a hang: say so at once
        self.captures = len(timeline.stacks)
        if self.ticks % every and not fresh_stacks:
            return
        self.report(timeline)

    def report(self, timeline: Any) -> None:
        from gpudoctor.model import Severity

        for finding in analyse(timeline, command=self.command).findings:
            if finding.severity.rank < Severity.WARN.rank or finding.check_id in self.seen:
                continue
            self.seen.add(finding.check_id)
            self.say(f"gpudoctor: {finding.check_id} {finding.name}: {finding.title}")


def run_watch(
    request: WatchRequest, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    """Watch (or replay), then report; the exit code is the command's when it was started."""
    from gpudoctor.errors import BadInputError
    from gpudoctor.files import atomic_write_text
    from gpudoctor.files import check_writable
    from gpudoctor.privacy import Redactor
    from gpudoctor.privacy import current_identity
    from gpudoctor.privacy import redact_report
    from gpudoctor.probes.live.timeline import read_timeline
    from gpudoctor.report.text import plain_output
    from gpudoctor.session import warn_if_not_redacted

    out = stdout or sys.stdout
    err = stderr or sys.stderr
    modes = sum([request.pid is not None, bool(request.argv), request.replay is not None])
    if modes != 1:
        raise BadInputError(
            "say what to watch: --pid PID, or -- COMMAND ..., or --replay FILE (exactly one)"
        )
    for path in (request.output, request.chart, request.record):
        if path:
            check_writable(path)
    warn_if_not_redacted(request.redact)
    child = None
    if request.replay is not None:
        timeline = read_timeline(request.replay)
        if request.thresholds:  # re-analyse with other thresholds than were recorded
            from dataclasses import replace

            merged = {**timeline.header.thresholds, **request.thresholds}
            timeline.header = replace(timeline.header, thresholds=merged)
    else:
        timeline, child = _watch_live(
            request, err, Redactor(current_identity(), identities=request.redact)
        )
    report = redact_report(
        analyse(timeline, command=request.command, replayed_from=request.replay or ""),
        enabled=request.redact,
    )
    if request.output:
        buffer = io.StringIO()
        render_summary(report, request.fmt, buffer, plain=True)
        atomic_write_text(request.output, buffer.getvalue())
        err.write(f"gpudoctor: watch report written to {request.output}\n")
    else:
        render_summary(report, request.fmt, out, plain=plain_output(out))
    if request.chart:
        from gpudoctor.report.watch import write_chart

        write_chart(report.facts["watch"], request.chart)
        err.write(f"gpudoctor: chart written to {request.chart}\n")
    if child is not None:
        end = timeline.end
        if end is not None and end.exit_code is not None:
            return int(end.exit_code)
        return 130 if end is not None and end.reason == "interrupted" else 1
    return int(report.exit_code())


def _watch_live(request: WatchRequest, err: IO[str], redactor: Any) -> tuple[Any, Any]:
    from gpudoctor.probes.live.watcher import LineRecorder
    from gpudoctor.probes.live.watcher import Watch
    from gpudoctor.probes.live.watcher import WatchOptions
    from gpudoctor.probes.live.watcher import start_command
    from gpudoctor.report.text import plain_output

    options = WatchOptions(
        interval=request.interval,
        duration=request.duration,
        log=request.log,
        thresholds=dict(request.thresholds),
        stop_on_hang=request.stop_on_hang,
        nvml_module=request.nvml_module,
        command_text=" ".join(request.argv) if request.argv else f"--pid {request.pid}",
        py_spy=request.py_spy,
    )
    ui = request.ui if request.ui is not None else not plain_output(err)
    inner, say, close = _live_printer(err, ui)
    listener = LiveFindings(say, inner, request.command)
    import contextlib

    child = None
    with contextlib.ExitStack() as stack:
        stack.callback(close)
        recorder = None
        if request.record:
            handle = stack.enter_context(open(request.record, "w", encoding="utf-8"))
            recorder = LineRecorder(handle, redactor.value)
        if request.argv:
            child = start_command(request.argv)
            pid = child.pid
        else:
            assert request.pid is not None
            pid = request.pid
        watch = Watch(pid, options, child=child, record=recorder, listener=listener)
        timeline = watch.run()
        listener.report(timeline)
    if request.record:
        err.write(
            f"gpudoctor: timeline recorded to {request.record}; re-analyse it with "
            f"gpudoctor watch --replay {request.record}\n"
        )
    end = timeline.end
    if end is not None:
        err.write(
            f"gpudoctor: stopped watching ({end.reason}"
            + (f", exit code {end.exit_code}" if end.exit_code is not None else "")
            + f") after {end.t:.1f} s\n"
        )
    return timeline, child


def _parse_thresholds(values: tuple[str, ...]) -> dict[str, float]:
    result: dict[str, float] = {}
    for item in values:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in DEFAULT_THRESHOLDS:
            known = ", ".join(sorted(DEFAULT_THRESHOLDS))
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE with NAME one of {known}")
        try:
            result[name] = float(value)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {value!r} is not a number") from None
    return result


@click.command(
    "watch",
    context_settings={"allow_interspersed_args": False},
)
@click.option(
    "--pid",
    type=click.IntRange(min=1),
    default=None,
    help="Attach to this training process (its workers are found automatically).",
)
@path_option(
    "--log",
    metavar="PATH",
    help="Follow the training's log: step rate, evaluation phases, progress.",
)
@float_option("--interval", min=0.05, max=3600, default=1.0, help="Time between samples.")
@float_option("--duration", min=0.1, help="Stop watching after this long (the run goes on).")
@float_option(
    "--hang-after",
    min=0.1,
    help="No progress this long is a hang (default: derived from the run's rhythm, at least 60 s).",
)
@float_option(
    "--low-util",
    min=0,
    max=100,
    metavar="PERCENT",
    help="Mean GPU utilisation below this is input-bound (default 40).",
)
@float_option(
    "--creep-mb",
    min=1,
    metavar="MIB",
    help="Steady RSS growth that counts as memory creep (default 256).",
)
@float_option("--warmup", min=0, help="Seconds at the start ignored for trends (default 30).")
@click.option(
    "--threshold",
    "threshold_items",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any other threshold, e.g. --threshold vram_full=0.9 (see 'gpudoctor explain GD851'...).",
)
@click.option(
    "--stop-on-hang/--keep-on-hang",
    default=None,
    help="Stop watching once a hang is reported (default: stop when attached by "
    "--pid, keep watching a started command).",
)
@path_option("--record", help="Write the timeline as JSON lines (redacted) for --replay.")
@replay_option("Re-analyse a recorded timeline instead of watching.")
@click.option("--no-ui", is_flag=True, help="Plain lines instead of the live table.")
@format_option("text", "json", "markdown", help="Format of the report at the end.")
@path_option("-o", "--output", metavar=None, help="Write the end report to FILE.")
@path_option("--chart", help="Also draw the run as PNG or SVG (PNG needs matplotlib).")
@no_redact_option("Keep user, host and home names in the report and timeline.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def watch_command(
    pid: int | None,
    log: str | None,
    interval: float,
    duration: float | None,
    hang_after: float | None,
    low_util: float | None,
    creep_mb: float | None,
    warmup: float | None,
    threshold_items: tuple[str, ...],
    stop_on_hang: bool | None,
    record: str | None,
    replay: str | None,
    no_ui: bool,
    fmt: str,
    output: str | None,
    chart: str | None,
    no_redact: bool,
    command: tuple[str, ...],
) -> None:
    """Watch a training run live and tell why it is slow, stuck or about to run out of memory.

    \b
    Examples:
      gpudoctor watch -- python train.py        start it and watch it
      gpudoctor watch --pid 12345 --log run.log attach to a running training
      gpudoctor watch --pid 12345 --record t.jsonl   keep the timeline
      gpudoctor watch --replay t.jsonl -f markdown   re-analyse it later

    A started command keeps its terminal, signals and exit code; gpudoctor exits with the
    command's exit code. Attached by --pid, the run is never touched (py-spy only reads
    its stacks when it hangs); the exit code is 1 when problems were found.
    """
    from gpudoctor.commands.options import command_line

    thresholds = _parse_thresholds(threshold_items)
    for name, value in (
        ("hang_after", hang_after),
        ("low_util", low_util),
        ("creep_mb", creep_mb),
        ("warmup_s", warmup),
    ):
        if value is not None:
            thresholds[name] = float(value)
    request = WatchRequest(
        pid=pid,
        argv=tuple(command),
        log=log,
        interval=interval,
        duration=duration,
        record=record,
        replay=replay,
        ui=False if no_ui else None,
        fmt=fmt.lower(),
        output=output,
        chart=chart,
        redact=not no_redact,
        thresholds=thresholds,
        stop_on_hang=stop_on_hang,
        command=command_line(),
    )
    sys.exit(run_watch(request))


def register(main: click.Group) -> None:
    main.add_command(watch_command)
