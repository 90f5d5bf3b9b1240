"""Live sampling of a running training: its process tree, the host and the GPUs.

These are the only modules of ``gpudoctor watch`` that touch the OS; each sample is bounded
in time and turns an unreadable value into ``None`` plus a reason, never an exception.
"""

from __future__ import annotations
