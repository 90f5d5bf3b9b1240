"""Read a training script with ``ast`` and find what breaks DataLoader workers under spawn.

The script is parsed, never imported or executed: a script whose import writes files, starts
training or deletes things is only read. What is found:

- every ``DataLoader(...)`` call and its settings (literals, names, ``**kwargs`` dicts,
  argparse defaults, parameters, and values that depend on the CPU count);
- high-level trainers that start loaders themselves (ultralytics, mmengine, Lightning,
  Hugging Face, detectron2: see :mod:`gpudoctor.readers.trainers`);
- the ``if __name__ == "__main__":`` guard, and the top-level statements that would start
  workers while the module is being imported (under spawn each worker re-imports the
  script and runs those statements again);
- lambdas, nested functions, locally defined classes (and instances of them) and objects
  defined inside the ``__main__`` guard that are handed to a DataLoader, which spawn cannot
  pickle or a worker cannot re-import;
- ``set_start_method(...)`` calls.

The tree is walked once; everything else is looked up in what that walk recorded, so large
scripts cost little more than parsing them.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import Any

from gpudoctor.readers import trainers as fw
from gpudoctor.readers.python_source import (
    NotUnderstood,
    analyse_python,
    decode_text,
    literal_value,
    not_understood,
    read_source_bytes,
    source_segment,
    split_lines,
)
from gpudoctor.readers.script_values import CPU_COUNT_CALLS, describe_formula, uses_cpus

#: DataLoader's positional parameters, in order (torch 2.x signature).
POSITIONAL_PARAMETERS = (
    "dataset",
    "batch_size",
    "shuffle",
    "sampler",
    "batch_sampler",
    "num_workers",
    "collate_fn",
    "pin_memory",
    "drop_last",
    "timeout",
    "worker_init_fn",
    "multiprocessing_context",
)

#: Settings whose values the checks use.
SETTINGS = (
    "num_workers",
    "batch_size",
    "persistent_workers",
    "prefetch_factor",
    "pin_memory",
    "multiprocessing_context",
    "timeout",
    "collate_fn",
)

#: Arguments that spawn pickles and sends to every worker (the arguments of
#: ``_utils.worker._worker_loop`` in torch/utils/data/dataloader.py; samplers stay in the
#: training process).
PICKLED_ARGUMENTS = ("dataset", "collate_fn", "worker_init_fn")

_RUNNER_METHODS = {"train", "validate", "test", "predict", "run", "val", "fit"}
_RUNNER_NAMES = {"trainer", "runner", "engine", "learner", "learn", "pl_trainer"}
_WRAPPERS = {"enumerate", "iter", "next", "tqdm", "zip", "islice", "list", "trange", "chain"}
#: Keywords of loader-building helpers (timm create_loader, yolov5 create_dataloader, data
#: modules) that set the worker count.
_FACTORY_WORKER_KEYWORDS = {"num_workers": "num_workers", "workers": "num_workers"}
_FACTORY_BATCH_KEYWORDS = {"batch_size": "batch_size", "batch": "batch_size"}

_MAX_TEXT = 100
_MAX_DEPTH = 6
_MAX_PICKLE_DEPTH = 10

_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class _Binding:
    """What a name means in one scope: a def, a class, a lambda, a call result, a value."""

    kind: str  # "function", "class", "lambda", "call", "value", "other"
    node: ast.AST
    owner: ast.AST  # the module or the function whose local it is
    in_guard: bool
    line: int


@dataclass
class _Value:
    known: bool
    value: Any = None
    formula: Any = None
    via: str = ""


@dataclass
class _Context:
    owner: ast.AST
    top: ast.stmt | None
    guard: str | None  # None, "body" or "else" of the __main__ guard
    class_body: ast.ClassDef | None  # directly in this class's body
    method: tuple[str, str] | None  # (class, method) for code inside a method


@dataclass
class _Site:
    node: ast.AST
    ctx: _Context


@dataclass
class _Record:
    """Everything the single walk collects."""

    bindings: dict[tuple[int, str], list[_Binding]] = field(default_factory=dict)
    params: dict[int, dict[str, tuple[int, ast.AST | None]]] = field(default_factory=dict)
    attr_assigns: dict[str, list[_Site]] = field(default_factory=dict)
    self_attrs: dict[tuple[str, str], list[_Site]] = field(default_factory=dict)
    dict_changes: dict[tuple[int, str], list[tuple[int, str | None, ast.AST, _Context]]] = field(
        default_factory=dict
    )
    argparse: dict[str, tuple[ast.AST | None, int, str]] = field(default_factory=dict)
    calls_by_name: dict[str, list[_Site]] = field(default_factory=dict)
    loader_calls: list[_Site] = field(default_factory=list)
    factory_calls: list[_Site] = field(default_factory=list)
    method_calls: list[_Site] = field(default_factory=list)
    start_calls: list[_Site] = field(default_factory=list)
    iterations: list[_Site] = field(default_factory=list)
    top_calls: dict[int, set[str]] = field(default_factory=dict)
    method_events: dict[tuple[str, str], int] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    functions: dict[str, ast.AST] = field(default_factory=dict)
    owner_of: dict[int, ast.AST] = field(default_factory=dict)  # function -> enclosing owner
    class_of: dict[int, str] = field(default_factory=dict)  # method -> class name


def analyse_script(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Analyse the script at ``path``; never raises for bad input, never runs it."""
    label = os.fspath(path)
    try:
        data = read_source_bytes(label)
        text = decode_text(data, python=True)
    except NotUnderstood as exc:
        return not_understood(label, "script", str(exc))
    return analyse_source(text, label)


def analyse_source(text: str, path: str = "<script>") -> dict[str, Any]:
    """Analyse Python source text (see :func:`analyse_script`)."""
    return analyse_python(text, path, "script", _Analyser)


class _Analyser:
    def __init__(self, tree: ast.Module, text: str, path: str) -> None:
        self.tree = tree
        self.lines = split_lines(text)
        self.path = path
        self.guards = [stmt for stmt in tree.body if _is_main_guard(stmt)]
        self.loader_names = {"DataLoader"}
        self.loader_vars: set[str] = set()
        self.notes: list[str] = []
        self.rec = _Record()
        self._walk()

    # -- the one walk -----------------------------------------------------------------------
    def _walk(self) -> None:
        rec = self.rec
        module_ctx = _Context(self.tree, None, None, None, None)
        stack: list[tuple[ast.AST, _Context]] = []
        for stmt in reversed(self.tree.body):
            if stmt in self.guards:
                guard = stmt
                assert isinstance(guard, ast.If)
                for child in reversed(guard.orelse):
                    stack.append((child, _Context(self.tree, stmt, "else", None, None)))
                for child in reversed(guard.body):
                    stack.append((child, _Context(self.tree, stmt, "body", None, None)))
            else:
                stack.append((stmt, _Context(self.tree, stmt, None, None, None)))
        del module_ctx
        while stack:
            node, ctx = stack.pop()
            child_ctx = ctx
            if isinstance(node, _DEFS):
                self._bind(node.name, "function", node, node, ctx)
                rec.owner_of[id(node)] = ctx.owner
                if ctx.owner is self.tree and ctx.class_body is None and ctx.guard is None:
                    rec.functions[node.name] = node
                method = ctx.method
                if ctx.class_body is not None:
                    method = (ctx.class_body.name, node.name)
                    rec.class_of[id(node)] = ctx.class_body.name
                rec.params[id(node)] = _parameters(node.args)
                child_ctx = _Context(node, ctx.top, ctx.guard, None, method)
                for default in [*node.args.defaults, *node.args.kw_defaults]:
                    if default is not None:
                        stack.append((default, ctx))
                for decorator in node.decorator_list:
                    stack.append((decorator, ctx))
                for stmt in reversed(node.body):
                    stack.append((stmt, child_ctx))
                continue
            if isinstance(node, ast.ClassDef):
                self._bind(node.name, "class", node, node, ctx)
                if ctx.owner is self.tree:
                    rec.classes[node.name] = node
                child_ctx = _Context(ctx.owner, ctx.top, ctx.guard, node, ctx.method)
                for base in node.bases:
                    stack.append((base, ctx))
                for stmt in reversed(node.body):
                    stack.append((stmt, child_ctx))
                continue
            if isinstance(node, ast.Lambda):
                rec.owner_of[id(node)] = ctx.owner
                rec.params[id(node)] = _parameters(node.args)
                stack.append((node.body, _Context(node, ctx.top, ctx.guard, None, ctx.method)))
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node)
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                self._assignment(node, ctx)
            elif isinstance(node, ast.Call):
                self._call(node, ctx)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                rec.iterations.append(_Site(node.iter, ctx))
            elif isinstance(node, ast.comprehension):
                rec.iterations.append(_Site(node.iter, ctx))
            if ctx.class_body is not None:
                ctx = _Context(ctx.owner, ctx.top, ctx.guard, None, ctx.method)
                # class-level statements: children are not in the class body themselves
                child_ctx = _Context(ctx.owner, ctx.top, ctx.guard, None, ctx.method)
            _push_children(node, child_ctx, stack)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                self.rec.imports[alias.asname or alias.name] = f"{module}.{alias.name}"
                if alias.name == "DataLoader" and alias.asname:
                    self.loader_names.add(alias.asname)
        else:
            for alias in node.names:
                self.rec.imports[alias.asname or alias.name.split(".")[0]] = alias.name

    def _bind(self, name: str, kind: str, node: ast.AST, at: ast.AST, ctx: _Context) -> None:
        if ctx.class_body is not None:
            return
        binding = _Binding(kind, node, ctx.owner, ctx.guard == "body", getattr(at, "lineno", 0))
        self.rec.bindings.setdefault((id(ctx.owner), name), []).append(binding)

    def _assignment(self, node: ast.Assign | ast.AnnAssign, ctx: _Context) -> None:
        value = node.value
        if value is None:
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                self._bind(target.id, _value_kind(value), value, node, ctx)
                if isinstance(value, ast.Call) and _call_name(value.func) in self.loader_names:
                    self.loader_vars.add(target.id)
            elif isinstance(target, ast.Attribute):
                dotted = _dotted(target)
                if isinstance(target.value, ast.Name) and target.value.id == "self":
                    if ctx.method is not None:
                        key = (ctx.method[0], target.attr)
                        self.rec.self_attrs.setdefault(key, []).append(_Site(value, ctx))
                elif dotted:
                    self.rec.attr_assigns.setdefault(dotted, []).append(_Site(value, ctx))
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                key = literal_value(target.slice)
                if key[0] and isinstance(key[1], str):
                    changes = self.rec.dict_changes.setdefault((id(ctx.owner), target.value.id), [])
                    changes.append((node.lineno, key[1], value, ctx))

    def _call(self, node: ast.Call, ctx: _Context) -> None:
        rec = self.rec
        name = _call_name(node.func)
        if name:
            rec.calls_by_name.setdefault(name, []).append(_Site(node, ctx))
        site = _Site(node, ctx)
        if name in self.loader_names:
            rec.loader_calls.append(site)
        elif any(k.arg in _FACTORY_WORKER_KEYWORDS for k in node.keywords) and _is_factory(name):
            rec.factory_calls.append(site)
        if name in ("set_start_method",) and node.args:
            rec.start_calls.append(site)
        elif name == "add_argument":
            self._argparse(node)
        elif name == "update" and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if isinstance(receiver, ast.Name):
                changes = rec.dict_changes.setdefault((id(ctx.owner), receiver.id), [])
                for arg in node.args:
                    changes.append((node.lineno, None, arg, ctx))
                for keyword in node.keywords:
                    changes.append((node.lineno, keyword.arg, keyword.value, ctx))
        if name in ("iter", "next"):
            for arg in node.args:
                rec.iterations.append(_Site(arg, ctx))
        if isinstance(node.func, ast.Attribute) and name in _RUNNER_METHODS:
            rec.method_calls.append(site)
        if isinstance(node.func, ast.Name) and ctx.top is not None:
            rec.top_calls.setdefault(id(ctx.top), set()).add(node.func.id)
        elif (
            isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self"
            and ctx.top is not None
        ):
            rec.top_calls.setdefault(id(ctx.top), set()).add(f"self.{node.func.attr}")

    def _argparse(self, node: ast.Call) -> None:
        options = [
            a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        dest_node = keywords.get("dest")
        dest: str | None = None
        if isinstance(dest_node, ast.Constant) and isinstance(dest_node.value, str):
            dest = dest_node.value
        else:
            long = [o for o in options if o.startswith("--")]
            plain = [o for o in options if not o.startswith("-")]
            short = [o for o in options if o.startswith("-")]
            chosen = long[0][2:] if long else plain[0] if plain else short[0][1:] if short else None
            dest = chosen.replace("-", "_") if chosen else None
        if dest:
            long_options = [o for o in options if o.startswith("--")]
            option = long_options[0] if long_options else options[0] if options else dest
            self.rec.argparse[dest] = (keywords.get("default"), node.lineno, option)

    # -- scopes -----------------------------------------------------------------------------
    def resolve(self, name: str, owner: ast.AST, line: int) -> _Binding | None:
        """The binding ``name`` most likely has at ``line`` (innermost scope, last before)."""
        scope: ast.AST | None = owner
        while scope is not None:
            found = self.rec.bindings.get((id(scope), name))
            if found:
                before = [b for b in found if b.line <= line]
                return (before or found)[-1]
            if scope is self.tree:
                return None
            if name in self.rec.params.get(id(scope), {}):
                return None  # a parameter: see parameter_value
            scope = self.rec.owner_of.get(id(scope), self.tree)
        return None

    def owner_with_param(self, name: str, owner: ast.AST) -> ast.AST | None:
        scope: ast.AST | None = owner
        while scope is not None and scope is not self.tree:
            if (id(scope), name) in self.rec.bindings:
                return None
            if name in self.rec.params.get(id(scope), {}):
                return scope
            scope = self.rec.owner_of.get(id(scope))
        return None

    # -- values -----------------------------------------------------------------------------
    def segment(self, node: ast.AST) -> str:
        return source_segment(self.lines, node, _MAX_TEXT)

    def value(self, node: ast.AST, ctx: _Context, depth: int = 0) -> _Value:
        """What ``node`` evaluates to, as far as reading the script can tell."""
        known, literal = literal_value(node)
        if known:
            return _Value(True, literal)
        if depth >= _MAX_DEPTH:
            return _Value(False, via="too many steps to follow")
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
                return _Value(False, formula=["or", *[_formula(p) for p in parts]])
            return _Value(False, via="depends on a value that could not be read")
        if isinstance(node, ast.IfExp):
            body, other = self.value(node.body, ctx, depth + 1), self.value(node.orelse, ctx, depth + 1)
            if body.known and other.known and body.value == other.value:
                return body
            shown = [repr(p.value) if p.known else "?" for p in (body, other)]
            return _Value(False, via=f"one of {shown[0]} or {shown[1]}, chosen at run time")
        if isinstance(node, ast.Attribute):
            return self._attribute_value(node, ctx, depth)
        if isinstance(node, ast.Subscript):
            return self._subscript_value(node, ctx, depth)
        return _Value(False)

    def _name_value(self, name: str, ctx: _Context, line: int, depth: int) -> _Value:
        binding = self.resolve(name, ctx.owner, line)
        if binding is not None:
            if binding.kind in ("value", "call", "other"):
                owner_ctx = _Context(binding.owner, None, None, None, ctx.method)
                result = self.value(binding.node, owner_ctx, depth + 1)
                if not result.via and not result.known and result.formula is None:
                    result.via = f"{name} = {self.segment(binding.node)}"
                return result
            return _Value(False)
        function = self.owner_with_param(name, ctx.owner)
        if function is not None:
            return self._parameter_value(function, name, depth)
        return _Value(False)

    def _parameter_value(self, function: ast.AST, name: str, depth: int) -> _Value:
        """A parameter's value from the function's call sites in this file, or its default."""
        index, default = self.rec.params[id(function)][name]
        function_name = getattr(function, "name", "")
        callers: list[_Site] = []
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
        results: list[_Value] = []
        for site in callers:
            call = site.node
            assert isinstance(call, ast.Call)
            argument = next((k.value for k in call.keywords if k.arg == name), None)
            position = index - skip_self
            if argument is None and 0 <= position < len(call.args):
                candidate = call.args[position]
                if not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
                    argument = candidate
            if argument is None:
                if any(k.arg is None for k in call.keywords):
                    results.append(_Value(False, via=f"passed to {function_name}() via **kwargs"))
                    continue
                argument = default
            if argument is None:
                results.append(_Value(False))
                continue
            results.append(self.value(argument, site.ctx, depth + 1))
        if not callers:
            if default is None:
                return _Value(False, via=f"parameter {name} of {function_name}()")
            result = self.value(default, _Context(self.tree, None, None, None, None), depth + 1)
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
            return _Value(False, via=f"{name} of {function_name}() is one of {', '.join(known)}")
        return _Value(False, via=first.via or f"parameter {name} of {function_name}()")

    def _call_value(self, node: ast.Call, ctx: _Context, depth: int) -> _Value:
        name = _call_name(node.func)
        args = node.args
        if name in ("int", "round", "float") and len(args) == 1:
            inner = self.value(args[0], ctx, depth + 1)
            if inner.known and isinstance(inner.value, (int, float)):
                return _Value(True, int(inner.value) if name != "float" else inner.value, via=inner.via)
            if inner.formula is not None:
                return _Value(False, formula=["int", inner.formula], via=inner.via)
            return inner
        if name in ("min", "max"):
            items: list[ast.AST] = list(args)
            if len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
                items = list(args[0].elts)
            parts = [self.value(a, ctx, depth + 1) for a in items]
            if parts and all(p.known and isinstance(p.value, (int, float)) for p in parts):
                values = [p.value for p in parts]
                return _Value(True, min(values) if name == "min" else max(values))
            if parts and all(p.known or p.formula is not None for p in parts):
                return _Value(False, formula=[name, *[_formula(p) for p in parts]])
            if name == "min":
                bounds = [p.value for p in parts if p.known and isinstance(p.value, int)]
                if bounds:
                    return _Value(False, via=f"at most {min(bounds)} (min of values not all read)")
            return _Value(False, via="min/max of values that could not be read")
        if name in CPU_COUNT_CALLS:
            for keyword in node.keywords:
                if keyword.arg == "logical" and literal_value(keyword.value) == (True, False):
                    return _Value(False, formula=["cpus"], via="physical cores (at most cpu_count)")
            return _Value(False, formula=["cpus"])
        if name == "len" and len(args) == 1 and isinstance(args[0], ast.Call):
            if _call_name(args[0].func) == "sched_getaffinity":
                return _Value(False, formula=["usable_cpus"])
        if name == "get_context" and args:
            return self.value(args[0], ctx, depth + 1)
        if name in ("getenv", "get") and _dotted(node.func).startswith(("os.", "os.environ")):
            if len(args) >= 2:
                default = self.value(args[1], ctx, depth + 1)
                key = self.segment(args[0])
                return _Value(False, via=f"environment variable {key}, default {default.value!r}")
        return _Value(False)

    def _binop_value(self, node: ast.BinOp, ctx: _Context, depth: int) -> _Value:
        ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/"}
        op = ops.get(type(node.op))
        if op is None:
            return _Value(False)
        left, right = self.value(node.left, ctx, depth + 1), self.value(node.right, ctx, depth + 1)
        if left.known and right.known:
            try:
                result = _apply(op, left.value, right.value)
            except (ArithmeticError, TypeError, ValueError):
                return _Value(False)
            return _Value(True, result)
        if (left.known or left.formula is not None) and (right.known or right.formula is not None):
            return _Value(False, formula=[op, _formula(left), _formula(right)])
        return _Value(False)

    def _attribute_value(self, node: ast.Attribute, ctx: _Context, depth: int) -> _Value:
        receiver = node.value
        if isinstance(receiver, ast.Name) and receiver.id == "self" and ctx.method is not None:
            sites = self.rec.self_attrs.get((ctx.method[0], node.attr), [])
            if len(sites) == 1:
                return self.value(sites[0].node, sites[0].ctx, depth + 1)
            return _Value(False)
        dotted = _dotted(node)
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
                    return _Value(False, via=f"{option} has no default (line {line})")
                result = self.value(default, _Context(self.tree, None, None, None, None), depth + 1)
                result.via = (
                    f"default of {option} (line {line}); the command line may change it"
                )
                return result
        return _Value(False)

    def _subscript_value(self, node: ast.Subscript, ctx: _Context, depth: int) -> _Value:
        key = literal_value(node.slice)
        if not key[0] or not isinstance(key[1], str):
            return _Value(False)
        items, _complete = self.dict_of(node.value, ctx, getattr(node, "lineno", 0), depth + 1)
        if items is not None and key[1] in items:
            value_node, value_ctx = items[key[1]]
            return self.value(value_node, value_ctx, depth + 1)
        return _Value(False)

    def dict_of(
        self, node: ast.AST, ctx: _Context, line: int, depth: int = 0
    ) -> tuple[dict[str, tuple[ast.AST, _Context]] | None, bool]:
        """Keys of a dict built in this scope: literal, dict(...), ``**`` merges, updates."""
        if depth >= _MAX_DEPTH:
            return None, False
        if isinstance(node, ast.Dict):
            items: dict[str, tuple[ast.AST, _Context]] = {}
            complete = True
            for key, value in zip(node.keys, node.values):
                if key is None:
                    inner, ok = self.dict_of(value, ctx, line, depth + 1)
                    if inner is None:
                        complete = False
                    else:
                        items.update(inner)
                        complete = complete and ok
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    items[key.value] = (value, ctx)
                else:
                    complete = False
            return items, complete
        if isinstance(node, ast.Call) and _call_name(node.func) == "dict":
            items, complete = {}, True
            for arg in node.args:
                inner, ok = self.dict_of(arg, ctx, line, depth + 1)
                if inner is None:
                    complete = False
                else:
                    items.update(inner)
                    complete = complete and ok
            for keyword in node.keywords:
                if keyword.arg is None:
                    inner, ok = self.dict_of(keyword.value, ctx, line, depth + 1)
                    if inner is None:
                        complete = False
                    else:
                        items.update(inner)
                        complete = complete and ok
                else:
                    items[keyword.arg] = (keyword.value, ctx)
            return items, complete
        if isinstance(node, ast.Name):
            binding = self.resolve(node.id, ctx.owner, line)
            if binding is None or binding.kind not in ("other", "call"):
                return None, False
            base_ctx = _Context(binding.owner, None, None, None, ctx.method)
            found, complete = self.dict_of(binding.node, base_ctx, binding.line, depth + 1)
            if found is None:
                return None, False
            items = dict(found)
            for change_line, key, value, change_ctx in self.rec.dict_changes.get(
                (id(binding.owner), node.id), []
            ):
                if not binding.line <= change_line <= line:
                    continue
                if key is not None:
                    items[key] = (value, change_ctx)
                    continue
                inner, ok = self.dict_of(value, change_ctx, change_line, depth + 1)
                if inner is None:
                    complete = False
                else:
                    items.update(inner)
                    complete = complete and ok
            return items, complete
        return None, False

    def setting(self, node: ast.AST, ctx: _Context) -> dict[str, Any]:
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
            record["via"] = result.via or f"{describe_formula(result.formula)}: depends on the CPU count"
        elif result.via:
            record["via"] = result.via
        return record

    # -- picklability -----------------------------------------------------------------------
    def pickling_problems(
        self, node: ast.AST, ctx: _Context, depth: int = 0, seen: set[int] | None = None
    ) -> list[tuple[ast.AST, str, str]]:
        """(where defined, kind, name) for things in ``node`` that spawn cannot send."""
        seen = set() if seen is None else seen
        if depth > _MAX_PICKLE_DEPTH or id(node) in seen:
            return []
        seen.add(id(node))
        if isinstance(node, ast.Lambda):
            return [(node, "lambda", "lambda")]
        if isinstance(node, ast.Name):
            line = getattr(node, "lineno", 0)
            binding = self.resolve(node.id, ctx.owner, line)
            if binding is None:
                return []
            # every definition that may reach this use: `if mixup: def collate_fn(...)` /
            # `else: collate_fn = default_collate` hands the nested function on one branch
            candidates = [
                b
                for b in self.rec.bindings.get((id(binding.owner), node.id), [binding])
                if b.line <= line
            ] or [binding]
            problems: list[tuple[ast.AST, str, str]] = []
            for candidate in candidates:
                problem = self._binding_problem(candidate)
                if problem:
                    problems.append((candidate.node, problem, node.id))
                elif candidate.kind in ("call", "other"):
                    inner_ctx = _Context(candidate.owner, None, None, None, ctx.method)
                    inner = self.pickling_problems(candidate.node, inner_ctx, depth + 1, seen)
                    problems += [(w, kind, f"{node.id} ({name})") for w, kind, name in inner]
            return problems
        if isinstance(node, ast.Call):
            found: list[tuple[ast.AST, str, str]] = []
            callee = node.func
            if isinstance(callee, ast.Name):
                binding = self.resolve(callee.id, ctx.owner, getattr(callee, "lineno", 0))
                if binding is not None and binding.kind == "class":
                    problem = self._binding_problem(binding)
                    if problem:
                        found.append((binding.node, f"instance of a {problem}", callee.id))
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                found.extend(self.pickling_problems(arg, ctx, depth + 1, seen))
            return found
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            found = []
            for element in node.elts:
                found.extend(self.pickling_problems(element, ctx, depth + 1, seen))
            return found
        if isinstance(node, ast.Dict):
            found = []
            for element in node.values:
                found.extend(self.pickling_problems(element, ctx, depth + 1, seen))
            return found
        return []

    def _binding_problem(self, binding: _Binding) -> str | None:
        if binding.kind == "lambda":
            return "lambda"
        if binding.kind in ("function", "class"):
            what = "function" if binding.kind == "function" else "class"
            if binding.owner is not self.tree:
                return "nested function" if what == "function" else "locally defined class"
            if binding.in_guard:
                return f"{what} defined inside the __main__ guard"
        return None

    # -- worker starts ----------------------------------------------------------------------
    def is_loaderish(self, node: ast.AST, loader_vars: set[str], depth: int = 0) -> bool:
        if depth > 3:
            return False
        if isinstance(node, ast.Name):
            return node.id in loader_vars or "loader" in node.id.lower()
        if isinstance(node, ast.Attribute):
            return "loader" in node.attr.lower()
        if isinstance(node, ast.Subscript):
            return self.is_loaderish(node.value, loader_vars, depth + 1)
        if isinstance(node, ast.Call):
            if _call_name(node.func) in self.loader_names:
                return True
            if "loader" in _call_name(node.func).lower():
                return True
            if _call_name(node.func) in _WRAPPERS:
                return any(self.is_loaderish(a, loader_vars, depth + 1) for a in node.args)
        return False

    def trainer_of(self, site: _Site) -> dict[str, Any] | None:
        """The framework behind ``x.train()`` / ``x.fit()``, or None for other calls."""
        call = site.node
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
        method, receiver = call.func.attr, call.func.value
        ctor = receiver if isinstance(receiver, ast.Call) else None
        receiver_name = receiver.id if isinstance(receiver, ast.Name) else ""
        if isinstance(receiver, ast.Name):
            binding = self.resolve(receiver.id, site.ctx.owner, call.lineno)
            if binding is not None and isinstance(binding.node, ast.Call):
                ctor = binding.node
        ctor_name = _call_name(ctor.func) if ctor is not None else ""
        ctor_base = ""
        if ctor is not None and isinstance(ctor.func, ast.Attribute):
            ctor_base = _call_name(ctor.func.value)
        keywords = {k.arg for k in call.keywords if k.arg}
        origin = self.rec.imports.get(ctor_name, "")
        local_class = self.rec.classes.get(ctor_name)
        if method == "train" and ctor_name in fw.ULTRALYTICS_MODELS and (
            origin.startswith("ultralytics") or (local_class is None and not origin)
        ):
            return {"framework": "ultralytics", "ctor": ctor}
        if method in fw.MMENGINE_METHODS and (
            ctor_name in fw.MMENGINE_RUNNERS or (ctor_name == "from_cfg" and ctor_base in fw.MMENGINE_RUNNERS)
        ):
            return {"framework": "mmengine", "ctor": ctor}
        if ctor is not None and ctor_name in fw.DETECTRON2_TRAINERS or (
            local_class is not None and _bases(local_class) & fw.DETECTRON2_TRAINERS
        ):
            if method == "train":
                return {"framework": "detectron2", "ctor": ctor}
        if ctor is not None and ctor_name in fw.HF_TRAINERS and method == "train":
            ctor_keywords = {k.arg for k in ctor.keywords if k.arg}
            hf = origin.startswith(fw.HF_MODULES) or (
                not origin.startswith(fw.LIGHTNING_MODULES)
                and bool(ctor_keywords & {"args", "train_dataset", "model"})
                and not ctor_keywords & fw.LIGHTNING_KEYWORDS
            )
            if hf:
                return {"framework": "huggingface", "ctor": ctor}
        if method in fw.LIGHTNING_METHODS and ctor is not None and ctor_name == "Trainer":
            return {"framework": "lightning", "ctor": ctor}
        if local_class is not None and (local_class.name, method) in self.rec.method_events:
            return {"framework": "script", "ctor": ctor}
        if method == "train" and keywords & fw.ULTRALYTICS_KEYWORDS and not call.args:
            return {"framework": "ultralytics-like", "ctor": ctor}
        if method == "fit" and (call.args or keywords):
            if receiver_name.lower() in _RUNNER_NAMES or keywords & {
                "datamodule",
                "train_dataloaders",
                "dataloaders",
            }:
                return {"framework": "lightning", "ctor": ctor}
            return {"framework": "unrecognised", "ctor": ctor}
        if receiver_name.lower() in _RUNNER_NAMES and method in _RUNNER_METHODS:
            return {"framework": "unrecognised", "ctor": ctor}
        return None

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        rec = self.rec
        loader_vars = self.loader_vars
        events: dict[int, list[tuple[int, str]]] = {}  # id(top statement) -> (line, what)
        for site in rec.iterations:
            if self.is_loaderish(site.node, loader_vars):
                self._event(events, site, "iterates a DataLoader")
        trainers: list[dict[str, Any]] = []
        trainer_loaders: list[dict[str, Any]] = []
        cache: dict[str, Any] | None = None
        for site in rec.method_calls:
            found = self.trainer_of(site)
            if found is None:
                continue
            self._event(events, site, f"{found['framework']} trainer")
            record, loader, site_cache = self._trainer_record(site, found)
            trainers.append(record)
            if loader is not None:
                trainer_loaders.append(loader)
            cache = cache or site_cache
        functions = rec.functions
        worker_funcs = self._worker_functions(events, functions)
        import_time = [
            stmt
            for stmt in self.tree.body
            if stmt not in self.guards
            and not isinstance(
                stmt, (*_DEFS, ast.ClassDef, ast.Import, ast.ImportFrom)
            )
        ]
        called_at_import = self._called_from(import_time, functions)
        worker_starts = []
        for stmt in import_time:
            own = events.get(id(stmt))
            calls = rec.top_calls.get(id(stmt), set()) & worker_funcs
            if own or calls:
                worker_starts.append(
                    {
                        "line": stmt.lineno,
                        "end_line": getattr(stmt, "end_lineno", None) or stmt.lineno,
                        "text": self._first_line(stmt),
                    }
                )
        loaders, unpicklable = [], []
        for site in sorted(rec.loader_calls, key=lambda s: (s.node.lineno, s.node.col_offset)):  # type: ignore[attr-defined]
            given = self._arguments(site)
            loaders.append(self._loader_record(site, given, called_at_import))
            unpicklable.extend(self._unpicklable_record(site, given))
        for site in rec.factory_calls:
            loaders.append(self._factory_record(site, called_at_import))
        for loader in trainer_loaders:
            loaders.append(loader)
        for record in trainers:
            record["runs_at_import"] = self._runs_at_import(record.pop("_site"), called_at_import)
        return {
            "path": self.path,
            "kind": "script",
            "understood": True,
            "reason": "",
            "loaders": loaders,
            "unpicklable": unpicklable,
            "start_methods": self._start_methods(),
            "main_guard": {
                "present": bool(self.guards),
                "line": self.guards[0].lineno if self.guards else None,
            },
            "worker_starts": worker_starts,
            "unguarded_code": self._span(import_time),
            "cache": cache,
            "trainers": trainers,
            "understands": list(fw.UNDERSTOOD),
            "notes": self.notes,
        }

    def _event(self, events: dict[int, list[tuple[int, str]]], site: _Site, what: str) -> None:
        line = getattr(site.node, "lineno", 0)
        if site.ctx.method is not None:
            self.rec.method_events[site.ctx.method] = line
        if site.ctx.top is not None and site.ctx.guard != "body":
            events.setdefault(id(site.ctx.top), []).append((line, what))

    def _worker_functions(
        self, events: dict[int, list[tuple[int, str]]], functions: dict[str, ast.AST]
    ) -> set[str]:
        found = {name for name, func in functions.items() if id(func) in events}
        changed = True
        while changed:
            changed = False
            for name, func in functions.items():
                if name not in found and self.rec.top_calls.get(id(func), set()) & found:
                    found.add(name)
                    changed = True
        return found

    def _called_from(self, statements: list[ast.stmt], functions: dict[str, ast.AST]) -> set[str]:
        """Module-level functions that run during import (called from unguarded code)."""
        pending = [n for stmt in statements for n in self.rec.top_calls.get(id(stmt), set())]
        called: set[str] = set()
        while pending:
            name = pending.pop()
            if name in functions and name not in called:
                called.add(name)
                pending.extend(self.rec.top_calls.get(id(functions[name]), set()))
        return called

    def _runs_at_import(self, site: _Site, called_at_import: set[str]) -> bool:
        top = site.ctx.top
        if top is None:
            return False
        if top in self.guards:
            return site.ctx.guard != "body"
        if isinstance(top, _DEFS):
            return top.name in called_at_import
        if isinstance(top, ast.ClassDef):
            return False
        return True

    def _scope(self, site: _Site) -> str:
        top = site.ctx.top
        if top in self.guards:
            return "__main__ guard"
        if isinstance(top, _DEFS):
            return f"function {top.name}()"
        if isinstance(top, ast.ClassDef):
            return f"class {top.name}"
        return "module level"

    def _span(self, statements: list[ast.stmt]) -> dict[str, int] | None:
        """First and last line of the code that runs on import (docstrings, constants aside)."""
        code = [
            s
            for s in statements
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            and not (isinstance(s, ast.Assign) and literal_value(s.value)[0])
        ]
        if not code:
            return None
        last = code[-1]
        return {"first_line": code[0].lineno, "last_line": last.end_lineno or last.lineno}

    def _first_line(self, stmt: ast.stmt) -> str:
        line = self.lines[stmt.lineno - 1].strip() if stmt.lineno <= len(self.lines) else ""
        return line if len(line) <= _MAX_TEXT else line[: _MAX_TEXT - 3] + "..."

    def _arguments(self, site: _Site) -> dict[str, tuple[ast.AST, _Context]]:
        call = site.node
        assert isinstance(call, ast.Call)
        given: dict[str, tuple[ast.AST, _Context]] = {}
        self._incomplete = False
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                self.notes.append(f"line {call.lineno}: DataLoader(*args): settings incomplete")
                self._incomplete = True
                break
            if index < len(POSITIONAL_PARAMETERS):
                given[POSITIONAL_PARAMETERS[index]] = (arg, site.ctx)
        for keyword in call.keywords:
            if keyword.arg is not None:
                given[keyword.arg] = (keyword.value, site.ctx)
                continue
            items, complete = self.dict_of(keyword.value, site.ctx, call.lineno)
            if items is None:
                self.notes.append(
                    f"line {call.lineno}: DataLoader(**{self.segment(keyword.value)}): "
                    "the dict could not be read; settings incomplete"
                )
                self._incomplete = True
                continue
            if not complete:
                self._incomplete = True
            for key, value in items.items():
                given.setdefault(key, value)
        return given

    def _loader_record(
        self,
        site: _Site,
        given: dict[str, tuple[ast.AST, _Context]],
        called_at_import: set[str],
    ) -> dict[str, Any]:
        call = site.node
        assert isinstance(call, ast.Call)
        settings = {k: self.setting(v, c) for k, (v, c) in given.items() if k in SETTINGS}
        return {
            "label": f"DataLoader at line {call.lineno}",
            "line": call.lineno,
            "end_line": getattr(call, "end_lineno", None) or call.lineno,
            "scope": self._scope(site),
            "runs_at_import": self._runs_at_import(site, called_at_import),
            "settings": settings,
            "incomplete": self._incomplete,
        }

    def _factory_record(self, site: _Site, called_at_import: set[str]) -> dict[str, Any]:
        call = site.node
        assert isinstance(call, ast.Call)
        settings: dict[str, Any] = {}
        for keyword in call.keywords:
            meaning = _FACTORY_WORKER_KEYWORDS.get(keyword.arg or "") or _FACTORY_BATCH_KEYWORDS.get(
                keyword.arg or ""
            )
            if meaning and meaning not in settings:
                settings[meaning] = self.setting(keyword.value, site.ctx)
        name = _call_name(call.func)
        return {
            "label": f"{name}() at line {call.lineno}",
            "line": call.lineno,
            "end_line": getattr(call, "end_lineno", None) or call.lineno,
            "scope": self._scope(site),
            "runs_at_import": self._runs_at_import(site, called_at_import),
            "settings": settings,
            "incomplete": True,
            "factory": name,
        }

    def _trainer_record(
        self, site: _Site, found: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
        call = site.node
        assert isinstance(call, ast.Call)
        framework, ctor = found["framework"], found["ctor"]
        record: dict[str, Any] = {
            "framework": framework,
            "call": self.segment(call),
            "line": call.lineno,
            "_site": site,
        }
        settings: dict[str, Any] = {}
        cache = None
        assert isinstance(call.func, ast.Attribute)
        receiver = _dotted(call.func.value) or (
            f"{_call_name(ctor.func)}(...)" if isinstance(ctor, ast.Call) else "trainer"
        )
        label = f"{receiver}.{call.func.attr}() at line {call.lineno} ({framework})"
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        if framework in ("ultralytics", "ultralytics-like"):
            uses_cfg = "cfg" in keywords
            for key, meaning in (("workers", "num_workers"), ("batch", "batch_size")):
                if key in keywords:
                    settings[meaning] = self.setting(keywords[key], site.ctx)
                elif not uses_cfg:
                    settings[meaning] = _default_setting(
                        fw.ULTRALYTICS_DEFAULTS[key], fw.ULTRALYTICS_SOURCE, call.lineno
                    )
            if "cache" in keywords:
                cache = self.setting(keywords["cache"], site.ctx)
                value = cache["value"] if cache["known"] else None
                mode = "ram" if value is True else value.lower() if isinstance(value, str) else None
                cache["mode"] = mode if mode in ("ram", "disk") else None
                imgsz = self.value(keywords["imgsz"], site.ctx) if "imgsz" in keywords else None
                cache["imgsz"] = (
                    imgsz.value
                    if imgsz is not None and imgsz.known and isinstance(imgsz.value, int)
                    else fw.ULTRALYTICS_DEFAULTS["imgsz"]
                )
        elif framework == "huggingface" and ctor is not None:
            settings = self._hf_settings(ctor, site.ctx, call.lineno)
        elif framework == "detectron2":
            workers = self._attribute_setting("DATALOADER.NUM_WORKERS", site.ctx)
            settings["num_workers"] = workers or _default_setting(
                fw.DETECTRON2_DEFAULT_WORKERS, fw.DETECTRON2_SOURCE, call.lineno
            )
            batch = self._attribute_setting("SOLVER.IMS_PER_BATCH", site.ctx)
            if batch:
                settings["batch_size"] = batch
        elif framework == "mmengine" and ctor is not None:
            return record, self._runner_loader(ctor, site, label), None
        elif framework == "lightning":
            return record, self._lightning_loader(call, site, label), None
        else:
            return record, None, None
        loader = {
            "label": label,
            "line": call.lineno,
            "end_line": getattr(call, "end_lineno", None) or call.lineno,
            "scope": self._scope(site),
            "runs_at_import": False,
            "settings": settings,
            "incomplete": "num_workers" not in settings,
            "framework": framework,
        }
        record["loader"] = label
        return record, loader, cache

    def _attribute_setting(self, suffix: str, ctx: _Context) -> dict[str, Any] | None:
        for dotted, sites in self.rec.attr_assigns.items():
            if dotted.endswith(suffix):
                site = sites[-1]
                return self.setting(site.node, site.ctx)
        return None

    def _hf_settings(self, ctor: ast.Call, ctx: _Context, line: int) -> dict[str, Any]:
        args = next((k.value for k in ctor.keywords if k.arg == "args"), None)
        if args is None and len(ctor.args) >= 2:
            args = ctor.args[1]
        arguments: ast.Call | None = None
        if isinstance(args, ast.Call):
            arguments = args
        elif isinstance(args, ast.Name):
            binding = self.resolve(args.id, ctx.owner, line)
            if binding is not None and isinstance(binding.node, ast.Call):
                if _call_name(binding.node.func) in fw.HF_ARGUMENTS:
                    arguments = binding.node
        if arguments is None:
            via = "TrainingArguments read from the command line or a file; default 0"
            return {
                "num_workers": {
                    "value": None,
                    "known": False,
                    "text": self.segment(args) if args is not None else "args",
                    "line": line,
                    "via": via,
                }
            }
        keywords = {k.arg: k.value for k in arguments.keywords if k.arg}
        settings: dict[str, Any] = {}
        if "dataloader_num_workers" in keywords:
            settings["num_workers"] = self.setting(keywords["dataloader_num_workers"], ctx)
        else:
            settings["num_workers"] = _default_setting(
                fw.HF_DEFAULT_WORKERS, fw.HF_SOURCE, arguments.lineno
            )
        if "per_device_train_batch_size" in keywords:
            settings["batch_size"] = self.setting(keywords["per_device_train_batch_size"], ctx)
        for key, meaning in (
            ("dataloader_persistent_workers", "persistent_workers"),
            ("dataloader_prefetch_factor", "prefetch_factor"),
        ):
            if key in keywords:
                settings[meaning] = self.setting(keywords[key], ctx)
        return settings

    def _runner_loader(self, ctor: ast.Call, site: _Site, label: str) -> dict[str, Any] | None:
        keywords = {k.arg: k.value for k in ctor.keywords if k.arg}
        loader_node = keywords.get("train_dataloader")
        settings: dict[str, Any] = {}
        if loader_node is not None:
            items, _ = self.dict_of(loader_node, site.ctx, ctor.lineno)
            if items is None:
                return None  # a DataLoader object: its own call is read
            for key, meaning in (("num_workers", "num_workers"), ("batch_size", "batch_size")):
                if key in items:
                    settings[meaning] = self.setting(*items[key])
            if "num_workers" not in settings:
                settings["num_workers"] = _default_setting(0, "DataLoader default", ctor.lineno)
        else:
            settings["num_workers"] = {
                "value": None,
                "known": False,
                "text": self.segment(ctor),
                "line": ctor.lineno,
                "via": "set in the config's train_dataloader (pass the config with --config)",
            }
        return {
            "label": label,
            "line": ctor.lineno,
            "end_line": getattr(ctor, "end_lineno", None) or ctor.lineno,
            "scope": self._scope(site),
            "runs_at_import": False,
            "settings": settings,
            "incomplete": False,
            "framework": "mmengine",
        }

    def _lightning_loader(self, call: ast.Call, site: _Site, label: str) -> dict[str, Any] | None:
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        data = keywords.get("datamodule") or keywords.get("train_dataloaders")
        if data is None and len(call.args) >= 2:
            data = call.args[1]
        if data is None:
            return None  # loaders come from the LightningModule: its DataLoader calls are read
        ctor: ast.AST | None = data
        if isinstance(data, ast.Name):
            binding = self.resolve(data.id, site.ctx.owner, call.lineno)
            ctor = binding.node if binding is not None else None
        if not isinstance(ctor, ast.Call):
            return None
        name = _call_name(ctor.func)
        if name in self.loader_names or name in self.rec.classes:
            return None  # read from the DataLoader calls in this file
        if any(k.arg in _FACTORY_WORKER_KEYWORDS for k in ctor.keywords):
            return None  # read as a loader factory
        return {
            "label": f"{name}() at line {ctor.lineno} (datamodule, lightning)",
            "line": ctor.lineno,
            "end_line": getattr(ctor, "end_lineno", None) or ctor.lineno,
            "scope": self._scope(site),
            "runs_at_import": False,
            "settings": {
                "num_workers": {
                    "value": None,
                    "known": False,
                    "text": self.segment(ctor),
                    "line": ctor.lineno,
                    "via": f"set inside {name}, which is not in this file",
                }
            },
            "incomplete": True,
            "framework": "lightning",
        }

    def _unpicklable_record(
        self, site: _Site, given: dict[str, tuple[ast.AST, _Context]]
    ) -> list[dict[str, Any]]:
        call = site.node
        assert isinstance(call, ast.Call)
        records = []
        for argument, (node, ctx) in given.items():
            if argument not in PICKLED_ARGUMENTS:
                continue
            for where, kind, name in self.pickling_problems(node, ctx):
                line = getattr(where, "lineno", call.lineno)
                records.append(
                    {
                        "argument": argument,
                        "kind": kind,
                        "name": name,
                        "line": line,
                        "defined_at": self.segment(where) if line != call.lineno else "",
                        "used_at": getattr(node, "lineno", call.lineno),
                        "loader_line": call.lineno,
                        "text": self.segment(node),
                    }
                )
        return records

    def _start_methods(self) -> list[dict[str, Any]]:
        found = []
        for site in self.rec.start_calls:
            call = site.node
            assert isinstance(call, ast.Call)
            result = self.value(call.args[0], site.ctx)
            found.append(
                {
                    "method": result.value if result.known and isinstance(result.value, str) else None,
                    "line": call.lineno,
                    "text": self.segment(call),
                    "call": _dotted(call.func),
                    "guarded": site.ctx.top in self.guards and site.ctx.guard == "body",
                }
            )
        return sorted(found, key=lambda r: r["line"])


def _default_setting(value: int, source: str, line: int) -> dict[str, Any]:
    return {"value": value, "known": True, "text": f"{value} ({source})", "line": line, "via": source}


def _formula(value: _Value) -> Any:
    return value.value if value.known else value.formula


def _apply(op: str, left: Any, right: Any) -> Any:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "//":
        return left // right
    return left / right


def _parameters(args: ast.arguments) -> dict[str, tuple[int, ast.AST | None]]:
    """Each parameter's position (-1 for keyword-only) and default."""
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.AST | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    found: dict[str, tuple[int, ast.AST | None]] = {
        arg.arg: (index, defaults[index]) for index, arg in enumerate(positional)
    }
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        found[arg.arg] = (-1, default)
    return found


def _push_children(node: ast.AST, ctx: _Context, stack: list[tuple[ast.AST, _Context]]) -> None:
    children: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            children.extend(v for v in value if isinstance(v, ast.AST))
        elif isinstance(value, ast.AST):
            children.append(value)
    for child in reversed(children):
        stack.append((child, ctx))


def _is_factory(name: str) -> bool:
    lowered = name.lower()
    return "loader" in lowered or "datamodule" in lowered


def _bases(cls: ast.ClassDef) -> set[str]:
    return {_call_name(base) for base in cls.bases}


def _is_main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either operand order, ``==`` only)."""
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main


def _call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif parts:
        return ""
    return ".".join(reversed(parts))


def _value_kind(value: ast.AST) -> str:
    if isinstance(value, ast.Lambda):
        return "lambda"
    if isinstance(value, ast.Call):
        return "call"
    if literal_value(value)[0]:
        return "value"
    return "other"
