"""The torch side of ``gpudoctor bench loader``; runs only in a child process.

It reads its settings as JSON on stdin and reports JSON lines on its stdout (the real stdout
is kept private; whatever the user's dataset prints goes to stderr). The parent watches it and
kills it, with its workers, when it goes silent.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Sized
from typing import Any
from typing import Callable
from typing import cast

import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset
from torch.utils.data import IterableDataset
from torch.utils.data import RandomSampler

from gpudoctor.probes.bench.loader import PREFETCH_RETRY_STUTTER
from gpudoctor.probes.bench.loader import PROTOCOL_PREFIX
from gpudoctor.probes.bench.loader import aggregate
from gpudoctor.probes.bench.loader import climb_should_stop
from gpudoctor.probes.bench.loader import confirm_candidates
from gpudoctor.probes.bench.loader import gap_stats
from gpudoctor.probes.bench.loader import needs_more_rounds
from gpudoctor.probes.bench.loader import recommend as recommend_setting

SYNTHETIC_IMAGES = 48
SYNTHETIC_SIZE = (500, 375)  # about the mean ImageNet photo
OUTPUT_SIDE = 224
#: Share of --seconds the smart search may spend measuring one setting.
SMART_SHARE = 0.6
#: Share of --seconds for each repeat of a close candidate.
REPEAT_SHARE = 0.5
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

Emit = Callable[..., None]


class BadInput(Exception):
    """The user's dataset cannot be used; reported to the parent as one line."""


# -- datasets -----------------------------------------------------------------------------


def load_image(path: str, seed: int, side: int = OUTPUT_SIDE) -> torch.Tensor:
    """Decode, random-resized-crop, flip and normalise one image, as a training loop would."""
    from PIL import Image

    rng = random.Random(seed)
    with Image.open(path) as opened:
        image = opened.convert("RGB")
        width, height = image.size
        area = width * height * rng.uniform(0.25, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        crop_w = max(1, min(width, int(round(math.sqrt(area * ratio)))))
        crop_h = max(1, min(height, int(round(math.sqrt(area / ratio)))))
        left = rng.randint(0, width - crop_w)
        top = rng.randint(0, height - crop_h)
        resized = image.resize(
            (side, side), Image.Resampling.BILINEAR, box=(left, top, left + crop_w, top + crop_h)
        )
        if rng.random() < 0.5:
            resized = resized.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        data = bytearray(resized.tobytes())
    tensor = torch.frombuffer(data, dtype=torch.uint8).view(side, side, 3).permute(2, 0, 1)
    tensor = tensor.float().div_(255)
    mean = torch.tensor(_MEAN).view(3, 1, 1)
    std = torch.tensor(_STD).view(3, 1, 1)
    return (tensor - mean) / std


class ImageFiles(Dataset[tuple[torch.Tensor, int]]):
    """JPEG/PNG files decoded and augmented like a classification training set."""

    def __init__(self, files: list[str], length: int | None = None) -> None:
        self.files = files
        self.length = length or len(files)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return load_image(self.files[index % len(self.files)], seed=index), index % 10


def make_synthetic_images(folder: str, count: int = SYNTHETIC_IMAGES) -> list[str]:
    """Photo-like JPEGs (smooth gradients with grain) of a realistic size and file size."""
    from PIL import Image

    width, height = SYNTHETIC_SIZE
    gradient = Image.linear_gradient("L")
    paths = []
    for k in range(count):
        grain = Image.effect_noise((width, height), 20 + k % 30)
        red = Image.blend(gradient.resize((width, height)), grain, 0.35)
        green = Image.blend(gradient.rotate(90 + k * 7).resize((width, height)), grain, 0.25)
        blue = Image.blend(gradient.rotate(200 + k * 11).resize((width, height)), grain, 0.45)
        path = os.path.join(folder, f"img{k:03d}.jpg")
        Image.merge("RGB", (red, green, blue)).save(path, quality=90)
        paths.append(path)
    return paths


def _import_target(spec: str, option: str) -> Any:
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - anything the user's import does is bad input
        raise BadInput(f"{option} {spec}: cannot import {module_name}: {_one_line(exc)}") from None
    target = getattr(module, name, None)
    if not callable(target):
        raise BadInput(f"{option} {spec}: {module_name} has no function {name!r}")
    return target


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def build_dataset(source: dict[str, Any], scratch: str) -> tuple[Dataset[Any], dict[str, Any]]:
    kind = source.get("kind", "synthetic")
    if kind in ("synthetic", "images"):
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise BadInput(
                "the image benchmark needs Pillow: pip install 'gpudoctor[bench]'"
            ) from None
    if kind == "synthetic":
        files = make_synthetic_images(scratch)
        return ImageFiles(files, length=1_000_000), {"images": len(files)}
    if kind == "images":
        return ImageFiles(source["files"]), {"images": len(source["files"])}
    spec = source["spec"]
    factory = _import_target(spec, "--dataset")
    try:
        dataset = factory()
    except Exception as exc:  # noqa: BLE001 - the user's factory failing is bad input
        raise BadInput(f"--dataset {spec}: the factory raised {_one_line(exc)}") from None
    if not isinstance(dataset, Dataset):
        raise BadInput(
            f"--dataset {spec}: the factory returned {type(dataset).__name__}, "
            "not a torch.utils.data.Dataset"
        )
    info: dict[str, Any] = {"dataset_type": type(dataset).__name__}
    if not isinstance(dataset, IterableDataset):
        try:
            size = len(dataset)  # type: ignore[arg-type]
        except TypeError:
            raise BadInput(f"--dataset {spec}: the dataset has no len()") from None
        if size == 0:
            raise BadInput(f"--dataset {spec}: the dataset is empty")
        info["length"] = size
    return dataset, info


# -- measuring one setting ----------------------------------------------------------------


class WorkerMemory:
    """Samples the memory of this process's DataLoader workers in the background."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_uss = 0
        self.peak_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is a dependency
            return
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                for child in me.children(recursive=True):
                    try:
                        cmd = " ".join(child.cmdline())
                        if "resource_tracker" in cmd or "forkserver" in cmd:
                            continue
                        try:
                            self.peak_uss = max(self.peak_uss, child.memory_full_info().uss)
                        except (psutil.AccessDenied, AttributeError):
                            pass
                        self.peak_rss = max(self.peak_rss, child.memory_info().rss)
                    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                        continue
            except psutil.Error:
                pass
            self._stop.wait(self.interval)


class Hang(Exception):
    """No batch arrived within the start-up timeout."""


def _batch_len(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_len(next(iter(batch.values())))
    return 1


def _next(iterator: Any) -> Any:
    try:
        return next(iterator)
    except RuntimeError as exc:
        if "timed out" in str(exc):
            raise Hang(str(exc)) from None
        raise


def _record_failure(result: dict[str, Any], exc: Exception) -> bool:
    """Write a failed setting's status and error into ``result``; True when it hung, and
    the caller returns at once without tearing the loader down."""
    if isinstance(exc, Hang):
        result.update(status="hang", error=str(exc))
        return True
    result.update(status="error", error=_one_line(exc))
    return False


class Bench:
    def __init__(self, config: dict[str, Any], dataset: Dataset[Any], emit: Emit) -> None:
        self.config = config
        self.dataset = dataset
        self.emit = emit
        self.worker_init = (
            _import_target(config["worker_init"], "--worker-init")
            if config.get("worker_init")
            else None
        )
        self.cuda = torch.cuda.is_available()
        self.results: list[dict[str, Any]] = []

    def loader(self, setting: dict[str, Any], epoch_samples: int | None = None) -> DataLoader[Any]:
        kwargs: dict[str, Any] = {
            "batch_size": self.config["batch_size"],
            "num_workers": setting["num_workers"],
            "pin_memory": bool(setting.get("pin_memory")) and self.cuda,
        }
        if not isinstance(self.dataset, IterableDataset):
            # A map-style dataset: the sampler reads its length.
            kwargs["sampler"] = RandomSampler(
                cast(Sized, self.dataset),
                replacement=True,
                num_samples=epoch_samples or 1_000_000_000,
            )
        if setting["num_workers"]:
            kwargs["prefetch_factor"] = setting["prefetch_factor"]
            kwargs["persistent_workers"] = bool(setting["persistent_workers"])
            kwargs["timeout"] = self.config["startup_timeout"]
            kwargs["worker_init_fn"] = self.worker_init
            if self.config.get("start_method"):
                kwargs["multiprocessing_context"] = self.config["start_method"]
        return DataLoader(self.dataset, **kwargs)

    def measure(
        self, setting: dict[str, Any], *, steady: bool, adaptive: bool, share: float = 1.0
    ) -> dict[str, Any]:
        result: dict[str, Any] = dict(setting, status="ok")
        seconds = float(self.config["seconds"]) * share
        if adaptive:
            # The smart search only ranks settings: it stops once the rate settles, and
            # spends at most this share of the full measuring time on one setting.
            seconds *= SMART_SHARE
        with WorkerMemory() as memory:
            loader = self.loader(setting)
            started = time.perf_counter()
            try:
                iterator = iter(loader)
                _next(iterator)
                result["first_batch_s"] = round(time.perf_counter() - started, 4)
                if steady:
                    result.update(self._steady(iterator, loader, seconds, adaptive))
                del iterator
            except Exception as exc:  # noqa: BLE001 - a setting that fails is a finding
                if _record_failure(result, exc):
                    return result
            finally:
                if result["status"] != "hang":
                    del loader
        result["peak_worker_uss_bytes"] = memory.peak_uss or None
        result["peak_worker_rss_bytes"] = memory.peak_rss or None
        return result

    def measure_restart(self, setting: dict[str, Any]) -> dict[str, Any]:
        """Time to the first batch of the next epoch, at a real epoch boundary.

        A short epoch is run to its end (StopIteration), then the next one is started: that
        is what training pays at every epoch. Abandoning an epoch midway and restarting
        costs more with persistent workers (they must drain their queues first), so it is
        not what is measured here.
        """
        result: dict[str, Any] = dict(setting, status="ok")
        if isinstance(self.dataset, IterableDataset):
            result.update(status="error", error="an IterableDataset has no epoch end to time")
            return result
        prefetch = setting.get("prefetch_factor") or 2
        batches = max(4, 2 * setting["num_workers"] * prefetch)
        loader = self.loader(setting, epoch_samples=batches * int(self.config["batch_size"]))
        try:
            iterator = iter(loader)
            while True:
                try:
                    _next(iterator)
                except StopIteration:
                    break
            started = time.perf_counter()
            iterator = iter(loader)
            _next(iterator)
            result["restart_first_batch_s"] = round(time.perf_counter() - started, 4)
            result["epoch_batches"] = batches
            result["restart_at"] = "epoch boundary"
            del iterator
        except Exception as exc:  # noqa: BLE001 - a setting that fails is a finding
            if _record_failure(result, exc):
                return result
        del loader
        return result

    def _steady(
        self, iterator: Any, loader: DataLoader[Any], seconds: float, adaptive: bool
    ) -> dict[str, Any]:
        gaps: list[float] = []
        stamps: list[float] = []
        samples = 0
        begin = last = time.perf_counter()
        while last - begin < seconds:
            try:
                batch = _next(iterator)
            except StopIteration:
                iterator = iter(loader)
                continue
            now = time.perf_counter()
            gaps.append(now - last)
            stamps.append(now)
            samples += _batch_len(batch)
            last = now
            if adaptive and _settled(stamps, begin, seconds):
                break
        took = last - begin
        out: dict[str, Any] = {
            "batches": len(gaps),
            "samples": samples,
            "measured_s": round(took, 4),
            "samples_per_s": round(samples / took, 2) if took > 0 else None,
        }
        out.update(gap_stats(gaps))
        return out

    def run(
        self,
        setting: dict[str, Any],
        fraction: float,
        *,
        steady: bool = True,
        adaptive: bool = False,
        share: float = 1.0,
    ) -> dict[str, Any]:
        self.emit("start", setting=setting, fraction=fraction)
        if setting.get("phase") == "restart":
            result = self.measure_restart(setting)
        else:
            result = self.measure(setting, steady=steady, adaptive=adaptive, share=share)
        if result["status"] == "hang":
            self.emit(
                "hang",
                hang={
                    "num_workers": setting["num_workers"],
                    "start_method": self.config.get("start_method") or _start_method(),
                    "waited_s": self.config["startup_timeout"],
                    "message": f"no batch from {setting['num_workers']} worker(s) within "
                    f"{self.config['startup_timeout']:g} s: worker start-up never finished",
                },
            )
        self.emit("result", result=result)
        self.results.append(result)
        return result


def _settled(stamps: list[float], begin: float, seconds: float) -> bool:
    """True once the first and second half of the batches arrived at the same rate."""
    if len(stamps) < 12 or stamps[-1] - begin < 0.5 * seconds:
        return False
    half = len(stamps) // 2
    first = half / (stamps[half - 1] - begin)
    second = (len(stamps) - half) / (stamps[-1] - stamps[half - 1])
    return abs(first - second) <= 0.05 * max(first, second)


def _start_method() -> str:
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=False)


def _setting(
    workers: int,
    prefetch: int | None = 2,
    persistent: bool = True,
    pin: bool = False,
    phase: str = "steady",
) -> dict[str, Any]:
    return {
        "num_workers": workers,
        "prefetch_factor": prefetch if workers else None,
        "persistent_workers": persistent and workers > 0,
        "pin_memory": pin,
        "phase": phase,
    }


def smart_sweep(bench: Bench) -> None:
    """Climb worker counts, then try only the knobs that can still matter."""
    counts = list(bench.config["workers"])
    planned = len(counts) + 2
    throughputs: list[float] = []
    for index, workers in enumerate(counts):
        result = bench.run(_setting(workers), index / planned, adaptive=True)
        if result["status"] == "hang":
            return
        if result["status"] != "ok":
            if workers:
                break
            continue
        throughputs.append(result["samples_per_s"] or 0.0)
        if climb_should_stop(throughputs):
            break
    if not confirm_pick(bench):
        return
    best = recommend_setting(aggregate(bench.results))
    if best is None or not best["num_workers"]:
        return
    workers = best["num_workers"]
    if (best.get("stutter") or 0) > PREFETCH_RETRY_STUTTER and 4 in bench.config[
        "prefetch_factors"
    ]:
        bench.run(_setting(workers, prefetch=4), 0.8, adaptive=True)
    if bench.cuda:
        bench.run(_setting(workers, pin=True), 0.85, adaptive=True)
    # What the next epoch's start costs, with persistent workers and without.
    bench.run(_setting(workers, persistent=True, phase="restart"), 0.88, steady=False)
    bench.run(_setting(workers, persistent=False, phase="restart"), 0.94, steady=False)


def confirm_pick(bench: Bench) -> bool:
    """Measure the close candidates again, in interleaved rounds, until one of them wins
    steadily (or the rounds run out): one short measurement can be off by a factor of 4 on
    a busy machine. Returns False when a worker start-up hung."""
    candidates = confirm_candidates(bench.results)
    if len(candidates) < 2:
        return True
    limits = bench.config.get("confirm_rounds") or (None, None)
    number = 0
    while needs_more_rounds(bench.results, *limits):
        number += 1
        shift = number % len(candidates)
        for cand in candidates[shift:] + candidates[:shift]:
            setting = _setting(
                cand["num_workers"],
                cand.get("prefetch_factor") or 2,
                bool(cand.get("persistent_workers")),
                bool(cand.get("pin_memory")),
                phase="repeat",
            )
            setting["round"] = number
            result = bench.run(setting, min(0.8, 0.5 + 0.05 * number), share=REPEAT_SHARE)
            if result["status"] == "hang":
                return False
    return True


def exhaustive_sweep(bench: Bench) -> None:
    """Every setting of the grid, each measured for the full time (the reference)."""
    pins = [False, True] if bench.cuda else [False]
    grid = [_setting(0)]
    for workers in bench.config["workers"]:
        if not workers:
            continue
        for prefetch in bench.config["prefetch_factors"]:
            for persistent in bench.config["persistent"]:
                for pin in pins:
                    grid.append(_setting(workers, prefetch, persistent, pin))
    for index, setting in enumerate(grid):
        if bench.run(setting, index / len(grid))["status"] == "hang":
            return


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(event: str, **fields: Any) -> None:
        protocol.write(PROTOCOL_PREFIX + json.dumps({"event": event, **fields}) + "\n")
        protocol.flush()

    config = json.loads(sys.stdin.read())
    try:
        try:
            dataset, info = build_dataset(config["source"], config["scratch"])
            bench = Bench(config, dataset, emit)
        except BadInput as exc:
            emit("bad_input", message=str(exc))
            return
        info.update(
            torch=torch.__version__,
            start_method=config.get("start_method") or _start_method(),
            cpus=config["cpus"],
            batch_size=config["batch_size"],
            cuda=bench.cuda,
            workers_tried=config["workers"],
        )
        emit("ready", info=info)
        if config.get("mode") == "exhaustive":
            exhaustive_sweep(bench)
        else:
            smart_sweep(bench)
        emit("done")
    finally:
        protocol.flush()
        # Skip the interpreter's slow worker shutdown; the parent kills stragglers.
        os._exit(0)
