"""How long the training readers and gpudoctor.preflight take.

Run from the repository root:  PYTHONPATH=src python benchmarks/training_analysis.py
Prints milliseconds per call for the fixture script, a generated 1.5 MiB script and the
RT-DETR YAML, and seconds for one preflight of a spawn DataLoader (needs torch).
"""

from __future__ import annotations

import time
from pathlib import Path

from gpudoctor.readers.training_config import analyse_config
from gpudoctor.readers.training_script import analyse_source

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "training"


def per_call_ms(func, *args, repeat=20):
    started = time.perf_counter()
    for _ in range(repeat):
        func(*args)
    return (time.perf_counter() - started) / repeat * 1000


def main():
    script = (FIXTURES / "train_unguarded.py").read_text()
    print(f"unguarded fixture script: {per_call_ms(analyse_source, script):.2f} ms")
    block = "def f{0}(x):\n    return DataLoader(x, num_workers={0} % 8, collate_fn=lambda b: b)\n"
    big = "from torch.utils.data import DataLoader\n" + "".join(
        block.format(i) for i in range(16000)
    )
    print(
        f"generated script, {len(big) / 2**20:.1f} MiB: "
        f"{per_call_ms(analyse_source, big, repeat=1):.0f} ms"
    )
    print(f"RT-DETR YAML: {per_call_ms(analyse_config, FIXTURES / 'rtdetr_r50vd_coco.yml'):.2f} ms")
    try:
        from torch.utils.data import DataLoader
    except ImportError:
        return
    import gpudoctor

    loader = DataLoader(list(range(100)), num_workers=2, multiprocessing_context="spawn")
    started = time.perf_counter()
    gpudoctor.preflight(loader)
    print(f"preflight of a spawn DataLoader: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
