"""Bench charts as PNG or SVG files (``--chart FILE``), drawn with matplotlib if installed.

matplotlib is the optional extra ``chart``: without it, asking for a chart is a one-line
error before any measuring starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gpudoctor.errors import BadInputError

SUFFIXES = (".png", ".svg")


def check_chart_path(path: str) -> None:
    """Refuse early what cannot become a chart: a wrong suffix, or no matplotlib."""
    if Path(path).suffix.lower() not in SUFFIXES:
        raise BadInputError(f"--chart {path}: name a .png or .svg file")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise BadInputError("--chart needs matplotlib: pip install 'gpudoctor[chart]'") from None


def write_chart(
    path: str,
    *,
    title: str,
    x_label: str,
    categories: Sequence[str],
    y_label: str,
    values: Sequence[float],
) -> None:
    """A bar chart of ``values`` over ``categories``, written atomically to ``path``."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from gpudoctor.files import atomic_write_bytes

    check_chart_path(path)
    figure, axes = pyplot.subplots(figsize=(6.4, 3.6), dpi=120)
    try:
        axes.bar(list(categories), list(values), color="#3b7dd8")
        axes.set_title(title)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.grid(axis="y", alpha=0.3)
        for index, value in enumerate(values):
            axes.annotate(f"{value:,.0f}", (index, value), ha="center", va="bottom", fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format=Path(path).suffix.lower().lstrip("."))
    finally:
        pyplot.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
