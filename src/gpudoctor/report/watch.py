"""Rendering for ``gpudoctor watch``: the live view, plain lines, and charts of the run.

Charts show GPU utilisation, training steps per second and memory over time: as sparklines
in the terminal, as a Mermaid ``xychart-beta`` in Markdown (GitHub renders it), and as PNG
or SVG with ``--chart`` (matplotlib when installed; SVG is also written without it).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import IO
from typing import Any

from gpudoctor.probes.live.timeline import Sample
from gpudoctor.probes.live.timeline import Timeline
from gpudoctor.units import GiB

BARS = "▁▂▃▄▅▆▇█"
ASCII_BARS = "_.-=+*#@"
CHART_POINTS = 60


def downsample(values: Sequence[float | None], points: int = CHART_POINTS) -> list[float | None]:
    """Average ``values`` into at most ``points`` buckets (gaps stay gaps)."""
    if len(values) <= points:
        return list(values)
    out: list[float | None] = []
    for b in range(points):
        lo, hi = b * len(values) // points, (b + 1) * len(values) // points
        bucket = [v for v in values[lo:hi] if v is not None]
        out.append(sum(bucket) / len(bucket) if bucket else None)
    return out


def sparkline(
    values: Sequence[float | None], *, top: float | None = None, ascii_only: bool = False
) -> str:
    bars = ASCII_BARS if ascii_only else BARS
    known = [v for v in values if v is not None]
    if not known:
        return ""
    high = top if top else max(known) or 1.0
    chars = []
    for v in values:
        if v is None:
            chars.append(" ")
            continue
        level = int(min(max(v / high, 0.0), 1.0) * (len(bars) - 1) + 0.5)
        chars.append(bars[level])
    return "".join(chars)


def chart_series(watch: Mapping[str, Any]) -> dict[str, list[float | None]]:
    """The charted series: GPU util (%), steps/s, and memory (GiB: GPU used, process tree)."""
    series = watch.get("series") or {}
    t = list(series.get("t") or ())
    interval = float(watch.get("interval") or 1.0)
    steps = [None if s is None else s / interval for s in series.get("steps") or ()]
    return {
        "t": [float(x) for x in t],
        "gpu_util": list(series.get("gpu_util") or ()),
        "steps_per_s": steps,
        "gpu_mem_gib": [None if v is None else v / GiB for v in series.get("gpu_mem_used") or ()],
        "rss_gib": [None if v is None else v / GiB for v in series.get("tree_rss") or ()],
    }


_LABELS = {
    "gpu_util": ("GPU util %", 100.0),
    "steps_per_s": ("steps/s", None),
    "gpu_mem_gib": ("GPU mem GiB", None),
    "rss_gib": ("RSS GiB", None),
}


def text_chart(watch: Mapping[str, Any], *, ascii_only: bool = False) -> list[str]:
    """Sparkline rows with their range, for the text summary."""
    data = chart_series(watch)
    t = data["t"]
    if not t:
        return ["(no samples)"]
    lines = [f"Timeline t=0-{t[-1]:.0f} s, {len(t)} samples:"]
    for key, (label, top) in _LABELS.items():
        values = data[key]
        known = [v for v in values if v is not None]
        if not known:
            lines.append(f"  {label:<12} (not measured)")
            continue
        spark = sparkline(downsample(values), top=top, ascii_only=ascii_only)
        lines.append(f"  {label:<12} {spark}  min {min(known):.1f} max {max(known):.1f}")
    return lines


def mermaid_chart(watch: Mapping[str, Any]) -> str:
    """A Mermaid xychart-beta (one chart per measured series; GitHub renders Mermaid)."""
    data = chart_series(watch)
    t = downsample(data["t"])
    blocks = []
    for key, (label, top) in _LABELS.items():
        values = downsample(data[key])
        known = [v for v in values if v is not None]
        if not known:
            continue
        filled = [round(v if v is not None else 0.0, 2) for v in values]
        high = top if top else max(known) * 1.1 or 1.0
        ticks = ", ".join(f'"{x:.0f}"' for x in t if x is not None)
        blocks.append(
            "\n".join(
                [
                    "```mermaid",
                    "xychart-beta",
                    f'    title "{label} over time (s)"',
                    f"    x-axis [{ticks}]",
                    f'    y-axis "{label}" 0 --> {high:.4g}',
                    f"    line [{', '.join(str(v) for v in filled)}]",
                    "```",
                ]
            )
        )
    return "\n\n".join(blocks)


def write_chart(watch: Mapping[str, Any], path: str) -> str:
    """PNG or SVG of the run; returns what was written (or raises BadInputError)."""
    from gpudoctor.errors import BadInputError
    from gpudoctor.files import atomic_write_bytes

    lowered = path.lower()
    if not lowered.endswith((".png", ".svg")):
        raise BadInputError(f"--chart {path}: the file name must end in .png or .svg")
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        if lowered.endswith(".png"):
            raise BadInputError(
                "--chart PNG needs matplotlib (pip install 'gpudoctor[watch]'); "
                "an .svg file works without it"
            ) from None
        atomic_write_bytes(path, svg_chart(watch).encode("utf-8"))
        return path
    import io

    data = chart_series(watch)
    panels = [k for k in _LABELS if any(v is not None for v in data[k])]
    fig, axes = plt.subplots(
        max(1, len(panels)), 1, figsize=(9, 2.2 * max(1, len(panels))), sharex=True
    )
    axes_list = list(axes) if len(panels) > 1 else [axes]
    for ax, key in zip(axes_list, panels):
        ax.plot(data["t"], [float("nan") if v is None else v for v in data[key]])
        ax.set_ylabel(_LABELS[key][0])
        ax.grid(alpha=0.3)
    axes_list[-1].set_xlabel("seconds")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png" if lowered.endswith(".png") else "svg")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def svg_chart(watch: Mapping[str, Any]) -> str:
    """A dependency-free SVG: one polyline panel per measured series."""
    data = chart_series(watch)
    t = [float(x or 0.0) for x in data["t"]]
    width, panel_h, pad = 720, 120, 40
    panels = [k for k in _LABELS if any(v is not None for v in data[k])]
    height = max(1, len(panels)) * (panel_h + pad) + pad
    span = (t[-1] - t[0]) if len(t) > 1 else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">'
    ]
    for row, key in enumerate(panels):
        label, top = _LABELS[key]
        values = data[key]
        known = [v for v in values if v is not None]
        high = top if top else (max(known) or 1.0)
        y0 = pad + row * (panel_h + pad)
        parts.append(f'<text x="4" y="{y0 - 6}">{label} (max {max(known):.1f})</text>')
        parts.append(
            f'<rect x="{pad}" y="{y0}" width="{width - 2 * pad}" height="{panel_h}" '
            'fill="none" stroke="#ccc"/>'
        )
        points = " ".join(
            f"{pad + (x - t[0]) / span * (width - 2 * pad):.1f},"
            f"{y0 + panel_h - min(v / high, 1.0) * panel_h:.1f}"
            for x, v in zip(t, values)
            if v is not None
        )
        parts.append(f'<polyline fill="none" stroke="#1f77b4" points="{points}"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# -- live ---------------------------------------------------------------------------------


def _fmt_gib(value: float | None) -> str:
    return "-" if value is None else f"{value / GiB:.1f}G"


def plain_line(sample: Sample) -> str:
    """One line per tick for --no-ui, pipes and NO_COLOR."""
    main = next((p for p in sample.procs if p.role == "main"), None)
    workers = [p for p in sample.procs if p.role == "worker"]
    parts = [f"t={sample.t:7.1f}s"]
    for g in sample.gpus:
        util = "-" if g.util is None else f"{g.util:.0f}%"
        parts.append(f"gpu{g.index} {util} mem {_fmt_gib(g.mem_used)}/{_fmt_gib(g.mem_total)}")
    if main is not None:
        parts.append(f"main {main.cpu:.0f}% {main.status} rss {_fmt_gib(main.rss)}")
    if workers:
        parts.append(f"workers {len(workers)} cpu {sum(w.cpu for w in workers):.0f}%")
    if sample.steps is not None:
        parts.append(f"steps +{sample.steps}")
    if sample.host.mem_available is not None:
        parts.append(f"host free {_fmt_gib(sample.host.mem_available)}")
    if sample.watcher_cpu is not None:
        parts.append(f"gpudoctor {sample.watcher_cpu:.1f}%")
    return "  ".join(parts)


class LiveView:
    """A compact rich table with sparklines, redrawn each tick on standard error."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream)
        # No refresh thread: a thread started here would not block the signals that the
        # watcher forwards to a started command, so it is redrawn on each tick instead.
        self.live = Live(console=self.console, auto_refresh=False, transient=False)
        self.live.start()

    def print(self, text: str) -> None:
        """A line above the live table (new findings)."""
        self.console.print(text, markup=False, highlight=False)

    def update(self, timeline: Timeline, sample: Sample) -> None:
        from rich.table import Table

        recent = timeline.samples[-CHART_POINTS:]
        table = Table(title=f"gpudoctor watch  t={sample.t:.0f}s", expand=False)
        for col in ("", "now", "last minute"):
            table.add_column(col)
        for g in sample.gpus:
            hist = [next((x.util for x in s.gpus if x.index == g.index), None) for s in recent]
            util = "-" if g.util is None else f"{g.util:.0f}%"
            table.add_row(f"GPU {g.index} util", util, sparkline(hist, top=100))
            table.add_row(
                f"GPU {g.index} mem", f"{_fmt_gib(g.mem_used)}/{_fmt_gib(g.mem_total)}", ""
            )
        main_hist = [next((p.cpu for p in s.procs if p.role == "main"), None) for s in recent]
        main = next((p for p in sample.procs if p.role == "main"), None)
        if main is not None:
            table.add_row(
                "main CPU", f"{main.cpu:.0f}% {main.status}", sparkline(main_hist, top=100)
            )
            table.add_row(
                "main RSS",
                _fmt_gib(main.rss),
                sparkline(
                    [next((p.rss for p in s.procs if p.role == "main"), None) for s in recent]
                ),
            )
        workers = [p for p in sample.procs if p.role == "worker"]
        if workers:
            table.add_row(
                f"{len(workers)} workers CPU",
                f"{sum(w.cpu for w in workers):.0f}%",
                sparkline([sum(p.cpu for p in s.procs if p.role == "worker") for s in recent]),
            )
        if sample.steps is not None:
            table.add_row("steps/tick", str(sample.steps), sparkline([s.steps for s in recent]))
        if sample.host.mem_available is not None:
            table.add_row("host RAM free", _fmt_gib(sample.host.mem_available), "")
        if sample.watcher_cpu is not None:
            table.add_row("gpudoctor CPU", f"{sample.watcher_cpu:.1f}%", "")
        self.live.update(table, refresh=True)

    def close(self) -> None:
        self.live.stop()
        if not self.console.is_terminal:
            self.console.print()
