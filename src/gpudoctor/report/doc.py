"""The text report as a small tree of paragraphs and hanging items, before any layout.

The text renderer builds this tree once; a terminal gets it drawn by rich (colour, Unicode
marks, the terminal's own width), and plain output (pipes, files, CI logs, ``NO_COLOR``)
gets it laid out by :mod:`gpudoctor.report.plain_layout`, which writes the same bytes
rich would without importing it. Nothing here imports rich.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import NamedTuple
from typing import Union


class Span(NamedTuple):
    """A run of text in one style (a rich style name; plain output ignores it)."""

    text: str
    style: str = ""


class Para(NamedTuple):
    """A paragraph that wraps at its width; ``style`` applies to all of it, as rich's base style."""

    spans: tuple[Span, ...]
    style: str = ""

    @property
    def text(self) -> str:
        return "".join(span.text for span in self.spans)


class Item(NamedTuple):
    """``mark`` in a column at least ``mark_width`` wide, ``body`` hanging beside it."""

    mark: str
    body: Node
    style: str = ""
    mark_width: int = 0


class Stack(NamedTuple):
    """Nodes one under the other, as rich's ``Group``."""

    nodes: tuple[Node, ...]


class Blank(NamedTuple):
    """An empty line."""


class RichBlock(NamedTuple):
    """A block only rich can draw (a table of columns); plain layout hands the report to rich."""

    make: Callable[[], Any]


Node = Union[Para, Item, Stack]
Block = Union[Para, Item, Stack, Blank, RichBlock]


def para(text: str = "", style: str = "") -> Para:
    """A paragraph of one unstyled run of text, in ``style``."""
    return Para((Span(text),), style)


__all__ = ["Blank", "Block", "Item", "Node", "Para", "RichBlock", "Span", "Stack", "para"]
