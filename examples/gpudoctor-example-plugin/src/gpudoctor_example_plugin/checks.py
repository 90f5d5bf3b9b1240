"""Example checks: a 32-bit Python cannot use CUDA builds of PyTorch at all."""

from __future__ import annotations

from gpudoctor.api import check
from gpudoctor.api import evidence
from gpudoctor.api import fail
from gpudoctor.api import passed
from gpudoctor.api import remedy


@check(
    "EXA001",
    "python-is-64-bit",
    summary="The Python interpreter is 64-bit, as PyTorch requires",
    requires=("host.python.bits",),
    reference="https://github.com/gpudoctor/gpudoctor/tree/main/examples/gpudoctor-example-plugin",
)
def python_is_64_bit(facts):
    """PyTorch publishes 64-bit wheels only; a 32-bit Python finds no torch to install."""
    bits = facts.get("host.python.bits")
    ev = [evidence("interpreter", f"{bits}-bit", "host.python.bits")]
    if bits == 64:
        return passed("Python is 64-bit", evidence=ev)
    return fail(
        f"Python is {bits}-bit: PyTorch only ships 64-bit builds",
        evidence=ev,
        remedies=[remedy("Install a 64-bit Python from python.org and recreate the venv.")],
    )
