"""Plain text layout of a report tree: the bytes rich writes, without importing rich.

Piped, redirected and ``NO_COLOR`` output has no colour and no terminal to ask for its
width, so drawing it needs only word wrapping and hanging indents. Importing rich and
rendering through it cost ``gpudoctor check`` about a fifth of its run time; this module
does the same layout in a few hundred microseconds.

It follows rich's rules (``rich._wrap.divide_line``, ``Text.wrap``, ``Padding`` and the
two-column grid of :class:`gpudoctor.report.text.Hanging`) for text whose every character
takes one terminal cell. Anything else (wide or combining characters, tabs, control
characters, a width too narrow for a mark, a table) makes :func:`layout` return None, and
the caller draws the report with rich. ``tests/test_plain_layout.py`` compares the two on
every recorded machine and on generated text.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpudoctor.lazy_regex import lazy_compile
from gpudoctor.report.doc import Blank
from gpudoctor.report.doc import Block
from gpudoctor.report.doc import Item
from gpudoctor.report.doc import Node
from gpudoctor.report.doc import Para
from gpudoctor.report.doc import Stack

#: Characters one cell wide whose wrapping this module reproduces: printable ASCII and the
#: printable Latin-1 supplement (no-break and soft hyphens left out), and the line break.
ONE_CELL = frozenset(
    [chr(c) for c in range(0x20, 0x7F)] + [chr(c) for c in range(0xA1, 0x100) if c != 0xAD] + ["\n"]
)

#: A word and the blanks after it (leading blanks belong to a line's first word), as rich
#: splits a line into words.
_WORD = lazy_compile(r"\s*\S+\s*")


class _NeedsRich(Exception):
    """Raised inside the layout when rich has to draw the report instead."""


def layout(blocks: Sequence[Block], width: int) -> str | None:
    """``blocks`` laid out at ``width`` columns, each line ending in a newline; None where
    only rich can draw them."""
    lines: list[str] = []
    try:
        for block in blocks:
            if isinstance(block, Blank):
                lines.append("")
            elif isinstance(block, (Para, Item, Stack)):
                lines.extend(_node(block, width))
            else:
                raise _NeedsRich
    except _NeedsRich:
        return None
    return "".join(line.rstrip(" ") + "\n" for line in lines)


def _node(node: Node, width: int) -> list[str]:
    if isinstance(node, Para):
        return _paragraph(node.text, width)
    if isinstance(node, Stack):
        return [line for child in node.nodes for line in _node(child, width)]
    return _item(node, width)


def _item(item: Item, width: int) -> list[str]:
    """The mark padded to its column, the body wrapped beside it and hanging under it."""
    mark = item.mark
    if not ONE_CELL.issuperset(mark) or "\n" in mark:
        raise _NeedsRich
    column = max(len(mark), item.mark_width) + 1
    if width - column < 1 or _measures_nothing(item.body):
        # rich shares out a width this narrow in its own way, and gives a body with no
        # text a column one cell wide, which it then finds too narrow when nested.
        raise _NeedsRich
    lines = _node(item.body, width - column)  # never empty: an empty body went to rich
    indent = " " * column
    return [mark.ljust(column) + lines[0], *(indent + line for line in lines[1:])]


def _measures_nothing(node: Node) -> bool:
    """True where rich measures ``node`` as zero cells wide (nothing but line breaks)."""
    if isinstance(node, Para):
        return not node.text.replace("\n", "")
    if isinstance(node, Stack):
        return all(map(_measures_nothing, node.nodes))
    return False


def _paragraph(text: str, width: int) -> list[str]:
    if not ONE_CELL.issuperset(text):
        raise _NeedsRich
    lines: list[str] = []
    for line in text.split("\n"):
        lines.extend(wrap(line, width))
    return lines


def wrap(line: str, width: int) -> list[str]:
    """One line of text folded at ``width``: at blanks where it can, inside a word where
    the word is longer than a line (``Text.wrap`` with overflow "fold")."""
    if len(line) <= width:
        return [line]  # nothing to break (every word fits where it stands)
    pieces = []
    starts = [0, *divide(line, width), len(line)]
    for start, end in zip(starts, starts[1:]):
        piece = line[start:end]
        if len(piece) > width:
            # Blanks past the width go first (rich's ``rstrip_end``), then what still
            # overflows is cut (``truncate``).
            blanks = len(piece) - len(piece.rstrip())
            piece = piece[: len(piece) - min(blanks, len(piece) - width)][:width]
        pieces.append(piece)
    return pieces


def divide(line: str, width: int) -> list[int]:
    """Where ``line`` breaks at ``width`` (``rich._wrap.divide_line`` for one-cell text)."""
    breaks: list[int] = []
    offset = 0
    # rich matches word after word from the end of the last; a word takes the blanks after
    # it, so each match starts where the last ended, as finditer finds them.
    for match in _WORD.finditer(line):
        start, end = match.span()
        word = match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += end - start
        elif length > width:
            # A word longer than a line folds across lines of ``width``.
            chunks = [word[i : i + width] for i in range(0, len(word), width)]
            for chunk in chunks[:-1]:
                if start:
                    breaks.append(start)
                start += len(chunk)
            if start:
                breaks.append(start)
            offset = len(chunks[-1])
        elif offset and start:
            breaks.append(start)
            offset = end - start
    return breaks


__all__ = ["ONE_CELL", "divide", "layout", "wrap"]
