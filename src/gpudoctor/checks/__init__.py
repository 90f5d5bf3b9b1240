"""Built-in checks. Each module declares checks with :func:`gpudoctor.registry.check`.

Id blocks: GD0xx across the nodes of a cluster (:mod:`gpudoctor.checks.cluster`, run by
``gpudoctor merge`` and ``gpudoctor cluster``, not listed here), GD1xx driver and NVML,
GD2xx CUDA and torch, GD3xx host memory, shared memory and limits, GD4xx GPU processes,
GD5xx WSL and Windows, GD6xx training setup, GD7xx
measurements, GD9xx gpudoctor itself.
"""

from __future__ import annotations

BUILTIN_MODULES = (
    "gpudoctor.checks.gpu",
    "gpudoctor.checks.torch",
    "gpudoctor.checks.memory",
    "gpudoctor.checks.processes",
    "gpudoctor.checks.wsl",
    "gpudoctor.checks.training",
    "gpudoctor.checks.bench",
    "gpudoctor.checks.run_log",
    "gpudoctor.checks.run_crashes",
)
