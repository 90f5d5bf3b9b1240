"""Kept for plugins written against 0.1: the builders now live in :mod:`gpudoctor.api`."""

from __future__ import annotations

from gpudoctor.api import (
    GiB,
    MiB,
    evidence,
    fail,
    fmt_bytes,
    info,
    passed,
    remedy,
    skip,
    verdict,
    warn,
)

__all__ = [
    "GiB",
    "MiB",
    "evidence",
    "fail",
    "fmt_bytes",
    "info",
    "passed",
    "remedy",
    "skip",
    "verdict",
    "warn",
]
