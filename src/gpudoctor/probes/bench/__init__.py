"""Measurements of the user's own data path: disk reads, the DataLoader, the GPU.

These are instruments, not checks: ``gpudoctor bench`` runs them directly and the deep probes
of ``gpudoctor check --deep`` run them with small budgets. Anything that imports torch runs in
a child process with a timeout.
"""

from __future__ import annotations
