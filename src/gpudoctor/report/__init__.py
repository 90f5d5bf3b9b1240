"""Renderers for a :class:`~gpudoctor.runner.Report`: terminal text, JSON and Markdown.

JSON is the only machine-readable format (schema in ``schemas/report.schema.json``);
Markdown is written to be pasted into a GitHub issue.
"""

from __future__ import annotations

FORMATS = ("text", "json", "markdown")
