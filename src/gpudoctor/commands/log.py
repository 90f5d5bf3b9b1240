"""``gpudoctor log``: read training logs and crash output offline and explain the run."""

from __future__ import annotations

import os
import sys
from typing import Any
from typing import TextIO

import click

from gpudoctor.commands.options import command_line
from gpudoctor.commands.options import config_option
from gpudoctor.commands.options import float_option
from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import no_redact_option
from gpudoctor.commands.options import output_option
from gpudoctor.commands.options import path_option
from gpudoctor.commands.options import strict_option
from gpudoctor.commands.options import verbose_option
from gpudoctor.commands.options import write_document

#: Files a folder is searched for (mmengine work_dirs, detectron2 output, YOLO runs ...).
LOG_NAMES = (
    ".log",
    ".log.json",
    "scalars.json",
    "metrics.json",
    "log.txt",
    "results.csv",
    "metrics.csv",
    "trainer_state.json",
    ".out",
    ".err",
)
#: TensorBoard names its files events.out.tfevents.<time>.<host>...
LOG_MARKERS = ("tfevents",)
MAX_FOLDER_FILES = 20


def expand(paths: tuple[str, ...]) -> list[str]:
    """Files as given; folders searched (three levels) for files that look like logs."""
    found: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            found.append(path)
            continue
        hits = []
        base_depth = path.rstrip(os.sep).count(os.sep)
        for root, dirs, files in os.walk(path):
            if root.count(os.sep) - base_depth >= 3:
                dirs[:] = []
            dirs.sort()
            for name in sorted(files):
                plain = name[:-3] if name.endswith(".gz") else name
                if plain.endswith(LOG_NAMES) or any(m in name for m in LOG_MARKERS):
                    hits.append(os.path.join(root, name))
        if not hits:
            from gpudoctor.errors import BadInputError

            raise BadInputError(f"{path}: no log files found in this folder")
        found.extend(hits[:MAX_FOLDER_FILES])
    return found


def build_log_report(
    paths: list[str], *, configs: tuple[str, ...] = (), budget: float, command: str
) -> Any:
    """Read the logs and run the GD8 checks; raises BadInputError if nothing was understood."""
    from gpudoctor.errors import BadInputError
    from gpudoctor.facts.model import Facts
    from gpudoctor.readers.logs import read_logs
    from gpudoctor.registry import load_registry
    from gpudoctor.runner import Report
    from gpudoctor.runner import run_checks

    section = read_logs(paths, configs=configs, budget=budget)
    files = section["files"]
    if not any(f["understood"] for f in files):
        reasons = "; ".join(f"{f['path']}: {f['reason']}" for f in files)
        raise BadInputError(f"no log understood: {reasons}")
    facts = Facts({"run_log": section})
    registry = load_registry(plugins=False)
    specs = [s for s in registry.select(["GD8"]) if "watch" not in s.tags]  # GD85x: watch
    findings = run_checks(facts, specs)
    return Report(facts=facts, findings=findings, command=command)


def _write_chart(report: Any, path: str) -> str:
    from gpudoctor.errors import BadInputError
    from gpudoctor.files import atomic_write_bytes
    from gpudoctor.files import atomic_write_text
    from gpudoctor.report.log_chart import chart_series
    from gpudoctor.report.log_chart import png_chart
    from gpudoctor.report.log_chart import svg_chart

    items = [f for f in report.facts["run_log"]["files"] if f.get("understood")]
    item = next((f for f in items if chart_series(f) is not None), None)
    if item is None:
        raise BadInputError("--chart: no file with iteration times to draw")
    lower = path.lower()
    if lower.endswith(".svg"):
        atomic_write_text(path, svg_chart(item))
    elif lower.endswith(".png"):
        import tempfile

        try:
            with tempfile.TemporaryDirectory() as folder:
                scratch = os.path.join(folder, "chart.png")
                png_chart(item, scratch)
                with open(scratch, "rb") as handle:
                    atomic_write_bytes(path, handle.read())
        except ImportError:
            raise BadInputError(
                "--chart PNG needs matplotlib (pip install 'gpudoctor[chart]'); "
                "an .svg chart needs nothing"
            ) from None
    else:
        raise BadInputError("--chart: the file name must end in .png or .svg")
    return str(item["name"])


def _render(
    report: Any, fmt: str, stream: Any, *, plain: bool, verbose: bool, strict: bool, redact: bool
) -> None:
    from gpudoctor.report.log_chart import mermaid_chart
    from gpudoctor.report.log_chart import text_chart
    from gpudoctor.session import CheckRequest
    from gpudoctor.session import render

    request = CheckRequest(fmt=fmt, verbose=verbose, strict=strict, redact=redact)
    render(report, request, stream, plain=plain)
    files = [f for f in report.facts["run_log"]["files"] if f.get("understood")]
    if fmt == "text":
        for item in files:
            rows = text_chart(item, plain=plain)
            if rows:
                stream.write(f"\n{item['name']}: iteration time\n" + "\n".join(rows) + "\n")
    elif fmt == "markdown":
        charts = [mermaid_chart(item) for item in files]
        charts = [c for c in charts if c]
        if charts:
            stream.write("\n### Iteration time\n\n" + "\n\n".join(charts) + "\n")


@click.command("log")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@format_option(
    "text", "json", "markdown", help="Output format; json follows schemas/report.schema.json."
)
@output_option("Write the report to FILE instead of standard output.")
@path_option(
    "--chart", help="Also draw iteration time over steps to FILE (.svg, or .png with matplotlib)."
)
@config_option("Training config that states checkpoint/eval intervals.")
@float_option("--budget", min=1, max=3600, default=120.0, help="Time all files together may take.")
@verbose_option("Show evidence for passing checks too.")
@strict_option()
@no_redact_option()
def log_command(
    paths: tuple[str, ...],
    fmt: str,
    output: str | None,
    chart: str | None,
    configs: tuple[str, ...],
    budget: float,
    verbose: bool,
    strict: bool,
    no_redact: bool,
) -> None:
    """Read training logs and crash output (offline) and explain the run.

    Formats are recognised from the content: mmengine/mmcv text logs and scalars.json,
    mmcv *.log.json, detectron2 metrics.json, DETR log.txt, ultralytics results.csv,
    Lightning metrics.csv, Hugging Face trainer_state.json, TensorBoard event files (scalars),
    and console output (tqdm bars, tracebacks, NCCL and kernel lines); .gz too. A folder is
    searched for such files.

    \b
    Examples:
      gpudoctor log work_dirs/my_run/20240305_101112.log
      gpudoctor log train.log --config configs/my_config.py --chart stalls.svg
      gpudoctor log slurm-1234.out -f markdown -o run.md
    """
    from gpudoctor.files import check_writable

    fmt = fmt.lower()
    if output:
        check_writable(output)
    if chart:
        check_writable(chart)
    report = build_log_report(expand(paths), configs=configs, budget=budget, command=command_line())
    if chart:
        name = _write_chart(report, chart)
        click.echo(f"gpudoctor: chart of {name} written to {chart}", err=True)

    def draw(stream: TextIO, plain: bool) -> None:
        _render(
            report, fmt, stream, plain=plain, verbose=verbose, strict=strict, redact=not no_redact
        )

    write_document(output, draw, what="report", verdict=report.verdict)
    sys.exit(report.exit_code(strict))
