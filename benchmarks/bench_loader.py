"""DataLoader benchmark: the smart search of ``gpudoctor bench loader`` vs an exhaustive sweep.

Usage (from the repository root; needs torch and Pillow)::

    PYTHONPATH=src python benchmarks/bench_loader.py [--seconds 1.5] [--batch-size 32]

Both runs use the built-in synthetic JPEG dataset (decode 500x375, random resized crop to
224x224, flip, normalise) and the same grid: num_workers 0, 1, 2, 4, ... up to the usable
CPUs x prefetch_factor {2, 4} x persistent_workers {True, False} (x pin_memory with CUDA). The
exhaustive sweep measures every setting for the full time; the smart search climbs worker
counts and stops on a plateau.

Goals: the recommended setting's throughput, as measured by the exhaustive sweep, is at least
90% of the best setting in that sweep; the smart search takes at most a third of the sweep's
time. Both are run twice, alternating, to even out other load on the machine.
"""

from __future__ import annotations

import argparse
import sys

from gpudoctor.probes.bench.loader import LoaderBenchRequest
from gpudoctor.probes.bench.loader import run_loader_bench
from gpudoctor.probes.bench.loader import setting_key


def run(mode: str, seconds: float, batch_size: int) -> dict:
    request = LoaderBenchRequest(seconds=seconds, batch_size=batch_size, mode=mode)
    return run_loader_bench(request)


def steady(result: dict) -> list[dict]:
    return [c for c in result["configs"] if c.get("phase") != "restart" and c["status"] == "ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ok = True
    for round_no in range(1, args.rounds + 1):
        smart = run("smart", args.seconds, args.batch_size)
        full = run("exhaustive", args.seconds, args.batch_size)
        rows = steady(full)
        best = max(rows, key=lambda r: r["samples_per_s"])
        rec = smart["recommended"]
        same = [r for r in rows if setting_key(r) == setting_key(rec)]
        rec_in_sweep = same[0]["samples_per_s"] if same else float("nan")
        share = rec_in_sweep / best["samples_per_s"]
        time_ratio = smart["elapsed_s"] / full["elapsed_s"]
        print(
            f"round {round_no}: {smart.get('cpus')} CPUs, start method {smart.get('start_method')}"
        )
        print(f"  exhaustive: {len(rows)} settings in {full['elapsed_s']:.1f} s")
        for r in rows:
            print(
                f"    workers={r['num_workers']} prefetch={r['prefetch_factor']} "
                f"persistent={r['persistent_workers']}: {r['samples_per_s']:.1f} samples/s"
            )
        print(
            f"  smart: {len(smart['configs'])} measurements in {smart['elapsed_s']:.1f} s, "
            f"recommends workers={rec['num_workers']} prefetch={rec['prefetch_factor']} "
            f"persistent={rec['persistent_workers']}"
        )
        print(
            f"  recommended setting in the sweep: {rec_in_sweep:.1f} samples/s = "
            f"{share:.1%} of the best ({best['samples_per_s']:.1f}, workers="
            f"{best['num_workers']}); goal >= 90%"
        )
        print(f"  time: smart / exhaustive = {time_ratio:.2f}; goal <= 0.33")
        ok = ok and share >= 0.9 and time_ratio <= 1 / 3
    print("goals met" if ok else "goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
