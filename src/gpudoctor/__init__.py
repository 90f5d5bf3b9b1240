"""gpudoctor: why your GPU training run crashes, hangs, stutters or runs out of memory.

The public API is small and imports nothing heavy:

- :func:`gpudoctor.registry.check` declares a check (for plugins);
- :mod:`gpudoctor.checks._helpers` builds verdicts;
- :class:`gpudoctor.facts.Facts` is what checks read.
"""

from __future__ import annotations

from gpudoctor._version import __version__

__all__ = ["__version__"]
