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
from typing import Any

from gpudoctor.readers import trainers as fw
from gpudoctor.readers.python_source import NotUnderstood
from gpudoctor.readers.python_source import analyse_python
from gpudoctor.readers.python_source import decode_text
from gpudoctor.readers.python_source import literal_value
from gpudoctor.readers.python_source import not_understood
from gpudoctor.readers.python_source import read_source_bytes
from gpudoctor.readers.script_scan import DEFS
from gpudoctor.readers.script_scan import FACTORY_BATCH_KEYWORDS
from gpudoctor.readers.script_scan import FACTORY_WORKER_KEYWORDS
from gpudoctor.readers.script_scan import MAX_TEXT
from gpudoctor.readers.script_scan import Binding
from gpudoctor.readers.script_scan import Context
from gpudoctor.readers.script_scan import Site
from gpudoctor.readers.script_scan import call_name
from gpudoctor.readers.script_scan import dotted_name
from gpudoctor.readers.trainer_calls import TrainerCalls

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
PICKLED_ARGUMENTS = ("dataset", "collate_fn", "worker_init_fn")
_WRAPPERS = {"enumerate", "iter", "next", "tqdm", "zip", "islice", "list", "trange", "chain"}
_MAX_PICKLE_DEPTH = 10
_FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


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


class _Analyser(TrainerCalls):
    """Loaders, worker starts and pickling problems of one script."""

    def pickling_problems(
        self, node: ast.AST, ctx: Context, depth: int = 0, seen: set[int] | None = None
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
                    inner_ctx = Context(candidate.owner, None, None, None, ctx.method)
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

    def _binding_problem(self, binding: Binding) -> str | None:
        if binding.kind == "lambda":
            return "lambda"
        if binding.kind in ("function", "class"):
            what = "function" if binding.kind == "function" else "class"
            if binding.owner is not self.tree:
                return "nested function" if what == "function" else "locally defined class"
            if binding.in_guard:
                return f"{what} defined inside the __main__ guard"
        return None

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
            if call_name(node.func) in self.loader_names:
                return True
            if "loader" in call_name(node.func).lower():
                return True
            if call_name(node.func) in _WRAPPERS:
                return any(self.is_loaderish(a, loader_vars, depth + 1) for a in node.args)
        return False

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
            record, found_loaders, site_cache = self._trainer_record(site, found)
            trainers.append(record)
            trainer_loaders.extend(found_loaders)
            cache = cache or site_cache
        functions = rec.functions
        worker_funcs = self._worker_functions(events, functions)
        import_time = [
            stmt
            for stmt in self.tree.body
            if stmt not in self.guards
            and not isinstance(stmt, (*DEFS, ast.ClassDef, ast.Import, ast.ImportFrom))
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

    def _event(self, events: dict[int, list[tuple[int, str]]], site: Site, what: str) -> None:
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

    def _runs_at_import(self, site: Site, called_at_import: set[str]) -> bool:
        top = site.ctx.top
        if top is None:
            return False
        if top in self.guards:
            return site.ctx.guard != "body"
        if isinstance(top, DEFS):
            return top.name in called_at_import
        return not isinstance(top, ast.ClassDef)

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
        return line if len(line) <= MAX_TEXT else line[: MAX_TEXT - 3] + "..."

    def _arguments(self, site: Site) -> dict[str, tuple[ast.AST, Context]]:
        call = site.node
        assert isinstance(call, ast.Call)
        given: dict[str, tuple[ast.AST, Context]] = {}
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

    def _site_record(
        self,
        site: Site,
        call: ast.Call,
        label: str,
        settings: dict[str, Any],
        called_at_import: set[str],
    ) -> dict[str, Any]:
        """Where a DataLoader (or a factory that builds one) is made, and what it is given."""
        return {
            "label": label,
            "line": call.lineno,
            "end_line": getattr(call, "end_lineno", None) or call.lineno,
            "scope": self._scope(site),
            "runs_at_import": self._runs_at_import(site, called_at_import),
            "settings": settings,
        }

    def _loader_record(
        self,
        site: Site,
        given: dict[str, tuple[ast.AST, Context]],
        called_at_import: set[str],
    ) -> dict[str, Any]:
        call = site.node
        assert isinstance(call, ast.Call)
        settings = {k: self.setting(v, c) for k, (v, c) in given.items() if k in SETTINGS}
        return self._site_record(
            site, call, f"DataLoader at line {call.lineno}", settings, called_at_import
        ) | {"incomplete": self._incomplete}

    def _factory_record(self, site: Site, called_at_import: set[str]) -> dict[str, Any]:
        call = site.node
        assert isinstance(call, ast.Call)
        settings: dict[str, Any] = {}
        for keyword in call.keywords:
            meaning = FACTORY_WORKER_KEYWORDS.get(keyword.arg or "") or FACTORY_BATCH_KEYWORDS.get(
                keyword.arg or ""
            )
            if meaning and meaning not in settings:
                settings[meaning] = self.setting(keyword.value, site.ctx)
        name = call_name(call.func)
        record = self._site_record(
            site, call, f"{name}() at line {call.lineno}", settings, called_at_import
        )
        return record | {"incomplete": True, "factory": name}

    def _unpicklable_record(
        self, site: Site, given: dict[str, tuple[ast.AST, Context]]
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
                    "method": result.value
                    if result.known and isinstance(result.value, str)
                    else None,
                    "line": call.lineno,
                    "text": self.segment(call),
                    "call": dotted_name(call.func),
                    "guarded": site.ctx.top in self.guards and site.ctx.guard == "body",
                }
            )
        return sorted(found, key=lambda r: r["line"])
