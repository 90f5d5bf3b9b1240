"""gpudoctor: why your GPU training run crashes, hangs, stutters or runs out of memory.

The public API is small and imports nothing heavy:

- :func:`gpudoctor.registry.check` declares a check (for plugins);
- :mod:`gpudoctor.checks._helpers` builds verdicts;
- :class:`gpudoctor.facts.Facts` is what checks read;
- :func:`gpudoctor.preflight` checks a DataLoader or dataset before training (imports torch
  only when called).
"""

from __future__ import annotations

from typing import Any

from gpudoctor._version import __version__

__all__ = ["__version__", "preflight"]


def __getattr__(name: str) -> Any:
    """Load ``preflight`` on first use, so ``import gpudoctor`` stays light."""
    if name == "preflight":
        from gpudoctor.loader_preflight import preflight

        return preflight
    raise AttributeError(f"module 'gpudoctor' has no attribute {name!r}")
