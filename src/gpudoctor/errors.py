"""The one exception tree the library raises; the CLI turns these into a line and exit 2."""

from __future__ import annotations


class GpuDoctorError(Exception):
    """Base of every error gpudoctor raises on purpose (bad input, unusable files)."""


class BadInputError(GpuDoctorError):
    """The user gave something we cannot use: a missing file, a bad id, a bad value."""


class SnapshotError(BadInputError):
    """A replay file is missing, truncated, not JSON, or from a newer gpudoctor."""


class PluginError(GpuDoctorError):
    """A third-party check module does not follow the plugin contract."""
