"""Regenerate the longer metric fixtures in this folder (deterministic; run from the repo root).

    python tests/corpus/logs/generate.py

Each writer reproduces the layout its framework prints (see SOURCES.md); the numbers are
ours. The short crash fixtures are written by hand and are not touched here.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

MM_ENV = """{stamp} - mmengine - INFO -\x20
------------------------------------------------------------
System environment:
    sys.platform: linux
    Python: 3.10.13 (main, Sep 11 2023, 13:44:35) [GCC 11.2.0]
    CUDA available: True
    GPU 0: NVIDIA GeForce RTX 3090
    PyTorch: 2.1.2
------------------------------------------------------------

{stamp} - mmengine - INFO - Config:
"""


def stamp(seconds: float) -> str:
    minute, sec = divmod(int(seconds), 60)
    hour, minute = divmod(minute, 60)
    day, hour = divmod(hour, 24)
    return f"2024/03/{5 + day:02d} {10 + hour % 14:02d}:{minute:02d}:{sec:02d}"


def mm_iter_line(
    clock: float,
    it: int,
    total: int,
    t: float,
    d: float,
    loss: float,
    lr: float = 1e-4,
    grad: float | None = None,
) -> str:
    eta_s = int((total - it) * t)
    eta = f"{eta_s // 86400} day, " if eta_s >= 86400 else ""
    eta += f"{eta_s % 86400 // 3600}:{eta_s % 3600 // 60:02d}:{eta_s % 60:02d}"
    grad_text = f"  grad_norm: {grad:.4f}" if grad is not None else ""
    return (
        f"{stamp(clock)} - mmengine - INFO - Iter(train) [{it:>5}/{total}]  lr: {lr:.4e}  "
        f"eta: {eta}  time: {t:.4f}  data_time: {d:.4f}  memory: 9823{grad_text}  "
        f"loss: {loss:.4f}  decode.loss_ce: {loss * 0.7:.4f}  decode.acc_seg: 87.5312  "
        f"aux.loss_ce: {loss * 0.3:.4f}  aux.acc_seg: 85.1201\n"
    )


def checkpoint_stalls() -> None:
    """mmseg, iter-based, CheckpointHook(interval=5000) on a slow disk: 150 s per save."""
    rng = random.Random(1)
    total, clock = 40000, 0.0
    out = [
        MM_ENV.format(stamp=stamp(0)),
        "default_hooks = dict(\n",
        "    checkpoint=dict(by_epoch=False, interval=5000, type='CheckpointHook'),\n",
        "    logger=dict(interval=50, log_metric_by_epoch=False, type='LoggerHook'),\n",
        "    timer=dict(type='IterTimerHook'))\n",
        "train_cfg = dict(max_iters=40000, type='IterBasedTrainLoop', val_interval=40000)\n",
        "\n",
    ]
    for it in range(50, total + 1, 50):
        t = 0.9 * (1 + rng.uniform(-0.04, 0.04))
        if it % 5000 == 50 and it > 50:
            t += 150 / 50
        clock += t * 50
        out.append(mm_iter_line(clock, it, total, t, 0.012, 1.2 / (1 + it / 8000)))
        if it % 5000 == 0:
            out.append(f"{stamp(clock)} - mmengine - INFO - Saving checkpoint at {it} iterations\n")
    (HERE / "mmengine_checkpoint_stalls.log").write_text("".join(out))


def eval_booked_as_data_time() -> None:
    """Iter-based with val_interval=2000: the 30 s validation lands in the next window's
    time and data_time (IterTimerHook measures data_time from the previous iteration's end)."""
    rng = random.Random(2)
    total, clock = 16000, 0.0
    out = [
        MM_ENV.format(stamp=stamp(0)),
        "default_hooks = dict(checkpoint=dict(by_epoch=False, interval=16000, "
        "type='CheckpointHook'))\n",
        "train_cfg = dict(max_iters=16000, type='IterBasedTrainLoop', val_interval=2000)\n\n",
    ]
    for it in range(50, total + 1, 50):
        t = 0.5 * (1 + rng.uniform(-0.03, 0.03))
        d = 0.01
        if it % 2000 == 50 and it > 50:
            t += 30 / 50
            d += 30 / 50
        clock += t * 50
        out.append(mm_iter_line(clock, it, total, t, d, 0.8 / (1 + it / 4000)))
        if it % 2000 == 0 and it < total:
            out.append(
                f"{stamp(clock)} - mmengine - INFO - Iter(val) [ 50/500]    eta: 0:00:27"
                "  time: 0.0605  data_time: 0.0021  memory: 1520\n"
            )
            out.append(
                f"{stamp(clock)} - mmengine - INFO - Iter(val) [500/500]    aAcc: 94.1200"
                "  mIoU: 71.0400  mAcc: 80.2200  data_time: 0.0019  time: 0.0598\n"
            )
    (HERE / "mmengine_eval_booked_as_data_time.log").write_text("".join(out))


def healthy_epoch_based() -> None:
    """mmdet, epoch-based, 2 epochs, finished; the COCO table has nan APs (no GT for a class)."""
    rng = random.Random(3)
    clock = 0.0
    out = [
        MM_ENV.format(stamp=stamp(0)),
        "train_cfg = dict(max_epochs=2, type='EpochBasedTrainLoop', val_interval=1)\n",
        "default_hooks = dict(checkpoint=dict(interval=1, type='CheckpointHook'))\n\n",
    ]
    for epoch in (1, 2):
        for it in range(50, 501, 50):
            t = 0.61 * (1 + rng.uniform(-0.04, 0.04))
            clock += t * 50
            loss = 1.9 / (1 + ((epoch - 1) * 500 + it) / 300)
            out.append(
                f"{stamp(clock)} - mmengine - INFO - Epoch(train)  [{epoch}][{it:>3}/500]  "
                f"base_lr: 2.0000e-02 lr: 2.0000e-02  eta: 0:05:00  time: {t:.4f}  "
                f"data_time: 0.0140  memory: 3746  grad_norm: {4 + rng.random():.4f}  "
                f"loss: {loss:.4f}  loss_rpn_cls: {loss * 0.1:.4f}  loss_cls: {loss * 0.5:.4f}\n"
            )
        out.append(f"{stamp(clock)} - mmengine - INFO - Saving checkpoint at {epoch} epochs\n")
        out.append(
            f"{stamp(clock)} - mmengine - INFO - Epoch(val)  [{epoch}][50/125]    "
            "eta: 0:00:09  time: 0.0701  data_time: 0.0023  memory: 512\n"
        )
        out.append(
            f"{stamp(clock)} - mmengine - INFO - \n"
            "+----------+-------+--------+--------+-------+-------+-------+\n"
            "| category | mAP   | mAP_50 | mAP_75 | mAP_s | mAP_m | mAP_l |\n"
            "+----------+-------+--------+--------+-------+-------+-------+\n"
            "| person   | 0.412 | 0.701  | 0.430  | 0.231 | 0.460 | 0.541 |\n"
            "| toaster  | nan   | nan    | nan    | nan   | nan   | nan   |\n"
            "+----------+-------+--------+--------+-------+-------+-------+\n"
        )
        out.append(
            f"{stamp(clock)} - mmengine - INFO - Epoch(val) [{epoch}][125/125]    "
            "coco/bbox_mAP: 0.4120  coco/bbox_mAP_50: 0.7010  data_time: 0.0021  "
            "time: 0.0688\n"
        )
    (HERE / "mmengine_healthy_epochs.log").write_text("".join(out))


def appended_runs() -> None:
    """Run 1 dies of a CUDA OOM at iter 3200; run 2 resumes from iter 3000 in the same file."""
    rng = random.Random(4)
    out = [
        MM_ENV.format(stamp=stamp(0)),
        "train_cfg = dict(max_iters=8000, type='IterBasedTrainLoop', val_interval=8000)\n\n",
    ]
    clock = 0.0
    for it in range(50, 3201, 50):
        t = 0.7 * (1 + rng.uniform(-0.03, 0.03))
        clock += t * 50
        out.append(mm_iter_line(clock, it, 8000, t, 0.01, 0.9))
    out.append(
        "Traceback (most recent call last):\n"
        '  File "tools/train.py", line 104, in <module>\n'
        "    main()\n"
        '  File "/opt/conda/lib/python3.10/site-packages/torch/nn/functional.py", line 2450, '
        "in batch_norm\n"
        "    return torch.batch_norm(\n"
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 512.00 MiB. GPU 0 "
        "has a total capacity of 23.69 GiB of which 301.56 MiB is free. Including non-PyTorch "
        "memory, this process has 23.38 GiB memory in use. Of the allocated memory 22.71 GiB is "
        "allocated by PyTorch, and 215.40 MiB is reserved by PyTorch but unallocated. If reserved "
        "but unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:"
        "True to avoid fragmentation.  See documentation for Memory Management  "
        "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)\n"
    )
    out.append(MM_ENV.format(stamp=stamp(clock + 600)))
    out.append("train_cfg = dict(max_iters=8000, type='IterBasedTrainLoop', val_interval=8000)\n")
    out.append(f"{stamp(clock + 620)} - mmengine - INFO - resumed epoch: 0, iter: 3000\n")
    for it in range(3050, 6001, 50):
        t = 0.7 * (1 + rng.uniform(-0.03, 0.03))
        clock += t * 50
        out.append(mm_iter_line(clock, it, 8000, t, 0.01, 0.85))
    (HERE / "mmengine_appended_runs.log").write_text("".join(out))


def mmcv_input_bound() -> None:
    """mmdet 2.x (mmcv 1.x) log.json: env_info/config first, data_time ~55 % of time."""
    rng = random.Random(5)
    config = (
        "checkpoint_config = dict(interval=1)\nlog_config = dict(interval=50, "
        "hooks=[dict(type='TextLoggerHook')])\nrunner = dict(type='EpochBasedRunner', "
        "max_epochs=3)\nevaluation = dict(interval=1, metric='bbox')\n"
    )
    lines = [
        json.dumps(
            {
                "env_info": "sys.platform: linux\nPython: 3.8.13",
                "config": config,
                "seed": 0,
                "exp_name": "faster_rcnn_r50_fpn_1x_coco.py",
            }
        )
    ]
    for epoch in (1, 2, 3):
        for it in range(50, 751, 50):
            t = 0.62 * (1 + rng.uniform(-0.05, 0.05))
            d = 0.34 * (1 + rng.uniform(-0.05, 0.05))
            lines.append(
                json.dumps(
                    {
                        "mode": "train",
                        "epoch": epoch,
                        "iter": it,
                        "lr": 0.02,
                        "memory": 3746,
                        "data_time": round(d, 5),
                        "loss_rpn_cls": 0.05,
                        "loss": round(0.9 - epoch * 0.1, 5),
                        "time": round(t, 5),
                    }
                )
            )
        lines.append(
            json.dumps(
                {
                    "mode": "val",
                    "epoch": epoch,
                    "iter": 625,
                    "lr": 0.02,
                    "bbox_mAP": 0.2 + epoch / 100,
                    "bbox_mAP_50": 0.4,
                }
            )
        )
    (HERE / "mmcv_input_bound.log.json").write_text("\n".join(lines) + "\n")


def detectron2_nan() -> None:
    """detectron2 metrics.json: warm-up to lr 0.02 over 1000 iters, NaN at iteration 1839."""
    rng = random.Random(6)
    lines = []
    for it in range(19, 1860, 20):
        lr = 0.02 * min(1.0, (it + 1) / 1000)
        loss = 2.2 / (1 + it / 2000)
        if it >= 1839:
            loss = float("nan")
        lines.append(
            json.dumps(
                {
                    "data_time": round(0.004 + rng.random() * 0.002, 6),
                    "eta_seconds": 30000 - it * 0.3,
                    "fast_rcnn/cls_accuracy": 0.91,
                    "iteration": it,
                    "loss_box_reg": 0.3,
                    "loss_cls": 0.4,
                    "lr": lr,
                    "rank_data_time": 0.004,
                    "time": round(0.31 + rng.random() * 0.01, 6),
                    "total_loss": loss,
                }
            )
        )
    lines.append(json.dumps({"bbox/AP": 21.3, "bbox/AP50": 40.2, "iteration": 999}))
    (HERE / "detectron2_nan_metrics.json").write_text("\n".join(lines) + "\n")


def detr_healthy() -> None:
    """DETR log.txt: one JSON object per epoch, train_* and test_* keys, n_parameters."""
    lines = []
    for epoch in range(10):
        lines.append(
            json.dumps(
                {
                    "train_lr": 1e-4,
                    "train_class_error": 30 - epoch,
                    "train_loss": 12.0 - epoch * 0.4,
                    "train_loss_ce": 0.9,
                    "test_class_error": 28 - epoch,
                    "test_loss": 11.0 - epoch * 0.3,
                    "test_coco_eval_bbox": [
                        0.1 + epoch / 100,
                        0.2,
                        0.1,
                        0.0,
                        0.1,
                        0.2,
                        0.2,
                        0.3,
                        0.3,
                        0.1,
                        0.3,
                        0.4,
                    ],
                    "epoch": epoch,
                    "n_parameters": 41302368,
                }
            )
        )
    (HERE / "detr_log.txt").write_text("\n".join(lines) + "\n")


def ultralytics_nan() -> None:
    """YOLOv8 results.csv with space-padded header; losses turn nan at epoch 37 (AMP)."""
    cols = [
        "epoch",
        "train/box_loss",
        "train/cls_loss",
        "train/dfl_loss",
        "metrics/precision(B)",
        "metrics/recall(B)",
        "metrics/mAP50(B)",
        "metrics/mAP50-95(B)",
        "val/box_loss",
        "val/cls_loss",
        "val/dfl_loss",
        "lr/pg0",
        "lr/pg1",
        "lr/pg2",
    ]
    rows = [",".join(f"{c:>23}" for c in cols)]
    for epoch in range(1, 41):
        if epoch >= 37:
            vals = ["nan", "nan", "nan", "0", "0", "0", "0", "nan", "nan", "nan"]
        else:
            vals = [
                f"{1.5 - epoch * 0.01:.5f}",
                f"{2.1 - epoch * 0.03:.5f}",
                f"{1.3 - epoch * 0.005:.5f}",
                "0.61",
                "0.55",
                "0.58",
                "0.39",
                "1.41",
                "1.52",
                "1.22",
            ]
        lr = ["0.00066", "0.00066", "0.00066"]
        rows.append(",".join(f"{v:>23}" for v in [str(epoch), *vals, *lr]))
    (HERE / "ultralytics_nan_results.csv").write_text("\n".join(rows) + "\n")


def lightning_healthy() -> None:
    """Lightning CSVLogger metrics.csv: sparse rows, train_loss_step every 50 steps, val_loss
    once per epoch."""
    rows = ["epoch,step,train_loss_epoch,train_loss_step,val_acc,val_loss"]
    for epoch in range(3):
        for step in range(49 + epoch * 400, 400 + epoch * 400, 50):
            rows.append(f"{epoch},{step},,{1.2 - step / 2000:.4f},,")
        last = 399 + epoch * 400
        rows.append(f"{epoch},{last},,,{0.7 + epoch / 50:.4f},{0.9 - epoch / 20:.4f}")
        rows.append(f"{epoch},{last},{1.0 - epoch / 10:.4f},,,")
    (HERE / "lightning_metrics.csv").write_text("\n".join(rows) + "\n")


def hf_grad_explosion() -> None:
    """trainer_state.json: grad_norm ~1 that explodes near step 1500, loss spikes with it."""
    history = []
    for step in range(10, 2001, 10):
        grad = 1.0 + (step % 70) / 100
        loss = 2.0 - step / 4000
        if step in (1500, 1510, 1620, 1700):
            grad, loss = 850.0 + step, 9.5
        history.append(
            {
                "epoch": round(step / 1000, 4),
                "grad_norm": grad,
                "learning_rate": 5e-5,
                "loss": loss,
                "step": step,
            }
        )
        if step % 500 == 0:
            history.append(
                {"epoch": step / 1000, "eval_loss": 1.7, "eval_runtime": 12.3, "step": step}
            )
    state = {
        "best_metric": None,
        "epoch": 2.0,
        "eval_steps": 500,
        "global_step": 2000,
        "is_hyper_param_search": False,
        "logging_steps": 10,
        "max_steps": 3000,
        "num_train_epochs": 3,
        "save_steps": 500,
        "log_history": history,
        "total_flos": 1.2e16,
        "train_batch_size": 8,
    }
    (HERE / "hf_trainer_state.json").write_text(json.dumps(state, indent=2) + "\n")


def tqdm_worker_killed() -> None:
    """Console output of a plain loop with tqdm: refreshes joined by \\r, a non-UTF-8 byte in a
    path (latin-1 file name), and a worker killed by the OOM killer."""
    parts = [b"Loading data from /data/caf\xe9/train ...\n"]
    bar = []
    for n in range(0, 401, 8):
        rate = 6.8 if n % 96 else 6.1
        bar.append(
            f"Epoch 1:  {n * 100 // 1000:>2}%|{'#' * (n // 100):<10}| {n}/1000 "
            f"[00:{n // 7:02d}<02:{(1000 - n) // 7 % 60:02d}, {rate:.2f}it/s, "
            f"loss={1.5 - n / 1000:.3f}]".encode()
        )
    parts.append(b"\r".join(bar))
    parts.append(
        b"\nTraceback (most recent call last):\n"
        b'  File "/usr/lib/python3/dist-packages/torch/utils/data/dataloader.py", '
        b"line 1133, in _try_get_data\n"
        b"    data = self._data_queue.get(timeout=timeout)\n"
        b"RuntimeError: DataLoader worker (pid 4721) is killed by signal: Killed. \n"
    )
    (HERE / "tqdm_worker_killed.log").write_bytes(b"".join(parts))


def _tqdm_bar(times: list[float], total: int, desc: str, loss0: float) -> bytes:
    """Bar refreshes as tqdm writes them to a file: one per iteration, joined by \\r, the
    rate smoothed the way tqdm smooths it (exponential average of the time per iteration,
    factor 0.3, bias-corrected), printed as it/s or s/it."""
    alpha, avg, calls, elapsed, out = 0.3, 0.0, 0, 0.0, []
    for n, seconds in enumerate(times, start=1):
        calls += 1
        avg = alpha * seconds + (1 - alpha) * avg
        per_it = avg / (1 - (1 - alpha) ** calls)
        elapsed += seconds
        left = per_it * (total - n)
        rate = f"{1 / per_it:.2f}it/s" if per_it < 1 else f"{per_it:.2f}s/it"
        clock = f"{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}"
        eta = f"{int(left) // 60:02d}:{int(left) % 60:02d}"
        pct = n * 100 // total
        fill = "#" * (pct // 10)
        out.append(
            f"{desc}: {pct:3d}%|{fill:<10}| {n}/{total} [{clock}<{eta}, {rate}, "
            f"loss={loss0 - n / (4 * total):.3f}]"
        )
    return "\r".join(out).encode()


def tqdm_input_bound(name: str, workers: int, state_workers: bool) -> None:
    """A plain loop whose DataLoader workers cannot keep up: every ``workers``-th iteration
    waits for the next batch (each worker's batch comes due in turn). The pattern and its
    size follow reports where 4 workers made one step in four slow and where the slowdown
    came every num_workers batches."""
    rng = random.Random(workers)
    times = []
    for i in range(600):
        compute = 0.42 * (1 + rng.uniform(-0.03, 0.03))
        times.append(compute + (2.9 if i % workers == 0 else 0.0))
    head = b"=> creating model 'resnet50'\n"
    if state_workers:
        head = (
            b"Namespace(arch='resnet50', batch_size=128, data='/data/imagenet', epochs=90, "
            b"lr=0.1, momentum=0.9, print_freq=10, resume='', seed=None, "
            + f"workers={workers}".encode()
            + b", world_size=-1)\n"
            + head
        )
    (HERE / name).write_bytes(head + _tqdm_bar(times, 600, "Epoch 0", 6.9) + b"\n")


def tqdm_steady() -> None:
    """A healthy plain loop: 3 % jitter and one slow iteration (a garbage collection or a
    log flush); nothing periodic."""
    rng = random.Random(7)
    times = [0.31 * (1 + rng.uniform(-0.03, 0.03)) for _ in range(600)]
    times[333] = 0.9
    (HERE / "tqdm_steady.log").write_bytes(_tqdm_bar(times, 600, "train", 2.3) + b"\n")


if __name__ == "__main__":
    for writer in (
        checkpoint_stalls,
        eval_booked_as_data_time,
        healthy_epoch_based,
        appended_runs,
        mmcv_input_bound,
        detectron2_nan,
        detr_healthy,
        ultralytics_nan,
        lightning_healthy,
        hf_grad_explosion,
        tqdm_worker_killed,
        tqdm_steady,
    ):
        writer()
    tqdm_input_bound("tqdm_input_bound_workers.log", 4, state_workers=True)
    tqdm_input_bound("tqdm_input_bound_unstated.log", 6, state_workers=False)
