"""``gpudoctor bench``: measure the data path instead of guessing at it."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from typing import Callable

import click

from gpudoctor.commands.options import float_option
from gpudoctor.commands.options import format_option
from gpudoctor.commands.options import path_option


def _parse_size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    number = cleaned.rstrip("KMGT")
    unit = cleaned[len(number) :]
    try:
        value = float(number) * units[unit]
    except (ValueError, KeyError):
        raise click.BadParameter(f"{text!r} is not a size like 512M or 2G") from None
    if not math.isfinite(value) or value <= 0 or value > 1 << 60:
        raise click.BadParameter(f"{text!r}: give a size from 1 byte to 1E (e.g. 512M, 4G)")
    return int(value)


def _parse_workers(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        counts = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list like 0,1,2,4") from None
    if not counts or counts[0] < 0:
        raise click.BadParameter("worker counts must be 0 or more")
    return counts


@contextmanager
def _progress(title: str) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar on an interactive stderr; silent otherwise."""
    from gpudoctor.report.text import plain_output

    if plain_output(sys.stderr):
        yield lambda _what, _fraction: None
        return
    from rich.console import Console
    from rich.progress import BarColumn
    from rich.progress import Progress
    from rich.progress import TextColumn
    from rich.progress import TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task(title, total=1.0, step="")

        def update(step: str, fraction: float) -> None:
            bar.update(task, completed=max(0.0, min(1.0, fraction)), step=step)

        yield update


def _emit(
    result: dict[str, Any],
    fmt: str,
    lines: Callable[..., list[str]],
    markdown: Callable[[dict[str, Any]], str],
) -> None:
    """Print ``result`` as JSON, Markdown or ``lines(result, plain=...)`` (plain where
    standard output is not a terminal)."""
    from gpudoctor.privacy import redact_data
    from gpudoctor.report.text import plain_output

    result.update(redact_data(result))  # at the edge: identities, secrets, control characters
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, allow_nan=False))
    elif fmt == "markdown":
        click.echo(markdown(result), nl=False)
    else:
        click.echo("\n".join(lines(result, plain=plain_output(sys.stdout))))


def chart_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--chart FILE``: also draw the results as a PNG or SVG bar chart (needs matplotlib)."""
    return path_option(
        "--chart", help="Also draw the results to FILE (.png or .svg; needs gpudoctor[chart])."
    )(func)


def _write_chart(
    path: str | None, title: str, x_label: str, series: list[Any], y_label: str
) -> None:
    if not path:
        return
    from gpudoctor.report.chart_file import write_chart

    if not series:
        click.echo(f"gpudoctor: no measurement to chart; {path} not written", err=True)
        return
    write_chart(
        path,
        title=title,
        x_label=x_label,
        categories=[str(x) for x, _ in series],
        y_label=y_label,
        values=[float(y) for _, y in series],
    )
    click.echo(f"gpudoctor: chart written to {path}", err=True)


@click.group("bench")
def bench_group() -> None:
    """Measure, don't guess: disk read speed, DataLoader throughput, GPU self-test.

    \b
    Examples:
      gpudoctor bench disk ~/data/train      how fast the dataset reads, cold
      gpudoctor bench loader                 DataLoader sweep on synthetic JPEGs
      gpudoctor bench loader --images ~/data/train
                                             ... on your own images
      gpudoctor bench loader --dataset mydata:make_train
                                             ... on your own Dataset
      gpudoctor bench gpu                    memory, matmul, copies, throttling
    """


@bench_group.command("disk")
@click.argument("path")
@float_option("--seconds", min=0.2, max=600, default=3.0, metavar=None, help="How long to read.")
@click.option(
    "--max-bytes",
    "max_bytes",
    default="1G",
    show_default=True,
    metavar="SIZE",
    help="Read at most this much (e.g. 512M, 4G).",
)
@format_option("text", "json", "markdown")
@chart_option
def disk_command(path: str, seconds: float, max_bytes: str, fmt: str, chart: str | None) -> None:
    """Read speed of a dataset folder as training reads it, with the page cache bypassed.

    Times front-to-back reads of large files (shards) and whole-file reads of small files
    (one image per sample) in random order, says what kind of storage holds the folder and
    what that means for training. Needs read permission only; writes nothing.

    \b
    Examples:
      gpudoctor bench disk /data/train
      gpudoctor bench disk /mnt/c/datasets/coco --seconds 10
                                             a Windows drive from WSL2
      gpudoctor bench disk ./shards --max-bytes 4G -f json
    """
    from gpudoctor.probes.bench.disk import bench_disk
    from gpudoctor.report.bench import disk_lines
    from gpudoctor.report.bench import disk_markdown
    from gpudoctor.report.bench import disk_series
    from gpudoctor.report.chart_file import check_chart_path

    budget = _parse_size(max_bytes)
    if chart:
        check_chart_path(chart)
    with _progress("reading") as progress:
        result = bench_disk(path, seconds=seconds, byte_budget=budget, progress=progress)
    _emit(result, fmt.lower(), disk_lines, disk_markdown)
    _write_chart(chart, "Disk read speed", "read pattern", disk_series(result), "MB/s")


@bench_group.command("loader")
@click.option(
    "--dataset",
    "dataset_spec",
    metavar="MODULE:FUNCTION",
    default=None,
    help="Your dataset: a function that returns a torch Dataset (imported from the current "
    "folder).",
)
@click.option(
    "--images",
    "images_dir",
    default=None,
    metavar="DIR",
    help="A folder of images, decoded and resized to 224x224 like a classification set.",
)
@click.option(
    "--worker-init",
    metavar="MODULE:FUNCTION",
    default=None,
    help="Your worker_init_fn, if the training loop uses one.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@float_option(
    "--seconds", min=0.2, max=120, default=1.5, metavar=None, help="Measuring time per setting."
)
@click.option(
    "--workers",
    metavar="N,N,...",
    default=None,
    help="Worker counts to try (default 0,1,2,4,... up to the usable CPUs).",
)
@click.option(
    "--start-method",
    type=click.Choice(["fork", "spawn", "forkserver"]),
    default=None,
    help="Worker start method (default: the platform's; Windows and macOS use spawn).",
)
@float_option(
    "--startup-timeout",
    min=0.5,
    max=600,
    default=15.0,
    help="A setting with no batch after this long counts as a hung worker start-up.",
)
@click.option(
    "--exhaustive", is_flag=True, help="Measure the whole grid instead of the smart search."
)
@float_option(
    "--target-rate",
    min=0,
    min_open=True,
    metavar="SAMPLES/S",
    help="Samples per second the training step consumes; below it the run is input-bound.",
)
@format_option("text", "json", "markdown")
@chart_option
def loader_command(
    dataset_spec: str | None,
    images_dir: str | None,
    worker_init: str | None,
    batch_size: int,
    seconds: float,
    workers: str | None,
    start_method: str | None,
    startup_timeout: float,
    exhaustive: bool,
    target_rate: float | None,
    fmt: str,
    chart: str | None,
) -> None:
    """Run the real torch DataLoader and recommend num_workers, prefetch, persistence.

    Runs in a separate process with a timeout. Reports samples/s, time to the first batch
    (worker start-up), gaps between batches (p50/p95/p99) and a stutter score, RAM per
    worker, and recommends the fewest workers within 5% of the best throughput. A worker
    start-up that never finishes is reported, not waited on. Exit code 1 when it hangs or
    no setting works.

    \b
    Examples:
      gpudoctor bench loader
      gpudoctor bench loader --images ~/data/train --batch-size 64
      gpudoctor bench loader --dataset train:build_dataset \\
          --worker-init train:seed_worker
      gpudoctor bench loader --start-method spawn -f markdown > loader.md
    """
    from gpudoctor.errors import BadInputError
    from gpudoctor.probes.bench.loader import LoaderBenchRequest
    from gpudoctor.probes.bench.loader import run_loader_bench
    from gpudoctor.report.bench import loader_lines
    from gpudoctor.report.bench import loader_markdown
    from gpudoctor.report.bench import loader_series
    from gpudoctor.report.chart_file import check_chart_path

    if chart:
        check_chart_path(chart)
    if dataset_spec and images_dir:
        raise BadInputError("give either --dataset or --images, not both")
    if dataset_spec:
        source: dict[str, Any] = {"kind": "factory", "spec": dataset_spec}
    elif images_dir:
        source = {"kind": "images", "dir": images_dir}
    else:
        source = {"kind": "synthetic"}
    request = LoaderBenchRequest(
        source=source,
        batch_size=batch_size,
        seconds=seconds,
        mode="exhaustive" if exhaustive else "smart",
        workers=_parse_workers(workers),
        start_method=start_method,
        startup_timeout=startup_timeout,
        worker_init=worker_init,
        target_samples_per_s=target_rate,
    )
    with _progress("DataLoader") as progress:
        result = run_loader_bench(request, progress=progress)
    _emit(result, fmt.lower(), loader_lines, loader_markdown)
    _write_chart(
        chart,
        "DataLoader throughput (best setting per worker count)",
        "num_workers",
        loader_series(result),
        "samples/s",
    )
    sys.exit(1 if result.get("hang") or not result.get("recommended") else 0)


@bench_group.command("gpu")
@click.option("--device", type=click.IntRange(min=0), default=0, show_default=True)
@float_option(
    "--timeout",
    min=5,
    max=600,
    default=90.0,
    help="Give up on a GPU that stops answering after this long.",
)
@format_option("text", "json")
def gpu_command(device: int, timeout: float, fmt: str) -> None:
    """Self-test the GPU in under a minute: memory, matmul, copy bandwidth, throttling.

    Fills most of the free GPU memory in chunks and reads it back, checks matmul results
    against the CPU, times pinned and pageable host<->device copies against what the PCIe
    link should carry, and records throttle reasons under load. Skipped (exit 0) without
    CUDA; exit 1 when a test fails or warns.

    \b
    Examples:
      gpudoctor bench gpu
      gpudoctor bench gpu --device 1 -f json
    """
    from gpudoctor.probes.bench.gpu import run_gpu_bench
    from gpudoctor.report.bench import gpu_lines

    with _progress("GPU self-test") as progress:
        progress("running", 0.1)
        result = run_gpu_bench(timeout=timeout, device=device)
    from gpudoctor.privacy import redact_data

    result = redact_data(result)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        click.echo("\n".join(gpu_lines(result)))
    sys.exit(1 if result.get("status") in ("fail", "warn") else 0)
