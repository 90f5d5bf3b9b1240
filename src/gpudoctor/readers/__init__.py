"""Readers of the user's files: pure functions of bytes, never raising on bad input."""

from __future__ import annotations
