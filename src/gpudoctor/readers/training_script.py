"""Read a training script with ``ast`` and find what breaks DataLoader workers under spawn.

The script is parsed, never imported or executed: a script whose import writes files, starts
training or deletes things is only read. What is found:

- every ``DataLoader(...)`` call and its settings (literals, and names bound to literals);
- the ``if __name__ == "__main__":`` guard, and the top-level statements that would start
  workers while the module is being imported (under spawn each worker re-imports the
  script and runs those statements again);
- lambdas, nested functions, locally defined classes (and instances of them) and objects
  defined inside the ``__main__`` guard that are handed to a DataLoader, which spawn cannot
  pickle or a worker cannot re-import;
- ``set_start_method(...)`` calls.

Everything is returned as JSON data with line numbers, ready to be a fact.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Any

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
)

#: Arguments that spawn pickles and sends to every worker.
PICKLED_ARGUMENTS = ("dataset", "sampler", "batch_sampler", "collate_fn", "worker_init_fn")

#: Method calls that run a training loop (and so iterate DataLoaders) in common frameworks.
_TRAINING_METHODS = {"fit", "fit_loop"}
_RUNNER_METHODS = {"train", "validate", "test", "predict", "run", "val"}
_RUNNER_NAMES = {"trainer", "runner", "engine", "learner", "learn", "pl_trainer"}
_WRAPPERS = {"enumerate", "iter", "next", "tqdm", "zip", "islice", "list", "trange"}

_MAX_TEXT = 100
_MAX_RESOLVE_DEPTH = 4
_MAX_PICKLE_DEPTH = 10

_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class _Binding:
    """What a name means in one scope: a def, a class, a lambda, a call result, a value."""

    kind: str  # "function", "class", "lambda", "call", "value", "other"
    node: ast.AST
    owner: ast.AST  # the module or the function whose local it is
    in_guard: bool


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
        self.text = text
        self.lines = split_lines(text)
        self.path = path
        self.parent: dict[ast.AST, ast.AST] = {}
        self.nodes: list[ast.AST] = []  # every node once: walking large files is the cost
        for node in ast.walk(tree):
            self.nodes.append(node)
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self.guards = [stmt for stmt in tree.body if _is_main_guard(stmt)]
        self.loader_names = _loader_aliases(tree)
        self.bindings: dict[tuple[int, str], list[_Binding]] = {}
        self._collect_bindings()
        self.notes: list[str] = []

    # -- scopes ---------------------------------------------------------------------------
    def top_statement(self, node: ast.AST) -> ast.AST:
        while node in self.parent and self.parent[node] is not self.tree:
            node = self.parent[node]
        return node

    def in_guard(self, node: ast.AST) -> bool:
        """True when ``node`` sits in the body (not the else) of a ``__main__`` guard."""
        child = node
        while child in self.parent:
            parent = self.parent[child]
            if parent in self.guards:
                return child in parent.body  # type: ignore[attr-defined]
            child = parent
        return False

    def owner(self, node: ast.AST) -> ast.AST:
        """The innermost function enclosing ``node``, or the module."""
        current = self.parent.get(node)
        while current is not None:
            if isinstance(current, _FUNCTION_NODES):
                return current
            current = self.parent.get(current)
        return self.tree

    def in_class_body(self, node: ast.AST) -> bool:
        current = self.parent.get(node)
        while current is not None and not isinstance(current, _FUNCTION_NODES):
            if isinstance(current, ast.ClassDef):
                return True
            current = self.parent.get(current)
        return False

    def _bind(self, name: str, kind: str, node: ast.AST, at: ast.AST) -> None:
        if self.in_class_body(at):
            return
        owner = self.owner(at)
        binding = _Binding(kind, node, owner, self.in_guard(at))
        self.bindings.setdefault((id(owner), name), []).append(binding)

    def _collect_bindings(self) -> None:
        for node in self.nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._bind(node.name, "function", node, node)
            elif isinstance(node, ast.ClassDef):
                self._bind(node.name, "class", node, node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self._bind(target.id, _value_kind(node.value), node.value, node)

    def resolve(self, name: str, at: ast.AST) -> _Binding | None:
        """The binding ``name`` most likely has at ``at`` (innermost scope, last assignment)."""
        scope: ast.AST | None = self.owner(at)
        while scope is not None:
            found = self.bindings.get((id(scope), name))
            if found:
                before = [b for b in found if getattr(b.node, "lineno", 0) <= at.lineno]  # type: ignore[attr-defined]
                return (before or found)[-1]
            scope = None if scope is self.tree else self.owner(scope)
        return None

    # -- values ---------------------------------------------------------------------------
    def segment(self, node: ast.AST) -> str:
        return source_segment(self.lines, node, _MAX_TEXT)

    def value_of(self, node: ast.AST, depth: int = 0) -> tuple[bool, Any]:
        """(known, value) for a literal, a name bound to one, or ``get_context("spawn")``."""
        literal = literal_value(node)
        if literal[0]:
            return literal
        if depth >= _MAX_RESOLVE_DEPTH:
            return False, None
        if isinstance(node, ast.Name):
            binding = self.resolve(node.id, node)
            if binding is not None and binding.kind in ("value", "call"):
                assignments = self.bindings.get((id(binding.owner), node.id), [])
                if binding.owner is self.tree and len(assignments) > 1:
                    return False, None  # reassigned at module level: which one is unclear
                return self.value_of(binding.node, depth + 1)
        if isinstance(node, ast.Call) and _call_name(node.func) == "get_context" and node.args:
            return self.value_of(node.args[0], depth + 1)
        return False, None

    def setting(self, node: ast.AST) -> dict[str, Any]:
        known, value = self.value_of(node)
        return {
            "value": value if known else None,
            "known": known,
            "text": self.segment(node),
            "line": node.lineno,
        }  # type: ignore[attr-defined]

    # -- picklability -----------------------------------------------------------------------
    def pickling_problems(
        self, node: ast.AST, depth: int = 0, seen: set[int] | None = None
    ) -> list[tuple[ast.AST, str, str]]:
        """(node, kind, name) for things in ``node`` that spawn cannot send to a worker."""
        seen = set() if seen is None else seen
        if depth > _MAX_PICKLE_DEPTH or id(node) in seen:
            return []
        seen.add(id(node))
        if isinstance(node, ast.Lambda):
            return [(node, "lambda", "lambda")]
        if isinstance(node, ast.Name):
            binding = self.resolve(node.id, node)
            if binding is None:
                return []
            problem = self._binding_problem(binding, node.id)
            if problem:
                return [(node, problem, node.id)]
            if binding.kind in ("call", "lambda", "other"):
                inner = self.pickling_problems(binding.node, depth + 1, seen)
                return [(node, kind, f"{node.id} ({name})") for _, kind, name in inner]
            return []
        if isinstance(node, ast.Call):
            found: list[tuple[ast.AST, str, str]] = []
            callee = node.func
            if isinstance(callee, ast.Name):
                binding = self.resolve(callee.id, callee)
                if binding is not None and binding.kind == "class":
                    problem = self._binding_problem(binding, callee.id)
                    if problem:
                        found.append((node, f"instance of a {problem}", callee.id))
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                found.extend(self.pickling_problems(arg, depth + 1, seen))
            return found
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            found = []
            for element in node.elts:
                found.extend(self.pickling_problems(element, depth + 1, seen))
            return found
        if isinstance(node, ast.Dict):
            found = []
            for element in node.values:
                found.extend(self.pickling_problems(element, depth + 1, seen))
            return found
        return []

    def _binding_problem(self, binding: _Binding, name: str) -> str | None:
        if binding.kind == "lambda":
            return "lambda"
        if binding.kind in ("function", "class"):
            what = "function" if binding.kind == "function" else "class"
            if binding.owner is not self.tree:
                return f"nested {what}" if what == "function" else "locally defined class"
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
        if isinstance(node, ast.Call):
            if self.is_loader_call(node):
                return True
            if _call_name(node.func) in _WRAPPERS:
                return any(self.is_loaderish(a, loader_vars, depth + 1) for a in node.args)
        return False

    def is_loader_call(self, node: ast.Call) -> bool:
        return _call_name(node.func) in self.loader_names

    def starts_workers(self, stmt: ast.AST, loader_vars: set[str], worker_funcs: set[str]) -> bool:
        """True when running ``stmt`` iterates a DataLoader or runs a training loop."""
        for node in ast.walk(stmt):
            if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                if self.is_loaderish(node.iter, loader_vars):
                    return True
            elif isinstance(node, ast.Call):
                name = _call_name(node.func)
                if name in ("iter", "next") and any(
                    self.is_loaderish(a, loader_vars) for a in node.args
                ):
                    return True
                if isinstance(node.func, ast.Name) and node.func.id in worker_funcs:
                    return True
                if isinstance(node.func, ast.Attribute):
                    if name in _TRAINING_METHODS:
                        return True
                    receiver = node.func.value
                    receiver_name = receiver.id.lower() if isinstance(receiver, ast.Name) else ""
                    if name in _RUNNER_METHODS and (
                        receiver_name in _RUNNER_NAMES
                        or any(k.arg in ("data", "epochs") for k in node.keywords)
                    ):
                        return True
        return False

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        calls = [n for n in self.nodes if isinstance(n, ast.Call)]
        loader_calls = sorted(
            (c for c in calls if self.is_loader_call(c)), key=lambda c: (c.lineno, c.col_offset)
        )
        loader_vars = {
            target.id
            for node in self.nodes
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and self.is_loader_call(node.value)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        functions = {
            stmt.name: stmt
            for stmt in self.tree.body
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        worker_funcs = self._fixpoint(
            functions, lambda f, known: self.starts_workers(f, loader_vars, known)
        )
        import_time = [
            stmt
            for stmt in self.tree.body
            if stmt not in self.guards
            and not isinstance(
                stmt,
                (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom),
            )
        ]
        called_at_import = self._called_from(import_time, functions)
        worker_starts = [
            {
                "line": stmt.lineno,
                "end_line": getattr(stmt, "end_lineno", None) or stmt.lineno,
                "text": self._first_line(stmt),
            }
            for stmt in import_time
            if self.starts_workers(stmt, loader_vars, worker_funcs)
        ]
        loaders, unpicklable = [], []
        for call in loader_calls:
            loaders.append(self._loader_record(call, functions, called_at_import))
            unpicklable.extend(self._unpicklable_record(call))
        return {
            "path": self.path,
            "kind": "script",
            "understood": True,
            "reason": "",
            "loaders": loaders,
            "unpicklable": unpicklable,
            "start_methods": self._start_methods(calls),
            "main_guard": {
                "present": bool(self.guards),
                "line": self.guards[0].lineno if self.guards else None,
            },
            "worker_starts": worker_starts,
            "unguarded_code": self._span(import_time),
            "cache": None,
            "notes": self.notes,
        }

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

    def _fixpoint(self, functions: dict[str, ast.AST], test: Any) -> set[str]:
        found: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, func in functions.items():
                if name not in found and test(func, found):
                    found.add(name)
                    changed = True
        return found

    def _called_from(self, statements: list[ast.stmt], functions: dict[str, ast.AST]) -> set[str]:
        """Module-level functions that run during import (called from unguarded code)."""
        pending = [n for stmt in statements for n in ast.walk(stmt)]
        called: set[str] = set()
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                name = node.func.id
                if name in functions and name not in called:
                    called.add(name)
                    pending.extend(ast.walk(functions[name]))
        return called

    def _first_line(self, stmt: ast.AST) -> str:
        line = self.lines[stmt.lineno - 1].strip() if stmt.lineno <= len(self.lines) else ""  # type: ignore[attr-defined]
        return line if len(line) <= _MAX_TEXT else line[: _MAX_TEXT - 3] + "..."

    def _arguments(self, call: ast.Call) -> dict[str, ast.AST]:
        given: dict[str, ast.AST] = {}
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                self.notes.append(f"line {call.lineno}: DataLoader(*args): settings incomplete")
                break
            if index < len(POSITIONAL_PARAMETERS):
                given[POSITIONAL_PARAMETERS[index]] = arg
        for keyword in call.keywords:
            if keyword.arg is None:
                self.notes.append(f"line {call.lineno}: DataLoader(**kwargs): settings incomplete")
            else:
                given[keyword.arg] = keyword.value
        return given

    def _loader_record(
        self, call: ast.Call, functions: dict[str, ast.AST], called_at_import: set[str]
    ) -> dict[str, Any]:
        given = self._arguments(call)
        top = self.top_statement(call)
        if top in self.guards:
            scope, at_import = "__main__ guard", not self.in_guard(call)
        elif isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope, at_import = f"function {top.name}()", top.name in called_at_import
        elif isinstance(top, ast.ClassDef):
            scope, at_import = f"class {top.name}", False
        else:
            scope, at_import = "module level", True
        return {
            "label": f"DataLoader at line {call.lineno}",
            "line": call.lineno,
            "end_line": getattr(call, "end_lineno", None) or call.lineno,
            "scope": scope,
            "runs_at_import": at_import,
            "settings": {k: self.setting(v) for k, v in given.items() if k in SETTINGS},
            "incomplete": any(isinstance(a, ast.Starred) for a in call.args)
            or any(k.arg is None for k in call.keywords),
        }

    def _unpicklable_record(self, call: ast.Call) -> list[dict[str, Any]]:
        records = []
        for argument, node in self._arguments(call).items():
            if argument not in PICKLED_ARGUMENTS:
                continue
            for where, kind, name in self.pickling_problems(node):
                records.append(
                    {
                        "argument": argument,
                        "kind": kind,
                        "name": name,
                        "line": getattr(where, "lineno", call.lineno),
                        "loader_line": call.lineno,
                        "text": self.segment(node),
                    }
                )
        return records

    def _start_methods(self, calls: list[ast.Call]) -> list[dict[str, Any]]:
        found = []
        for call in calls:
            if _call_name(call.func) != "set_start_method" or not call.args:
                continue
            known, method = self.value_of(call.args[0])
            top = self.top_statement(call)
            found.append(
                {
                    "method": method if known and isinstance(method, str) else None,
                    "line": call.lineno,
                    "text": self.segment(call),
                    "call": _dotted(call.func),
                    "guarded": top in self.guards and self.in_guard(call),
                }
            )
        return sorted(found, key=lambda r: r["line"])


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


def _loader_aliases(tree: ast.Module) -> set[str]:
    names = {"DataLoader"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "DataLoader" and alias.asname:
                    names.add(alias.asname)
    return names


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
    return ".".join(reversed(parts))


def _value_kind(value: ast.AST) -> str:
    if isinstance(value, ast.Lambda):
        return "lambda"
    if isinstance(value, ast.Call):
        return "call"
    if literal_value(value)[0]:
        return "value"
    return "other"
