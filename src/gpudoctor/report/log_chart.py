"""The picture of a run: iteration time over steps, stalls marked.

Three spellings of the same series (the ``timing.chart`` of a ``run_log`` file, already
bounded to a few hundred points, each the slowest window of its bucket): a terminal chart,
a Mermaid ``xychart-beta`` block for Markdown, and a standalone SVG. PNG goes through
matplotlib when it is installed.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

#: Columns and rows of the terminal chart.
WIDTH, HEIGHT = 64, 8
#: Points in the Mermaid chart (its renderer gets slow and crowded beyond this).
MERMAID_POINTS = 60


Series = tuple[list[int], list[float], list[float]]


def _buckets(steps: list[int], highs: list[float], lows: list[float], count: int) -> Series:
    """At most ``count`` points: the slowest and the fastest window of each bucket."""
    if len(highs) <= count:
        return list(steps), list(highs), list(lows)
    out_steps, out_highs, out_lows = [], [], []
    size = len(highs) / count
    for i in range(count):
        lo, hi = int(i * size), min(max(int((i + 1) * size), int(i * size) + 1), len(highs))
        j = max(range(lo, hi), key=highs.__getitem__)
        out_steps.append(steps[j])
        out_highs.append(highs[j])
        out_lows.append(min(lows[lo:hi]))
    return out_steps, out_highs, out_lows


def chart_series(item: Any) -> tuple[list[int], list[float], list[float], float, float] | None:
    """(steps, slowest, fastest, median, stall threshold) of one file, or None."""
    timing = (item.get("run") or {}).get("timing")
    if not timing or len(timing["chart"]["value_s"]) < 2:
        return None
    chart = timing["chart"]
    lows = list(chart.get("low_s") or chart["value_s"])
    return (
        list(chart["step"]),
        list(chart["value_s"]),
        lows,
        timing["median_s"],
        timing["threshold_s"],
    )


def text_chart(item: Any, *, plain: bool) -> list[str]:
    """Bars at the usual speed of each bucket, ``!`` at the height of its worst stall."""
    series = chart_series(item)
    if series is None:
        return []
    steps, highs, lows, centre, limit = _unpack(series, WIDTH)
    top = max(highs)
    blocks = " .:-=+*#" if plain else " ▁▂▃▄▅▆▇█"
    full = "#" if plain else "█"
    rows = []
    for row in range(HEIGHT, 0, -1):
        line = []
        for high, low in zip(highs, lows):
            level = low / top * HEIGHT if top > 0 else 0
            peak = high / top * HEIGHT if top > 0 else 0
            if high > limit and row - 1 < peak <= row and peak > level + 0.5:
                line.append("!")
            elif level >= row:
                line.append(full)
            elif level > row - 1:
                line.append(blocks[int((level - (row - 1)) * (len(blocks) - 1))])
            else:
                line.append(" ")
        label = f"{top * row / HEIGHT:8.3f} s |" if row in (HEIGHT, 1) else " " * 9 + " |"
        rows.append(label + "".join(line))
    half = max(len(highs) // 2, 1)
    rows.append(" " * 10 + "+" + "-" * len(highs))
    rows.append(f"{'':11}{steps[0]:<{half},}{steps[-1]:>{len(highs) - half},}")
    stalls = sum(1 for v in highs if v > limit)
    rows.append(
        f"{'':11}bars: usual seconds per iteration (median {centre:.3f} s); "
        f"!: a stall above {limit:.3f} s ({stalls} of {len(highs)} columns)"
    )
    return rows


def _unpack(series: Any, count: int) -> tuple[list[int], list[float], list[float], float, float]:
    steps, highs, lows, centre, limit = series
    steps, highs, lows = _buckets(steps, highs, lows, count)
    return steps, highs, lows, centre, limit


def mermaid_chart(item: Any) -> str:
    """A Mermaid xychart-beta block: usual speed as bars, the slowest window as a line."""
    series = chart_series(item)
    if series is None:
        return ""
    steps, values, lows, _centre, _limit = _unpack(series, MERMAID_POINTS)
    labels = ", ".join(f'"{s}"' for s in steps)
    bars = ", ".join(f"{v:.4g}" for v in lows)
    line = ", ".join(f"{v:.4g}" for v in values)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'    title "{item["name"]}: s/it, bars usual, line slowest (stalls)"',
            f"    x-axis [{labels}]",
            '    y-axis "s/it"',
            f"    bar [{bars}]",
            f"    line [{line}]",
            "```",
        ]
    )


def svg_chart(item: Any, width: int = 900, height: int = 320) -> str:
    """A self-contained SVG line chart with stalls as red dots."""
    series = chart_series(item)
    if series is None:
        return ""
    steps, values, _lows, centre, limit = series
    left, bottom, top_pad, right = 60, 40, 30, 20
    x0, x1 = steps[0], steps[-1] if steps[-1] > steps[0] else steps[0] + 1
    y1 = max(values) * 1.05 or 1.0

    def px(step: float) -> float:
        return left + (step - x0) / (x1 - x0) * (width - left - right)

    def py(value: float) -> float:
        return height - bottom - value / y1 * (height - bottom - top_pad)

    points = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in zip(steps, values))
    dots = "".join(
        f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="3" fill="#d62728"/>'
        for s, v in zip(steps, values)
        if v > limit
    )
    title = escape(f"{item['name']}: seconds per iteration; red = stall (> {limit:.3f} s)")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{left}" y="18">{title}</text>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        f'stroke="black"/><line x1="{left}" y1="{top_pad}" x2="{left}" y2="{height - bottom}" '
        f'stroke="black"/>'
        f'<line x1="{left}" y1="{py(centre):.1f}" x2="{width - right}" y2="{py(centre):.1f}" '
        f'stroke="#888" stroke-dasharray="4 3"/>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/>{dots}'
        f'<text x="{left}" y="{height - 12}">{x0:,}</text>'
        f'<text x="{width - right}" y="{height - 12}" text-anchor="end">{x1:,} (step)</text>'
        f'<text x="4" y="{top_pad + 4}">{y1:.3g} s</text><text x="4" y="{height - bottom}">0 s'
        f"</text></svg>\n"
    )


def png_chart(item: Any, path: str) -> None:
    """Write a PNG with matplotlib (an optional extra); ImportError if it is missing."""
    import matplotlib  # type: ignore[import-not-found,unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]

    series = chart_series(item)
    if series is None:
        return
    steps, values, _lows, centre, limit = series
    fig, ax = plt.subplots(figsize=(10, 3.5))
    ax.plot(steps, values, linewidth=1)
    stall_steps = [s for s, v in zip(steps, values) if v > limit]
    stall_values = [v for v in values if v > limit]
    if stall_steps:
        ax.scatter(stall_steps, stall_values, color="red", s=12, label="stall", zorder=3)
        ax.legend()
    ax.axhline(centre, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("seconds per iteration")
    ax.set_title(item["name"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
