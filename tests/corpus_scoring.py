"""Scoring for the real-world corpus: expected findings against what gpudoctor reports.

An expectation is ``"GD503 fail"`` (``@subject`` when a check reports several subjects);
``none`` means an expert expects no finding above ``info``. Recall counts the expected
findings reported with that severity; a false alarm is a reported finding nobody expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

#: Severities that count as a finding; pass, skip and info do not.
COUNTED = ("warn", "fail", "error")


@dataclass
class Score:
    """Totals over a corpus, and the lines that explain each miss and false alarm."""

    expected: int = 0
    found: int = 0
    false_alarms: int = 0
    crashes: int = 0
    items: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, expected: set[str], got: set[str]) -> None:
        self.items += 1
        self.expected += len(expected)
        self.found += len(expected & got)
        for label in sorted(expected - got):
            self.notes.append(f"{name}: missed {label} (got {sorted(got) or 'nothing'})")
        for label in sorted(got - expected):
            self.false_alarms += 1
            self.notes.append(f"{name}: false alarm {label}")

    def add_judged(self, name: str, expected: set[str], judge: Callable[[], set[str]]) -> None:
        """``add`` with what ``judge()`` reports; a crash is counted and shown, not raised."""
        try:
            got = judge()
        except Exception as exc:  # noqa: BLE001 - a crash is counted and shown
            self.crashes += 1
            self.notes.append(f"{name}: crash {exc!r}")
            return
        self.add(name, expected, got)

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    def summary(self, corpus: str) -> str:
        lines = [
            f"{corpus}: {self.items} items, recall {self.found}/{self.expected} = "
            f"{self.recall:.1%}, false alarms {self.false_alarms}, crashes {self.crashes}",
            *self.notes,
        ]
        return "\n".join(lines)


def parse_expect(text: str) -> set[str]:
    """``"GD503 fail, GD504 warn"`` -> labels; ``none`` -> an empty set."""
    text = text.strip()
    if not text or text.lower() == "none":
        return set()
    return {" ".join(part.split()) for part in text.split(",") if part.strip()}
