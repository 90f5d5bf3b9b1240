"""Values a training script gives its loaders, as far as reading (not running) can tell.

A setting is a JSON record: ``value`` and ``known`` for a literal (or a name, argparse
default, dict entry or parameter that resolves to one), and ``formula`` when the value
depends on the CPU count (``os.cpu_count()``, ``min(8, os.cpu_count())``...). A formula is a
small JSON expression that :func:`evaluate_formula` computes for a given machine, so the
checks can judge ``num_workers=os.cpu_count()`` with the CPUs of the machine they run on.

Formula grammar: an int, ``["cpus"]`` (logical CPUs, what ``os.cpu_count()`` returns),
``["usable_cpus"]`` (``len(os.sched_getaffinity(0))``), or ``[op, a, b, ...]`` with op one of
``min max + - * // / int or``.
"""

from __future__ import annotations

import math
from typing import Any

#: Functions that return the logical CPU count: ``os.cpu_count``, ``multiprocessing.cpu_count``,
#: ``psutil.cpu_count`` (logical by default).
CPU_COUNT_CALLS = frozenset({"cpu_count"})

Formula = Any  # int | float | list (see the module docstring)


def evaluate_formula(formula: Formula, cpus: int | None, usable: int | None = None) -> int | None:
    """The integer a formula gives on a machine with ``cpus`` logical CPUs; None if unknown."""
    try:
        value = _evaluate(formula, cpus, usable if usable is not None else cpus, 0)
    except (ArithmeticError, TypeError, ValueError):
        return None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)
    return value if isinstance(value, int) else None


def _evaluate(formula: Formula, cpus: int | None, usable: int | None, depth: int) -> Any:
    if depth > 20:
        return None
    if isinstance(formula, bool):
        return None
    if isinstance(formula, (int, float)):
        return formula
    if not isinstance(formula, (list, tuple)) or not formula:
        return None
    op, args = formula[0], formula[1:]
    if op == "cpus":
        return cpus
    if op == "usable_cpus":
        return usable
    values = [_evaluate(a, cpus, usable, depth + 1) for a in args]
    if op == "or":  # os.cpu_count() or 1: the first truthy value
        for value in values:
            if value:
                return value
        return values[-1] if values else None
    if any(v is None for v in values) or not values:
        return None
    if op == "min":
        return min(values)
    if op == "max":
        return max(values)
    if op == "int":
        return int(values[0])
    if op == "+":
        return values[0] + values[1]
    if op == "-":
        return values[0] - values[1]
    if op == "*":
        return values[0] * values[1]
    if op == "//":
        return values[0] // values[1]
    if op == "/":
        return values[0] / values[1]
    return None


def describe_formula(formula: Formula) -> str:
    """Readable text of a formula: ``min(8, cpu_count)``."""
    if isinstance(formula, (int, float)) and not isinstance(formula, bool):
        return str(formula)
    if not isinstance(formula, (list, tuple)) or not formula:
        return "?"
    op, args = formula[0], [describe_formula(a) for a in formula[1:]]
    if op == "cpus":
        return "cpu_count"
    if op == "usable_cpus":
        return "usable_cpus"
    if op in ("min", "max", "int"):
        return f"{op}({', '.join(args)})"
    if op == "or" and len(args) == 2:
        return f"({args[0]} or {args[1]})"
    if len(args) == 2:
        return f"({args[0]} {op} {args[1]})"
    return "?"


def uses_cpus(formula: Formula) -> bool:
    """True when the formula depends on the CPU count."""
    if isinstance(formula, (list, tuple)) and formula:
        return formula[0] in ("cpus", "usable_cpus") or any(uses_cpus(a) for a in formula[1:])
    return False
