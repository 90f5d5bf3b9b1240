"""Read DataLoader settings out of training configs without running them.

Two families are understood:

- mmengine / mmcv Python configs: ``train_dataloader = dict(num_workers=..., ...)``,
  ``data = dict(workers_per_gpu=..., samples_per_gpu=...)`` and
  ``env_cfg = dict(mp_cfg=dict(mp_start_method=...))``, parsed with ``ast``;
- YAML configs in the RT-DETR / ultralytics style (``num_workers``, ``workers``,
  ``batch_size``, ``batch``, ``cache``), read with PyYAML's composer so every value keeps its
  line.

Anything else is reported as not understood rather than guessed at. The result has the same
shape as :func:`gpudoctor.readers.training_script.analyse_script`.
"""

from __future__ import annotations

import ast
import os
from typing import Any

from gpudoctor.readers.python_source import NotUnderstood
from gpudoctor.readers.python_source import analyse_python
from gpudoctor.readers.python_source import decode_text
from gpudoctor.readers.python_source import literal_value
from gpudoctor.readers.python_source import not_understood
from gpudoctor.readers.python_source import read_source_bytes
from gpudoctor.readers.python_source import source_segment
from gpudoctor.readers.python_source import split_lines

#: mmengine/mmcv names that hold loader settings.
_LOADER_VARIABLES = ("train_dataloader", "val_dataloader", "test_dataloader", "data")
#: Config keys and the DataLoader setting they mean.
_KEY_MEANING = {
    "num_workers": "num_workers",
    "workers_per_gpu": "num_workers",
    "workers": "num_workers",
    "batch_size": "batch_size",
    "samples_per_gpu": "batch_size",
    "persistent_workers": "persistent_workers",
    "prefetch_factor": "prefetch_factor",
    "pin_memory": "pin_memory",
    # detectron2 yacs configs (DATALOADER.NUM_WORKERS, SOLVER.IMS_PER_BATCH)
    "NUM_WORKERS": "num_workers",
    "IMS_PER_BATCH": "batch_size",
    # RT-DETRv2 configs give the batch over all GPUs
    "total_batch_size": "batch_size",
}
#: Keys that make a mapping a loader description.
_LOADER_KEYS = {
    "num_workers",
    "workers_per_gpu",
    "workers",
    "batch_size",
    "samples_per_gpu",
    "NUM_WORKERS",
}
#: Beyond this many YAML nodes a file is not a training config (and aliases could explode).
_MAX_YAML_NODES = 100_000
_MAX_TEXT = 100


def analyse_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Analyse the config file at ``path``; never raises for bad input, never runs it."""
    label = os.fspath(path)
    suffix = os.path.splitext(label)[1].lower()
    try:
        data = read_source_bytes(label)
        text = decode_text(data, python=suffix == ".py")
    except NotUnderstood as exc:
        return not_understood(label, "config", str(exc))
    if suffix == ".py":
        return analyse_python_config(text, label)
    if suffix in (".yaml", ".yml"):
        return analyse_yaml_config(text, label)
    as_python = analyse_python_config(text, label)
    if as_python["understood"]:
        return as_python
    as_yaml = analyse_yaml_config(text, label)
    if as_yaml["understood"]:
        return as_yaml
    return not_understood(
        label, "config", "neither an mmengine/mmcv Python config nor a YAML config with loader keys"
    )


def _result(path: str, fmt: str) -> dict[str, Any]:
    record = not_understood(path, "config", "")
    record.update(understood=True, format=fmt)
    return record


# -- Python (mmengine / mmcv) ---------------------------------------------------------------


def analyse_python_config(text: str, path: str = "<config>") -> dict[str, Any]:
    """Loader settings of an mmengine/mmcv dict config, read with ``ast``."""
    return analyse_python(text, path, "config", _PythonConfig)


class _PythonConfig:
    def __init__(self, tree: ast.Module, text: str, path: str) -> None:
        self.tree, self.text, self.path = tree, text, path
        self.lines = split_lines(text)
        self.top: dict[str, list[ast.AST]] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self.top.setdefault(target.id, []).append(stmt.value)

    def segment(self, node: ast.AST) -> str:
        return source_segment(self.lines, node, _MAX_TEXT)

    def value(self, node: ast.AST) -> dict[str, Any]:
        known, value = literal_value(node)
        if not known and isinstance(node, ast.Name) and len(self.top.get(node.id, ())) == 1:
            known, value = literal_value(self.top[node.id][0])
        return {
            "value": value if known else None,
            "known": known,
            "text": self.segment(node),
            "line": node.lineno,  # type: ignore[attr-defined]
        }

    def run(self) -> dict[str, Any]:
        result = _result(self.path, "mmengine-python")
        loaders = []
        for name in _LOADER_VARIABLES:
            for node in self.top.get(name, ()):
                items = _dict_items(node)
                alias = ""
                if items is None and isinstance(node, ast.Name) and node.id in self.top:
                    # `test_dataloader = val_dataloader`: the same settings, used for testing
                    target = self.top[node.id][-1]
                    items, alias = _dict_items(target), node.id
                if items is None:
                    continue
                found = self._loaders(name, node, items)
                for loader in found:
                    loader["alias_of"] = alias or None
                loaders.extend(found)
        start_methods = self._start_methods()
        bases = self.top.get("_base_")
        if bases:
            result["notes"].append(
                "inherits from _base_ files; settings defined only there are not shown "
                "(pass those files with --config too)"
            )
        if not loaders and not start_methods:
            return not_understood(
                self.path,
                "config",
                "no train_dataloader / data = dict(...) settings found "
                "(for a training script use --script)",
            )
        result["loaders"] = loaders
        result["start_methods"] = start_methods
        return result

    def _loaders(self, name: str, node: ast.AST, items: dict[str, ast.AST]) -> list[dict[str, Any]]:
        found = []
        settings = {
            _KEY_MEANING[key]: self.value(value)
            for key, value in items.items()
            if key in _KEY_MEANING
        }
        if any(key in _LOADER_KEYS for key in items) or (name != "data" and settings):
            found.append(
                {
                    "label": name,
                    "line": node.lineno,  # type: ignore[attr-defined]
                    "end_line": getattr(node, "end_lineno", None) or node.lineno,  # type: ignore[attr-defined]
                    "scope": "config",
                    "runs_at_import": False,
                    "settings": settings,
                    "incomplete": False,
                }
            )
        if name == "data":  # mmcv 1.x may nest per-split loader overrides
            for split in ("train_dataloader", "val_dataloader", "test_dataloader"):
                inner = items.get(split)
                inner_items = _dict_items(inner) if inner is not None else None
                if inner is not None and inner_items:
                    found.extend(self._loaders(f"data.{split}", inner, inner_items))
        return found

    def _start_methods(self) -> list[dict[str, Any]]:
        found = []
        candidates: list[ast.AST] = list(self.top.get("mp_start_method", ()))
        for env in self.top.get("env_cfg", ()):
            env_items = _dict_items(env) or {}
            mp_cfg = env_items.get("mp_cfg")
            mp_items = _dict_items(mp_cfg) if mp_cfg is not None else None
            if mp_items and "mp_start_method" in mp_items:
                candidates.append(mp_items["mp_start_method"])
        for node in candidates:
            setting = self.value(node)
            found.append(
                {
                    "method": setting["value"] if isinstance(setting["value"], str) else None,
                    "line": setting["line"],
                    "text": setting["text"],
                    "call": "mp_start_method",
                    "guarded": True,
                }
            )
        return found


def _dict_items(node: ast.AST) -> dict[str, ast.AST] | None:
    """Keys and value nodes of ``dict(a=1)`` or ``{"a": 1}``; None for anything else."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg: k.value for k in node.keywords if k.arg}
    if isinstance(node, ast.Dict):
        return {
            k.value: v
            for k, v in zip(node.keys, node.values)
            if isinstance(k, ast.Constant) and isinstance(k.value, str)
        }
    return None


# -- YAML -----------------------------------------------------------------------------------


def analyse_yaml_config(text: str, path: str = "<config>") -> dict[str, Any]:
    """Loader settings of a YAML config, each with its line."""
    import yaml

    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return not_understood(path, "config", f"YAML syntax error{where}")
    except (RecursionError, MemoryError, ValueError):
        return not_understood(path, "config", "too deeply nested to analyse")
    result = _result(path, "yaml")
    walker = _YamlWalker()
    try:
        for document in documents:
            if document is not None:
                walker.walk(document, ())
    except _TooLarge:
        return not_understood(path, "config", "too many YAML nodes to be a training config")
    if not walker.loaders and walker.cache is None:
        return not_understood(
            path,
            "config",
            "no num_workers / workers / batch_size / cache keys found in this YAML",
        )
    result["loaders"] = walker.loaders
    if walker.cache is not None:
        walker.cache["imgsz"] = walker.imgsz
    result["cache"] = walker.cache
    return result


class _TooLarge(Exception):
    pass


class _YamlWalker:
    def __init__(self) -> None:
        self.loaders: list[dict[str, Any]] = []
        self.cache: dict[str, Any] | None = None
        self.imgsz: int | None = None
        self.seen: set[int] = set()
        self.count = 0

    def walk(self, node: Any, path: tuple[str, ...]) -> None:
        import yaml

        stack = [(node, path)]
        while stack:
            current, where = stack.pop()
            if id(current) in self.seen:
                continue  # an alias to a node already read
            self.seen.add(id(current))
            self.count += 1
            if self.count > _MAX_YAML_NODES:
                raise _TooLarge
            if isinstance(current, yaml.MappingNode):
                pairs = [(k.value, v) for k, v in current.value if isinstance(k, yaml.ScalarNode)]
                self._mapping(dict(pairs), where, current)
                for key, value in reversed(pairs):
                    stack.append((value, (*where, str(key))))
            elif isinstance(current, yaml.SequenceNode):
                for index, item in enumerate(reversed(current.value)):
                    stack.append((item, (*where, f"[{len(current.value) - 1 - index}]")))

    def _mapping(self, pairs: dict[str, Any], where: tuple[str, ...], node: Any) -> None:
        meanings = dict(_KEY_MEANING)
        if not where:
            meanings["batch"] = "batch_size"  # ultralytics' top-level name for it
        settings = {}
        for key, value in pairs.items():
            if key in meanings:
                setting = _yaml_value(value)
                if setting is not None:
                    settings[meanings[key]] = setting
        if any(key in _LOADER_KEYS or (key == "batch" and not where) for key in pairs):
            self.loaders.append(
                {
                    "label": ".".join(where) or "(top level)",
                    "line": node.start_mark.line + 1,
                    "end_line": node.end_mark.line + 1,
                    "scope": "config",
                    "runs_at_import": False,
                    "settings": settings,
                    "incomplete": False,
                }
            )
        if "cache" in pairs and self.cache is None:
            setting = _yaml_value(pairs["cache"])
            if setting is not None:
                value = setting["value"]
                mode = "ram" if value is True else (value if isinstance(value, str) else None)
                setting["mode"] = mode.lower() if isinstance(mode, str) else None
                if value is False or value is None:
                    setting["mode"] = None
                self.cache = setting
        if "imgsz" in pairs and self.imgsz is None:
            size = _yaml_value(pairs["imgsz"])
            if size is not None and isinstance(size["value"], int):
                self.imgsz = size["value"]


def _yaml_value(node: Any) -> dict[str, Any] | None:
    """A scalar node's typed value (by YAML's own resolver) with its line; None otherwise."""
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        value = yaml.SafeLoader("").construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        value = node.value
    known = value is None or isinstance(value, (bool, int, float, str))
    text = node.value if len(node.value) <= _MAX_TEXT else node.value[: _MAX_TEXT - 3] + "..."
    return {
        "value": value if known else None,
        "known": known,
        "text": text,
        "line": node.start_mark.line + 1,
    }
