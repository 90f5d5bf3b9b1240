"""Resolving what a script passes to its loaders: names, dicts, argparse, parameters.

Built on the record of :mod:`gpudoctor.readers.script_scan`. A value is known when it is a
literal or resolves to one; it has a formula (:mod:`gpudoctor.readers.script_values`) when it
depends on the CPU count; otherwise ``via`` says what it depends on.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from gpudoctor.readers.python_source import literal_value
from gpudoctor.readers.script_scan import MAX_DEPTH
from gpudoctor.readers.script_scan import Context
from gpudoctor.readers.script_scan import ScriptScan
from gpudoctor.readers.script_scan import Site
from gpudoctor.readers.script_scan import call_name
from gpudoctor.readers.script_scan import dotted_name
from gpudoctor.readers.script_values import CPU_COUNT_CALLS
from gpudoctor.readers.script_values import describe_formula
from gpudoctor.readers.script_values import uses_cpus


@dataclass
class Value:
    known: bool
    value: Any = None
    formula: Any = None
    via: str = ""


class ScriptValues(ScriptScan):
    """Value lookups over a walked script."""

    def value(self, node: ast.AST, ctx: Context, depth: int = 0) -> Value:
        """What ``node`` evaluates to, as far as reading the script can tell."""
        known, literal = literal_value(node)
        if known:
            return Value(True, literal)
        if depth >= MAX_DEPTH:
            return Value(False, via="too many steps to follow")
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            return self._name_value(node.id, ctx, line, depth)
        if isinstance(node, ast.Call):
            return self._call_value(node, ctx, depth)
        if isinstance(node, ast.BinOp):
            return self._binop_value(node, ctx, depth)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            parts = [self.value(v, ctx, depth + 1) for v in node.values]
            if all(p.known for p in parts):
                return next((p for p in parts if p.value), parts[-1])
            if all(p.known or p.formula is not None for p in parts):
                return Value(False, formula=["or", *[formula_of(p) for p in parts]])
            return Value(False, via="depends on a value that could not be read")
        if isinstance(node, ast.IfExp):
            body, other = (
                self.value(node.body, ctx, depth + 1),
                self.value(node.orelse, ctx, depth + 1),
            )
            if body.known and other.known and body.value == other.value:
                return body
            shown = [repr(p.value) if p.known else "?" for p in (body, other)]
            return Value(False, via=f"one of {shown[0]} or {shown[1]}, chosen at run time")
        if isinstance(node, ast.Attribute):
            return self._attribute_value(node, ctx, depth)
        if isinstance(node, ast.Subscript):
            return self._subscript_value(node, ctx, depth)
        return Value(False)

    def _name_value(self, name: str, ctx: Context, line: int, depth: int) -> Value:
        binding = self.resolve(name, ctx.owner, line)
        if binding is not None:
            if binding.kind in ("value", "call", "other"):
                owner_ctx = Context(binding.owner, None, None, None, ctx.method)
                result = self.value(binding.node, owner_ctx, depth + 1)
                if not result.via and not result.known and result.formula is None:
                    result.via = f"{name} = {self.segment(binding.node)}"
                return result
            return Value(False)
        function = self.owner_with_param(name, ctx.owner)
        if function is not None:
            return self._parameter_value(function, name, depth)
        return Value(False)

    def _parameter_value(self, function: ast.AST, name: str, depth: int) -> Value:
        """A parameter's value from the function's call sites in this file, or its default."""
        index, default = self.params_of(function)[name]
        function_name = getattr(function, "name", "")
        callers: list[Site] = []
        skip_self = 0
        owner_class = self.rec.class_of.get(id(function))
        if owner_class is not None:
            skip_self = 1
            if function_name == "__init__":
                callers = self.rec.calls_by_name.get(owner_class, [])
            else:
                callers = self.rec.calls_by_name.get(function_name, [])
        elif function_name:
            callers = self.rec.calls_by_name.get(function_name, [])
        results: list[Value] = []
        for site in callers:
            call = site.node
            assert isinstance(call, ast.Call)
            argument: ast.AST | None = next((k.value for k in call.keywords if k.arg == name), None)
            position = index - skip_self
            if argument is None and 0 <= position < len(call.args):
                candidate = call.args[position]
                if not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
                    argument = candidate
            if argument is None:
                if any(k.arg is None for k in call.keywords):
                    results.append(Value(False, via=f"passed to {function_name}() via **kwargs"))
                    continue
                argument = default
            if argument is None:
                results.append(Value(False))
                continue
            results.append(self.value(argument, site.ctx, depth + 1))
        if not callers:
            if default is None:
                return Value(False, via=f"parameter {name} of {function_name}()")
            result = self.value(default, Context(self.tree, None, None, None, None), depth + 1)
            if result.known or result.formula is not None:
                result.via = result.via or f"default of parameter {name} of {function_name}()"
            return result
        first = results[0]
        same = all(
            r.known == first.known and r.value == first.value and r.formula == first.formula
            for r in results
        )
        if same and (first.known or first.formula is not None):
            first.via = first.via or f"passed to {function_name}() as {name}"
            return first
        known = sorted({repr(r.value) for r in results if r.known})
        if known and len(known) > 1:
            return Value(False, via=f"{name} of {function_name}() is one of {', '.join(known)}")
        return Value(False, via=first.via or f"parameter {name} of {function_name}()")

    def _call_value(self, node: ast.Call, ctx: Context, depth: int) -> Value:
        name = call_name(node.func)
        args = node.args
        if name in ("int", "round", "float") and len(args) == 1:
            inner = self.value(args[0], ctx, depth + 1)
            if inner.known and isinstance(inner.value, (int, float)):
                return Value(
                    True, int(inner.value) if name != "float" else inner.value, via=inner.via
                )
            if inner.formula is not None:
                return Value(False, formula=["int", inner.formula], via=inner.via)
            return inner
        if name in ("min", "max"):
            items: list[ast.AST] = list(args)
            if len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
                items = list(args[0].elts)
            parts = [self.value(a, ctx, depth + 1) for a in items]
            if parts and all(p.known and isinstance(p.value, (int, float)) for p in parts):
                values = [p.value for p in parts]
                return Value(True, min(values) if name == "min" else max(values))
            if parts and all(p.known or p.formula is not None for p in parts):
                return Value(False, formula=[name, *[formula_of(p) for p in parts]])
            if name == "min":
                bounds = [p.value for p in parts if p.known and isinstance(p.value, int)]
                if bounds:
                    return Value(False, via=f"at most {min(bounds)} (min of values not all read)")
            return Value(False, via="min/max of values that could not be read")
        if name in CPU_COUNT_CALLS:
            for keyword in node.keywords:
                if keyword.arg == "logical" and literal_value(keyword.value) == (True, False):
                    return Value(False, formula=["cpus"], via="physical cores (at most cpu_count)")
            return Value(False, formula=["cpus"])
        affinity = len(args) == 1 and isinstance(args[0], ast.Call)
        if name == "len" and affinity and call_name(args[0].func) == "sched_getaffinity":  # type: ignore[attr-defined]
            return Value(False, formula=["usable_cpus"])
        if name == "get_context" and args:
            return self.value(args[0], ctx, depth + 1)
        from_environment = dotted_name(node.func).startswith(("os.", "os.environ"))
        if name in ("getenv", "get") and from_environment and len(args) >= 2:
            default = self.value(args[1], ctx, depth + 1)
            key = self.segment(args[0])
            return Value(False, via=f"environment variable {key}, default {default.value!r}")
        return Value(False)

    def _binop_value(self, node: ast.BinOp, ctx: Context, depth: int) -> Value:
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/"}
        op = ops.get(type(node.op))
        if op is None:
            return Value(False)
        left, right = self.value(node.left, ctx, depth + 1), self.value(node.right, ctx, depth + 1)
        if left.known and right.known:
            try:
                result = apply_operator(op, left.value, right.value)
            except (ArithmeticError, TypeError, ValueError):
                return Value(False)
            return Value(True, result)
        if (left.known or left.formula is not None) and (right.known or right.formula is not None):
            return Value(False, formula=[op, formula_of(left), formula_of(right)])
        return Value(False)

    def _attribute_value(self, node: ast.Attribute, ctx: Context, depth: int) -> Value:
        receiver = node.value
        if isinstance(receiver, ast.Name) and receiver.id == "self" and ctx.method is not None:
            sites = self.rec.self_attrs.get((ctx.method[0], node.attr), [])
            if len(sites) == 1:
                return self.value(sites[0].node, sites[0].ctx, depth + 1)
            return Value(False)
        dotted = dotted_name(node)
        sites = self.rec.attr_assigns.get(dotted, []) if dotted else []
        if sites:
            line = getattr(node, "lineno", 0)
            before = [s for s in sites if getattr(s.node, "lineno", 0) <= line] or sites
            site = before[-1]
            result = self.value(site.node, site.ctx, depth + 1)
            result.via = result.via or f"{dotted} set at line {getattr(site.node, 'lineno', '?')}"
            return result
        if isinstance(receiver, ast.Name) and node.attr in self.rec.argparse:
            binding = self.resolve(receiver.id, ctx.owner, getattr(node, "lineno", 0))
            if binding is None or binding.kind in ("call", "other"):
                default, line, option = self.rec.argparse[node.attr]
                if default is None:
                    return Value(False, via=f"{option} has no default (line {line})")
                result = self.value(default, Context(self.tree, None, None, None, None), depth + 1)
                result.via = f"default of {option} (line {line}); the command line may change it"
                return result
        return Value(False)

    def _subscript_value(self, node: ast.Subscript, ctx: Context, depth: int) -> Value:
        key = literal_value(node.slice)
        if not key[0] or not isinstance(key[1], str):
            return Value(False)
        items, _complete = self.dict_of(node.value, ctx, getattr(node, "lineno", 0), depth + 1)
        if items is not None and key[1] in items:
            value_node, value_ctx = items[key[1]]
            return self.value(value_node, value_ctx, depth + 1)
        return Value(False)

    def _merge_into(
        self,
        items: dict[str, tuple[ast.AST, Context]],
        node: ast.AST,
        ctx: Context,
        line: int,
        depth: int,
    ) -> bool:
        """Add the keys of a ``**`` operand (one level below ``depth``) to ``items``; False
        when not all of them are known."""
        inner, ok = self.dict_of(node, ctx, line, depth + 1)
        if inner is None:
            return False
        items.update(inner)
        return ok

    def dict_of(
        self, node: ast.AST, ctx: Context, line: int, depth: int = 0
    ) -> tuple[dict[str, tuple[ast.AST, Context]] | None, bool]:
        """Keys of a dict built in this scope: literal, dict(...), ``**`` merges, updates."""
        if depth >= MAX_DEPTH:
            return None, False
        if isinstance(node, ast.Dict):
            items: dict[str, tuple[ast.AST, Context]] = {}
            complete = True
            for key, value in zip(node.keys, node.values):
                if key is None:
                    complete = self._merge_into(items, value, ctx, line, depth) and complete
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    items[key.value] = (value, ctx)
                else:
                    complete = False
            return items, complete
        if isinstance(node, ast.Call) and call_name(node.func) == "dict":
            items, complete = {}, True
            for arg in node.args:
                complete = self._merge_into(items, arg, ctx, line, depth) and complete
            for keyword in node.keywords:
                if keyword.arg is None:
                    complete = self._merge_into(items, keyword.value, ctx, line, depth) and complete
                else:
                    items[keyword.arg] = (keyword.value, ctx)
            return items, complete
        if isinstance(node, ast.Name):
            binding = self.resolve(node.id, ctx.owner, line)
            if binding is None or binding.kind not in ("other", "call"):
                return None, False
            base_ctx = Context(binding.owner, None, None, None, ctx.method)
            found, complete = self.dict_of(binding.node, base_ctx, binding.line, depth + 1)
            if found is None:
                return None, False
            items = dict(found)
            for change_line, change_key, change_value, change_ctx in self.rec.dict_changes.get(
                (id(binding.owner), node.id), []
            ):
                if not binding.line <= change_line <= line:
                    continue
                if change_key is not None:
                    items[change_key] = (change_value, change_ctx)
                    continue
                inner, ok = self.dict_of(change_value, change_ctx, change_line, depth + 1)
                if inner is None:
                    complete = False
                else:
                    items.update(inner)
                    complete = complete and ok
            return items, complete
        return None, False

    def setting(self, node: ast.AST, ctx: Context) -> dict[str, Any]:
        result = self.value(node, ctx)
        record: dict[str, Any] = {
            "value": result.value if result.known else None,
            "known": result.known,
            "text": self.segment(node),
            "line": getattr(node, "lineno", None),
        }
        if result.formula is not None and uses_cpus(result.formula):
            record["formula"] = result.formula
            record["depends_on"] = "cpu_count"
            record["via"] = (
                result.via or f"{describe_formula(result.formula)}: depends on the CPU count"
            )
        elif result.via:
            record["via"] = result.via
        return record


def default_setting(value: int, source: str, line: int) -> dict[str, Any]:
    return {
        "value": value,
        "known": True,
        "text": f"{value} ({source})",
        "line": line,
        "via": source,
    }


def formula_of(value: Value) -> Any:
    return value.value if value.known else value.formula


def apply_operator(op: str, left: Any, right: Any) -> Any:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "//":
        return left // right
    return left / right
