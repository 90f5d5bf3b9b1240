"""High-level trainers that start DataLoader workers, and what each one defaults to.

A training script often never calls ``DataLoader`` itself: ``YOLO(...).train()``,
mmengine's ``Runner.from_cfg(cfg).train()``, Lightning's ``Trainer.fit`` and Hugging Face's
``Trainer.train`` build the loaders inside the framework. These tables let the script reader
recognise such calls and say which loader settings they imply.

Defaults (checked 2026-11 against each project's main branch; refresh by re-reading the
files named):

- ultralytics ``ultralytics/cfg/default.yaml``: ``workers: 8``, ``batch: 16``,
  ``cache: False``, ``imgsz: 640``. ``ultralytics/data/build.py`` caps workers at
  ``os.cpu_count() // devices``.
- transformers ``TrainingArguments`` (``src/transformers/training_args.py``):
  ``dataloader_num_workers = 0``, ``per_device_train_batch_size = 8``.
- detectron2 ``detectron2/config/defaults.py``: ``_C.DATALOADER.NUM_WORKERS = 4``,
  ``_C.SOLVER.IMS_PER_BATCH = 16``.
- mmengine ``Runner``: the loaders come from the config's ``train_dataloader`` etc.
- Lightning ``Trainer.fit``: the loaders come from the LightningModule or datamodule.
"""

from __future__ import annotations

#: Model classes whose ``.train(...)`` runs the ultralytics trainer.
ULTRALYTICS_MODELS = frozenset({"YOLO", "RTDETR", "YOLOWorld", "YOLOE", "NAS", "SAM", "FastSAM"})
ULTRALYTICS_DEFAULTS = {"workers": 8, "batch": 16, "imgsz": 640}
ULTRALYTICS_SOURCE = "ultralytics default (ultralytics/cfg/default.yaml)"
ULTRALYTICS_LOADER_SOURCE = "ultralytics InfiniteDataLoader keeps its workers (data/build.py)"
ULTRALYTICS_CPU_SOURCE = "ultralytics uses 0 workers on CPU/MPS (engine/trainer.py)"
#: ``device=`` values for which the ultralytics trainer sets ``workers = 0``.
NO_WORKER_DEVICES = frozenset({"cpu", "mps"})
#: Keyword arguments that mark ``x.train(...)`` as an ultralytics-style call.
ULTRALYTICS_KEYWORDS = frozenset({"data", "epochs", "imgsz", "workers", "cache", "batch"})

#: Hugging Face trainer classes (transformers and trl).
HF_TRAINERS = frozenset(
    {
        "Trainer",
        "Seq2SeqTrainer",
        "SFTTrainer",
        "DPOTrainer",
        "RewardTrainer",
        "ORPOTrainer",
        "KTOTrainer",
        "GRPOTrainer",
        "PPOTrainer",
    }
)
HF_ARGUMENTS = frozenset({"TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig"})
HF_DEFAULT_WORKERS = 0
HF_DEFAULT_BATCH = 8
HF_SOURCE = "TrainingArguments default (transformers/training_args.py)"
HF_MODULES = ("transformers", "trl")

LIGHTNING_MODULES = ("lightning", "pytorch_lightning", "lightning.pytorch")
LIGHTNING_METHODS = frozenset({"fit", "validate", "test", "predict"})
#: Lightning Trainer keywords that tell it from a Hugging Face Trainer when imports are unclear.
LIGHTNING_KEYWORDS = frozenset({"max_epochs", "accelerator", "devices", "gpus", "precision"})

MMENGINE_RUNNERS = frozenset({"Runner", "FlexibleRunner"})
MMENGINE_METHODS = frozenset({"train", "val", "test"})

DETECTRON2_TRAINERS = frozenset({"DefaultTrainer", "SimpleTrainer", "AMPTrainer"})
DETECTRON2_DEFAULT_WORKERS = 4
DETECTRON2_SOURCE = "detectron2 default (detectron2/config/defaults.py)"

#: What the reader understands, for the evidence of GD610.
UNDERSTOOD = (
    "torch DataLoader(...) calls",
    "ultralytics YOLO/RTDETR .train()",
    "mmengine Runner(...).train()",
    "Lightning Trainer.fit/validate/test",
    "Hugging Face Trainer.train()",
    "detectron2 DefaultTrainer.train()",
)
