"""One walk over a training script's syntax tree, recording what the readers look up later.

Walking every node once is most of the cost of reading a large script, so this walk records
bindings (per scope, with lines), parameters, ``self.x`` and dotted attribute assignments,
dict updates, argparse options, calls by name and kind, loops, imports and which
top-level statements call which functions. Everything later is a lookup in that record.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from dataclasses import field

from gpudoctor.readers.python_source import literal_value
from gpudoctor.readers.python_source import source_segment
from gpudoctor.readers.python_source import split_lines

#: Method names that run a training or evaluation loop when a trainer object calls them.
RUNNER_METHODS = {"train", "validate", "test", "predict", "run", "val", "fit"}
RUNNER_NAMES = {"trainer", "runner", "engine", "learner", "learn", "pl_trainer"}
FACTORY_WORKER_KEYWORDS = {"num_workers": "num_workers", "workers": "num_workers"}
FACTORY_BATCH_KEYWORDS = {"batch_size": "batch_size", "batch": "batch_size"}
MAX_TEXT = 100
MAX_DEPTH = 6
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Binding:
    """What a name means in one scope: a def, a class, a lambda, a call result, a value."""

    kind: str  # "function", "class", "lambda", "call", "value", "other"
    node: ast.AST
    owner: ast.AST  # the module or the function whose local it is
    in_guard: bool
    line: int


@dataclass
class Context:
    owner: ast.AST
    top: ast.stmt | None
    guard: str | None  # None, "body" or "else" of the __main__ guard
    class_body: ast.ClassDef | None  # directly in this class's body
    method: tuple[str, str] | None  # (class, method) for code inside a method


@dataclass
class Site:
    node: ast.AST
    ctx: Context


@dataclass
class Record:
    """Everything the single walk collects."""

    bindings: dict[tuple[int, str], list[Binding]] = field(default_factory=dict)
    function_nodes: dict[int, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda] = field(
        default_factory=dict
    )
    params: dict[int, dict[str, tuple[int, ast.AST | None]]] = field(default_factory=dict)
    attr_assigns: dict[str, list[Site]] = field(default_factory=dict)
    self_attrs: dict[tuple[str, str], list[Site]] = field(default_factory=dict)
    dict_changes: dict[tuple[int, str], list[tuple[int, str | None, ast.AST, Context]]] = field(
        default_factory=dict
    )
    argparse: dict[str, tuple[ast.AST | None, int, str]] = field(default_factory=dict)
    calls_by_name: dict[str, list[Site]] = field(default_factory=dict)
    loader_calls: list[Site] = field(default_factory=list)
    factory_calls: list[Site] = field(default_factory=list)
    method_calls: list[Site] = field(default_factory=list)
    start_calls: list[Site] = field(default_factory=list)
    iterations: list[Site] = field(default_factory=list)
    top_calls: dict[int, set[str]] = field(default_factory=dict)
    method_events: dict[tuple[str, str], int] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    functions: dict[str, ast.AST] = field(default_factory=dict)
    owner_of: dict[int, ast.AST] = field(default_factory=dict)  # function -> enclosing owner
    class_of: dict[int, str] = field(default_factory=dict)  # method -> class name


class ScriptScan:
    """The record of one walk; :class:`Record` holds what was found."""

    def __init__(self, tree: ast.Module, text: str, path: str) -> None:
        self.tree = tree
        self.lines = split_lines(text)
        self.path = path
        self.guards = [stmt for stmt in tree.body if is_main_guard(stmt)]
        self.loader_names = {"DataLoader"}
        self.loader_vars: set[str] = set()
        self.notes: list[str] = []
        self.rec = Record()
        self._walk()

    def _walk(self) -> None:
        rec = self.rec
        stack: list[tuple[ast.AST, Context]] = []
        for stmt in reversed(self.tree.body):
            if stmt in self.guards:
                assert isinstance(stmt, ast.If)
                for child in reversed(stmt.orelse):
                    stack.append((child, Context(self.tree, stmt, "else", None, None)))
                for child in reversed(stmt.body):
                    stack.append((child, Context(self.tree, stmt, "body", None, None)))
            else:
                stack.append((stmt, Context(self.tree, stmt, None, None, None)))
        pop, push, leaves = stack.pop, stack.append, _LEAVES
        while stack:
            node, ctx = pop()
            kind = type(node)
            if kind in _SCOPES:
                self._enter(node, ctx, stack)
                continue
            if kind is ast.Call:
                self._call(node, ctx)  # type: ignore[arg-type]
            elif kind is ast.Assign or kind is ast.AnnAssign:
                self._assignment(node, ctx)  # type: ignore[arg-type]
            elif kind in _LOOPS:
                rec.iterations.append(Site(node.iter, ctx))  # type: ignore[attr-defined]
            if ctx.class_body is not None:  # what a class-level statement holds is not
                ctx = Context(ctx.owner, ctx.top, ctx.guard, None, ctx.method)
            start = len(stack)
            for name in node._fields:  # push children so that they pop in source order
                value = getattr(node, name, None)
                if value.__class__ is list:
                    for item in value:
                        if isinstance(item, ast.AST) and not isinstance(item, leaves):
                            push((item, ctx))
                elif isinstance(value, ast.AST) and not isinstance(value, leaves):
                    push((value, ctx))
            if len(stack) - start > 1:
                stack[start:] = stack[start:][::-1]

    def _enter(self, node: ast.AST, ctx: Context, stack: list[tuple[ast.AST, Context]]) -> None:
        """Definitions, lambdas and imports: record them and walk their bodies in scope."""
        rec = self.rec
        if isinstance(node, DEFS):
            self._bind(node.name, "function", node, node, ctx)
            rec.owner_of[id(node)] = ctx.owner
            if ctx.owner is self.tree and ctx.class_body is None and ctx.guard is None:
                rec.functions[node.name] = node
            method = ctx.method
            if ctx.class_body is not None:
                method = (ctx.class_body.name, node.name)
                rec.class_of[id(node)] = ctx.class_body.name
            rec.function_nodes[id(node)] = node
            inner = Context(node, ctx.top, ctx.guard, None, method)
            outer = Context(ctx.owner, ctx.top, ctx.guard, None, ctx.method)
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    stack.append((default, outer))
            for decorator in node.decorator_list:
                stack.append((decorator, outer))
            for stmt in reversed(node.body):
                stack.append((stmt, inner))
        elif isinstance(node, ast.ClassDef):
            self._bind(node.name, "class", node, node, ctx)
            if ctx.owner is self.tree:
                rec.classes[node.name] = node
            body = Context(ctx.owner, ctx.top, ctx.guard, node, ctx.method)
            for base in node.bases:
                stack.append((base, ctx))
            for stmt in reversed(node.body):
                stack.append((stmt, body))
        elif isinstance(node, ast.Lambda):
            rec.owner_of[id(node)] = ctx.owner
            rec.function_nodes[id(node)] = node
            stack.append((node.body, Context(node, ctx.top, ctx.guard, None, ctx.method)))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self._import(node)

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

    def _bind(self, name: str, kind: str, node: ast.AST, at: ast.AST, ctx: Context) -> None:
        if ctx.class_body is not None:
            return
        binding = Binding(kind, node, ctx.owner, ctx.guard == "body", getattr(at, "lineno", 0))
        self.rec.bindings.setdefault((id(ctx.owner), name), []).append(binding)

    def _assignment(self, node: ast.Assign | ast.AnnAssign, ctx: Context) -> None:
        value = node.value
        if value is None:
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                self._bind(target.id, value_kind(value), value, node, ctx)
                if isinstance(value, ast.Call) and call_name(value.func) in self.loader_names:
                    self.loader_vars.add(target.id)
            elif isinstance(target, ast.Attribute):
                dotted = dotted_name(target)
                if isinstance(target.value, ast.Name) and target.value.id == "self":
                    if ctx.method is not None:
                        key = (ctx.method[0], target.attr)
                        self.rec.self_attrs.setdefault(key, []).append(Site(value, ctx))
                elif dotted:
                    self.rec.attr_assigns.setdefault(dotted, []).append(Site(value, ctx))
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                known, literal = literal_value(target.slice)
                if known and isinstance(literal, str):
                    changes = self.rec.dict_changes.setdefault((id(ctx.owner), target.value.id), [])
                    changes.append((node.lineno, literal, value, ctx))

    def _call(self, node: ast.Call, ctx: Context) -> None:
        rec = self.rec
        name = call_name(node.func)
        if name:
            rec.calls_by_name.setdefault(name, []).append(Site(node, ctx))
        site = Site(node, ctx)
        if name in self.loader_names:
            rec.loader_calls.append(site)
        elif any(k.arg in FACTORY_WORKER_KEYWORDS for k in node.keywords) and is_factory(name):
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
                rec.iterations.append(Site(arg, ctx))
        if isinstance(node.func, ast.Attribute) and name in RUNNER_METHODS:
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

    def resolve(self, name: str, owner: ast.AST, line: int) -> Binding | None:
        """The binding ``name`` most likely has at ``line`` (innermost scope, last before)."""
        scope: ast.AST | None = owner
        while scope is not None:
            found = self.rec.bindings.get((id(scope), name))
            if found:
                before = [b for b in found if b.line <= line]
                return (before or found)[-1]
            if scope is self.tree:
                return None
            if name in self.params_of(scope):
                return None  # a parameter: see parameter_value
            scope = self.rec.owner_of.get(id(scope), self.tree)
        return None

    def params_of(self, function: ast.AST) -> dict[str, tuple[int, ast.AST | None]]:
        """Parameters of a function or lambda (position, default), worked out when needed."""
        found = self.rec.params.get(id(function))
        if found is None:
            node = self.rec.function_nodes.get(id(function))
            found = parameters(node.args) if node is not None else {}
            self.rec.params[id(function)] = found
        return found

    def owner_with_param(self, name: str, owner: ast.AST) -> ast.AST | None:
        scope: ast.AST | None = owner
        while scope is not None and scope is not self.tree:
            if (id(scope), name) in self.rec.bindings:
                return None
            if name in self.params_of(scope):
                return scope
            scope = self.rec.owner_of.get(id(scope))
        return None

    def _scope(self, site: Site) -> str:
        top = site.ctx.top
        if top in self.guards:
            return "__main__ guard"
        if isinstance(top, DEFS):
            return f"function {top.name}()"
        if isinstance(top, ast.ClassDef):
            return f"class {top.name}"
        return "module level"

    def segment(self, node: ast.AST) -> str:
        return source_segment(self.lines, node, MAX_TEXT)


def parameters(args: ast.arguments) -> dict[str, tuple[int, ast.AST | None]]:
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


#: Nodes that open a scope or bring names in: handled by ScriptScan._enter.
_SCOPES = frozenset(
    {ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.Import, ast.ImportFrom}
)
_LOOPS = frozenset({ast.For, ast.AsyncFor, ast.comprehension})

#: Nodes with nothing below them that the walk records: not pushed at all (about half of
#: a typical tree: names, constants, load/store markers, operators).
_LEAVES = (
    ast.Name,
    ast.Constant,
    ast.expr_context,
    ast.operator,
    ast.boolop,
    ast.unaryop,
    ast.cmpop,
    ast.alias,
    ast.Pass,
    ast.Break,
    ast.Continue,
    ast.Global,
    ast.Nonlocal,
)


def is_factory(name: str) -> bool:
    lowered = name.lower()
    return "loader" in lowered or "datamodule" in lowered


def base_names(cls: ast.ClassDef) -> set[str]:
    return {call_name(base) for base in cls.bases}


def is_main_guard(stmt: ast.stmt) -> bool:
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


def call_name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def dotted_name(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif parts:
        return ""
    return ".".join(reversed(parts))


def value_kind(value: ast.AST) -> str:
    if isinstance(value, ast.Lambda):
        return "lambda"
    if isinstance(value, ast.Call):
        return "call"
    if literal_value(value)[0]:
        return "value"
    return "other"
