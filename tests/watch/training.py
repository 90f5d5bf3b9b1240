"""A tiny real training loop on the CPU, with one pathology per mode, for ``gpudoctor watch`` tests.

Usage: python training.py MODE LOG [STEPS [WORKERS]]
Modes: healthy, input (Dataset sleeps in __getitem__), checkpoint (writes a 250 MB file every
30 steps, 5 times), hang (a DataLoader worker blocks forever), creep (keeps 8 MiB per step alive),
interrupt (trains until Ctrl+C, then exits 42), exit3 (trains briefly, exits 3).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset

MODE = sys.argv[1]
LOG = sys.argv[2]
STEPS = int(sys.argv[3]) if len(sys.argv) > 3 else 0  # 0: until stopped
WORKERS = int(sys.argv[4]) if len(sys.argv) > 4 else 2
CHECKPOINT_EVERY = 30
CHECKPOINTS = 5  # then the run ends
CHECKPOINT_BYTES = 250 * 1024 * 1024
HANG_AT = 48  # samples; with batch 8 and 2 workers the loop runs a few steps first


def read_sample_blocking(index: int) -> None:
    """Stands in for a read that never returns (a dead network mount, a lock never released)."""
    threading.Event().wait()


class Samples(Dataset):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return 1_000_000

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if MODE == "input":
            time.sleep(0.03)  # slow decoding / remote storage
        if MODE == "hang" and index >= HANG_AT:
            read_sample_blocking(index)
        g = torch.Generator().manual_seed(index)
        return torch.randn(256, generator=g), torch.randn(256, generator=g)


INTERRUPTS: list[int] = []


def count_interrupt(signum: int, frame: object) -> None:
    """Counts Ctrl+C so a test can see it arrived exactly once (not doubled by a wrapper)."""
    INTERRUPTS.append(signum)


def main() -> int:
    torch.set_num_threads(1)
    if MODE == "interrupt":
        import signal

        signal.signal(signal.SIGINT, count_interrupt)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(Samples(), batch_size=8, num_workers=WORKERS)
    kept: list[torch.Tensor] = []
    blob = b"\x01" * CHECKPOINT_BYTES if MODE == "checkpoint" else b""
    with open(LOG, "a", encoding="utf-8") as log:
        for step, (x, y) in enumerate(loader):
            for _ in range(4 if MODE != "input" else 1):
                loss = nn.functional.mse_loss(model(x.repeat(8, 1)), y.repeat(8, 1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if MODE == "creep":
                kept.append(torch.ones(2 * 1024 * 1024))  # 8 MiB that is never released
            if MODE == "checkpoint" and step and step % CHECKPOINT_EVERY == 0:
                path = LOG + ".ckpt"
                with open(path, "wb") as ckpt:
                    ckpt.write(blob)
                    ckpt.flush()
                    os.fsync(ckpt.fileno())
                log.write(f"saved checkpoint {step // CHECKPOINT_EVERY}\n")
                if step // CHECKPOINT_EVERY == CHECKPOINTS:
                    return 0
            log.write(f"step {step} loss {loss.item():.4f}\n")
            log.flush()
            if INTERRUPTS:
                time.sleep(0.5)  # a second, forwarded copy would arrive by now
                log.write(f"interrupted {len(INTERRUPTS)}\n")
                return 42
            if MODE == "exit3" and step == 20:
                return 3
            if step == 10:
                started = time.perf_counter()
            if STEPS and step == STEPS:
                rate = (step - 10) / (time.perf_counter() - started)
                log.write(f"throughput {rate:.2f} steps/s\n")
                return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
