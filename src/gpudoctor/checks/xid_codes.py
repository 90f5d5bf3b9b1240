"""What the common NVIDIA Xid codes in the kernel log mean, and what to do about them.

Sources: NVIDIA's "Xid Errors" catalogue and field experience collected in
stas00/ml-engineering (accelerator debugging). Severity is how gpudoctor reports a recent
occurrence: ``fail`` for hardware or driver faults that end runs, ``warn`` for faults
usually caused by the application, ``info`` for follow-up noise.
"""

from __future__ import annotations

from typing import NamedTuple


class XidInfo(NamedTuple):
    code: int
    meaning: str
    remedy: str
    severity: str


_TABLE = (
    XidInfo(
        13,
        "graphics engine exception (often an out-of-bounds access in a kernel)",
        "Re-run with CUDA_LAUNCH_BLOCKING=1 to find the failing op; undo GPU overclocks.",
        "warn",
    ),
    XidInfo(
        31,
        "GPU memory page fault (illegal address)",
        "Usually an application bug; if many different programs hit it, suspect the hardware.",
        "warn",
    ),
    XidInfo(
        43,
        "GPU stopped processing (a user application faulted)",
        "Look at the application that ran at that time; the GPU itself is usually fine.",
        "warn",
    ),
    XidInfo(
        45,
        "preemptive cleanup after an earlier error or a killed process",
        "Benign on its own; look for the error logged just before it.",
        "info",
    ),
    XidInfo(
        48,
        "double-bit ECC error (uncorrectable memory error)",
        "Reset the GPU (nvidia-smi -r) or reboot; if it recurs, the board needs an RMA.",
        "fail",
    ),
    XidInfo(
        61,
        "internal micro-controller breakpoint",
        "Update the driver; reset the GPU or reboot.",
        "fail",
    ),
    XidInfo(
        62,
        "internal micro-controller halt",
        "Update the driver; reset the GPU or reboot; check temperatures.",
        "fail",
    ),
    XidInfo(
        63,
        "ECC page retirement or row remapping recorded",
        "Reset the GPU or reboot so the retirement takes effect.",
        "warn",
    ),
    XidInfo(
        64,
        "ECC page retirement or row remapping failed",
        "Reset the GPU; if it repeats, the board needs an RMA.",
        "fail",
    ),
    XidInfo(
        74,
        "NVLink error",
        "Check the NVLink bridge or baseboard; reset the GPUs; contact the vendor if it repeats.",
        "fail",
    ),
    XidInfo(
        79,
        "GPU has fallen off the bus",
        "Reseat the card, check the PSU cables and riser, watch temperatures; then reboot.",
        "fail",
    ),
    XidInfo(
        92,
        "high single-bit ECC error rate",
        "Watch the ECC counters; plan a reset; RMA if it keeps rising.",
        "warn",
    ),
    XidInfo(
        94,
        "contained ECC error (only the affected application was stopped)",
        "Restart the affected job; reset the GPU when convenient.",
        "warn",
    ),
    XidInfo(
        95,
        "uncontained ECC error (every application on the GPU was stopped)",
        "Reset the GPU or reboot before running anything else on it.",
        "fail",
    ),
    XidInfo(
        109,
        "context switch timeout",
        "Often an application hang; update the driver if it repeats.",
        "warn",
    ),
    XidInfo(
        119,
        "GSP firmware RPC timeout",
        "Update the driver; reset the GPU or reboot.",
        "fail",
    ),
    XidInfo(
        120,
        "GSP firmware error",
        "Update the driver; reset the GPU or reboot.",
        "fail",
    ),
)

XID_TABLE: dict[int, XidInfo] = {entry.code: entry for entry in _TABLE}


def describe_xid(code: int) -> XidInfo:
    """The table entry for ``code``, or a generic one for codes not in the table."""
    return XID_TABLE.get(
        code,
        XidInfo(
            code,
            "an Xid not in gpudoctor's table",
            "Look the code up in NVIDIA's Xid catalogue (docs.nvidia.com/deploy/xid-errors).",
            "warn",
        ),
    )
