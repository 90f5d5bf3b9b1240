"""How long the wsl probe and the .wslconfig reader take.

Run from the repository root: ``PYTHONPATH=src python benchmarks/wsl_probe.py``.
On native Linux the probe must return at once (it only reads cached WSL signals); the
reader is timed on a 200-line .wslconfig.
"""

from __future__ import annotations

import time

from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.wsl import probe_wsl
from gpudoctor.readers.wslconfig import parse_wslconfig


def per_call(func, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    probe_s = per_call(lambda: probe_wsl(ProbeContext()), 200)
    print(f"wsl probe on this machine: {probe_s * 1e6:.0f} us per call")
    lines = ["# training limits", "[wsl2]", "memory=24GB", "swap=8GB"]
    lines += [f"# note {i}\nkernelCommandLine{i}=x" for i in range(100)]
    data = "\n".join(lines).encode()
    parse_s = per_call(lambda: parse_wslconfig(data), 200)
    print(f".wslconfig reader, {len(data.splitlines())} lines: {parse_s * 1e3:.2f} ms per file")


if __name__ == "__main__":
    main()
