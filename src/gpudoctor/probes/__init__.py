"""Probes: the only code that reads the machine. Each fills one facts section.

Built-in probe modules are listed here; importing them registers their probes.
"""

from __future__ import annotations

import importlib

from gpudoctor.probes.base import CommandResult
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import ProbeSpec
from gpudoctor.probes.base import probe
from gpudoctor.probes.base import registered_probes

__all__ = [
    "BUILTIN_PROBE_MODULES",
    "CommandResult",
    "CommandTimeout",
    "ProbeContext",
    "ProbeSpec",
    "all_probes",
    "probe",
]

BUILTIN_PROBE_MODULES = (
    "gpudoctor.probes.host",
    "gpudoctor.probes.memory",
    "gpudoctor.probes.limits",
    "gpudoctor.probes.shm",
    "gpudoctor.probes.env",
    "gpudoctor.probes.nvidia",
    "gpudoctor.probes.wsl",
    "gpudoctor.probes.gpu_processes",
    "gpudoctor.probes.system_info",
    "gpudoctor.probes.kernel_log",
    "gpudoctor.probes.torch_install",
    "gpudoctor.probes.deep",
    "gpudoctor.probes.run_log",
    "gpudoctor.probes.training",
    "gpudoctor.probes.toolchain",
    "gpudoctor.probes.power",
    "gpudoctor.probes.torch_runtime",
)


def all_probes(*, deep: bool = False) -> list[ProbeSpec]:
    """Every registered probe (deep ones only when ``deep``), in section order."""
    for name in BUILTIN_PROBE_MODULES:
        importlib.import_module(name)
    specs = registered_probes().values()
    return sorted((s for s in specs if deep or not s.deep), key=lambda s: s.section)
