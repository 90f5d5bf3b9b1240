"""Recognising trainer calls (``model.train()``, ``trainer.fit()``) and their loader settings.

The tables of frameworks and their defaults are in :mod:`gpudoctor.readers.trainers`.
"""

from __future__ import annotations

import ast
from typing import Any

from gpudoctor.readers import trainers as fw
from gpudoctor.readers.script_resolve import ScriptValues
from gpudoctor.readers.script_resolve import default_setting
from gpudoctor.readers.script_scan import FACTORY_WORKER_KEYWORDS
from gpudoctor.readers.script_scan import RUNNER_METHODS
from gpudoctor.readers.script_scan import RUNNER_NAMES
from gpudoctor.readers.script_scan import Context
from gpudoctor.readers.script_scan import Site
from gpudoctor.readers.script_scan import base_names
from gpudoctor.readers.script_scan import call_name
from gpudoctor.readers.script_scan import dotted_name


class TrainerCalls(ScriptValues):
    """Trainer recognition over a walked script."""

    def trainer_of(self, site: Site) -> dict[str, Any] | None:
        """The framework behind ``x.train()`` / ``x.fit()``, or None for other calls."""
        call = site.node
        assert isinstance(call, ast.Call)
        assert isinstance(call.func, ast.Attribute)
        method, receiver = call.func.attr, call.func.value
        ctor = receiver if isinstance(receiver, ast.Call) else None
        receiver_name = receiver.id if isinstance(receiver, ast.Name) else ""
        if isinstance(receiver, ast.Name):
            binding = self.resolve(receiver.id, site.ctx.owner, call.lineno)
            if binding is not None and isinstance(binding.node, ast.Call):
                ctor = binding.node
        ctor_name = call_name(ctor.func) if ctor is not None else ""
        ctor_base = ""
        if ctor is not None and isinstance(ctor.func, ast.Attribute):
            ctor_base = call_name(ctor.func.value)
        keywords = {k.arg for k in call.keywords if k.arg}
        origin = self.rec.imports.get(ctor_name, "")
        local_class = self.rec.classes.get(ctor_name)
        if (
            method == "train"
            and ctor_name in fw.ULTRALYTICS_MODELS
            and (origin.startswith("ultralytics") or (local_class is None and not origin))
        ):
            return {"framework": "ultralytics", "ctor": ctor}
        if method in fw.MMENGINE_METHODS and (
            ctor_name in fw.MMENGINE_RUNNERS
            or (ctor_name == "from_cfg" and ctor_base in fw.MMENGINE_RUNNERS)
            or (ctor_name == "build" and ctor_base == "RUNNERS")
        ):
            return {"framework": "mmengine", "ctor": ctor}
        detectron2 = ctor is not None and ctor_name in fw.DETECTRON2_TRAINERS
        if local_class is not None and base_names(local_class) & fw.DETECTRON2_TRAINERS:
            detectron2 = True
        if detectron2 and method == "train":
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
            if receiver_name.lower() in RUNNER_NAMES or keywords & {
                "datamodule",
                "train_dataloaders",
                "dataloaders",
            }:
                return {"framework": "lightning", "ctor": ctor}
            return {"framework": "unrecognised", "ctor": ctor}
        if receiver_name.lower() in RUNNER_NAMES and method in RUNNER_METHODS:
            return {"framework": "unrecognised", "ctor": ctor}
        return None

    def _trainer_record(
        self, site: Site, found: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
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
        receiver = dotted_name(call.func.value) or (
            f"{call_name(ctor.func)}(...)" if isinstance(ctor, ast.Call) else "trainer"
        )
        label = f"{receiver}.{call.func.attr}() at line {call.lineno} ({framework})"
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        if framework in ("ultralytics", "ultralytics-like"):
            uses_cfg = "cfg" in keywords
            for key, meaning in (("workers", "num_workers"), ("batch", "batch_size")):
                if key in keywords:
                    settings[meaning] = self.setting(keywords[key], site.ctx)
                elif not uses_cfg:
                    settings[meaning] = default_setting(
                        fw.ULTRALYTICS_DEFAULTS[key], fw.ULTRALYTICS_SOURCE, call.lineno
                    )
            device = self.value(keywords["device"], site.ctx) if "device" in keywords else None
            if (
                device is not None
                and device.known
                and str(device.value).lower() in fw.NO_WORKER_DEVICES
            ):
                settings["num_workers"] = default_setting(0, fw.ULTRALYTICS_CPU_SOURCE, call.lineno)
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
            settings["num_workers"] = workers or default_setting(
                fw.DETECTRON2_DEFAULT_WORKERS, fw.DETECTRON2_SOURCE, call.lineno
            )
            batch = self._attribute_setting("SOLVER.IMS_PER_BATCH", site.ctx)
            if batch:
                settings["batch_size"] = batch
        elif framework == "mmengine" and ctor is not None:
            return record, _listed(self._runner_loader(ctor, site, label)), None
        elif framework == "lightning":
            return record, _listed(self._lightning_loader(call, site, label)), None
        else:
            return record, [], None
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
        if framework.startswith("ultralytics"):
            return record, ultralytics_loaders(loader), cache
        return record, [loader], cache

    def _attribute_setting(self, suffix: str, ctx: Context) -> dict[str, Any] | None:
        for dotted, sites in self.rec.attr_assigns.items():
            if dotted.endswith(suffix):
                site = sites[-1]
                return self.setting(site.node, site.ctx)
        return None

    def _hf_settings(self, ctor: ast.Call, ctx: Context, line: int) -> dict[str, Any]:
        args = next((k.value for k in ctor.keywords if k.arg == "args"), None)
        if args is None and len(ctor.args) >= 2:
            args = ctor.args[1]
        arguments: ast.Call | None = None
        if isinstance(args, ast.Call):
            arguments = args
        elif isinstance(args, ast.Name):
            binding = self.resolve(args.id, ctx.owner, line)
            node = binding.node if binding is not None else None
            if isinstance(node, ast.Call) and call_name(node.func) in fw.HF_ARGUMENTS:
                arguments = node
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
            settings["num_workers"] = default_setting(
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

    def _runner_loader(self, ctor: ast.Call, site: Site, label: str) -> dict[str, Any] | None:
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
                settings["num_workers"] = default_setting(0, "DataLoader default", ctor.lineno)
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

    def _lightning_loader(self, call: ast.Call, site: Site, label: str) -> dict[str, Any] | None:
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
        name = call_name(ctor.func)
        if name in self.loader_names or name in self.rec.classes:
            return None  # read from the DataLoader calls in this file
        if any(k.arg in FACTORY_WORKER_KEYWORDS for k in ctor.keywords):
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


def _listed(loader: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [loader] if loader is not None else []


def ultralytics_loaders(train: dict[str, Any]) -> list[dict[str, Any]]:
    """The train and val loaders an ultralytics trainer builds from ``workers`` and ``batch``.

    ultralytics/data/build.py ``build_dataloader`` uses ``min(os.cpu_count() // GPUs,
    workers)`` workers (one GPU assumed) in an ``InfiniteDataLoader``, which starts its workers
    once and keeps them; the detection trainer's val loader gets ``workers * 2`` and
    ``batch * 2`` (ultralytics/models/yolo/detect/train.py ``get_dataloader``). Both loaders
    are alive during training.
    """
    settings = train["settings"]
    train["keeps_workers"] = fw.ULTRALYTICS_LOADER_SOURCE
    val_settings: dict[str, Any] = {}
    workers = settings.get("num_workers")
    if workers is not None:
        settings["num_workers"] = _capped(workers, 1)
        val_settings["num_workers"] = _capped(workers, 2)
    batch = settings.get("batch_size")
    if batch is not None and batch.get("known") and isinstance(batch.get("value"), int):
        val_settings["batch_size"] = dict(
            batch, value=batch["value"] * 2, text=f"{batch['value']} x 2"
        )
    val = dict(train, settings=val_settings)
    val["label"] = train["label"].rsplit(" (", 1)[0] + " val loader (ultralytics)"
    return [train, val]


def _capped(workers: dict[str, Any], factor: int) -> dict[str, Any]:
    """``min(cpu_count, workers * factor)`` as ultralytics computes it; 0 stays 0."""
    known, value, formula = workers.get("known"), workers.get("value"), workers.get("formula")
    if known and value == 0:
        return dict(workers)
    if known and isinstance(value, int):
        inner: Any = value * factor
    elif formula is not None:
        inner = formula if factor == 1 else ["*", formula, factor]
    else:
        return dict(workers)
    capped = dict(workers, value=None, known=False, formula=["min", ["cpus"], inner])
    capped["depends_on"] = "cpu_count"
    capped["via"] = (
        f"min(cpu_count, {workers.get('text')}{' x 2' if factor == 2 else ''}) in ultralytics"
    )
    return capped
