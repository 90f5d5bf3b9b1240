"""``gpudoctor check --replay`` of snapshots with 10k and 50k GPU-process rows.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_replay.py [--rounds 5] [--rows 10000 50000]
    PYTHONPATH=src python benchmarks/bench_replay.py --stages      # where the time goes

The snapshots are generated in a temporary folder from the recorded machine
``fixtures/machines/linux-server-stale-gpu-holders.json``: its holder rows are repeated with
fresh pids, start times and command lines until the table has the asked number of rows.

Paired interleaved rounds time ``check --replay`` (text, as a maintainer runs it; and
``--format json``) against ``python -m torch.utils.collect_env``. ``--stages`` times, in this
process, each stage of the replay: load (read, ``json.loads``, and the one walk that checks
the bounds and freezes the facts), validation, checks, redaction and rendering, for each
snapshot size; ``load_replay`` is the two load stages as ``check --replay`` runs them.

Goals (issue 20): the 10k-row replay <= 0.5x collect_env's wall time, the 50k-row one <= 1x.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import interleaved  # noqa: E402
from paired import machine_line  # noqa: E402
from paired import paired_ratio  # noqa: E402
from paired import spread  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "fixtures" / "machines" / "linux-server-stale-gpu-holders.json"


def make_snapshot(rows: int, target: Path) -> Path:
    """A copy of the fixture whose process table holds ``rows`` rows."""
    doc = json.loads(FIXTURE.read_text())
    table = doc["facts"]["gpu_processes"]
    seeds = table["processes"]
    processes: list[dict[str, Any]] = []
    for index in range(rows):
        row = copy.deepcopy(seeds[index % len(seeds)])
        row["pid"] = 100_000 + index
        row["pgid"] = 100_000 + index
        row["start_ticks"] = int(row["start_ticks"]) + index
        row["age_seconds"] = int(row["age_seconds"]) + index % 600
        row["cmdline"] = f"{row['cmdline']} --shard {index} --log /home/alice/runs/{index}.log"
        processes.append(row)
    table["processes"] = processes
    table["scanned"] = rows + 600
    path = target / f"replay-{rows}.json"
    path.write_text(json.dumps(doc))
    return path


def stages(path: Path) -> tuple[dict[str, tuple[float, float]], int]:
    """Wall and CPU seconds of each stage of ``check --replay PATH``, in process; findings."""
    from gpudoctor.facts.schema import validate_sections
    from gpudoctor.facts.snapshot import load_replay
    from gpudoctor.facts.snapshot import parse_replay
    from gpudoctor.privacy import redact_report
    from gpudoctor.registry import load_registry
    from gpudoctor.report.json_report import render_json
    from gpudoctor.report.text import render_text
    from gpudoctor.runner import Report
    from gpudoctor.runner import run_checks
    from gpudoctor.session import written_by_text

    spent: dict[str, tuple[float, float]] = {}
    started = [time.perf_counter(), time.process_time()]

    def clock(name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        spent[name] = (wall - started[0], cpu - started[1])
        started[:] = [time.perf_counter(), time.process_time()]

    parsed = parse_replay(path.read_bytes(), str(path))
    clock("read+parse+bound+freeze")
    validate_sections(parsed.document["facts"])
    clock("validation")
    del parsed
    started[:] = [time.perf_counter(), time.process_time()]
    facts = load_replay(path)
    clock("load_replay (the 2)")
    registry = load_registry(plugins=False)
    specs = [s for s in registry.select((), ()) if not s.deep]
    clock("registry")
    findings = run_checks(facts, specs, load_errors=[])
    report = Report(facts=facts, findings=findings, command="bench", replayed_from=str(path))
    clock("checks")
    written = redact_report(written_by_text(report), enabled=True)
    clock("redaction (text)")
    render_text(written, io.StringIO(), plain=True, verbose=False, strict=False)
    clock("render text")
    redacted = redact_report(report, enabled=True)
    clock("redaction (json)")
    render_json(redacted, strict=False)
    clock("render json")
    return spent, len(findings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--stages", action="store_true", help="time each stage in process")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    from gpudoctor.gc_pause import collector_paused

    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="gpudoctor-benchreplay-") as tmp:
        paths = {rows: make_snapshot(rows, Path(tmp)) for rows in args.rows}
        if args.stages:
            print(machine_line(args.rounds))
            for rows, path in paths.items():
                with collector_paused():  # as check does
                    runs = [stages(path) for _ in range(args.rounds)]
                size = path.stat().st_size / 1e6
                print(f"{rows} rows ({size:.1f} MB, {runs[0][1]} findings):")
                print(f"  {'stage':<24}{'cpu s':>26}{'wall s':>26}")
                for name in runs[0][0]:
                    walls = [spent[name][0] for spent, _ in runs]
                    cpus = [spent[name][1] for spent, _ in runs]
                    print(f"  {name:<24}{spread(cpus):>26}{spread(walls):>26}")
            return 0
        commands: dict[str, list[str]] = {}
        for rows, path in paths.items():
            base = [py, "-m", "gpudoctor", "check", "--replay", str(path)]
            commands[f"replay {rows}"] = base
            commands[f"replay {rows} json"] = [*base, "--format", "json"]
        commands["collect_env"] = [py, "-m", "torch.utils.collect_env"]
        results = interleaved(commands, args.rounds)
    print(machine_line(args.rounds))
    print(f"{'command':<20}{'wall s':>26}{'cpu s':>26}{'peak MiB':>10}")
    for label, runs in results.items():
        print(
            f"{label:<20}{spread(runs.walls):>26}{spread(runs.cpus):>26}"
            f"{runs.median('rss_kib') / 1024:>10.1f}  exit {sorted(set(runs.codes))}"
        )
    failures = []
    env = results["collect_env"]
    for rows in args.rows:
        goal = 0.5 if rows <= 10_000 else 1.0
        for label in (f"replay {rows}", f"replay {rows} json"):
            ratio = paired_ratio(results[label], env)
            cpu = paired_ratio(results[label], env, "cpus")
            print(
                f"{label} / collect_env: wall {spread(ratio)}, cpu {spread(cpu)} (goal <= {goal})"
            )
            if sorted(ratio)[len(ratio) // 2] > goal:
                failures.append(f"{label} is above {goal}x collect_env")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if args.check and failures else 0


if __name__ == "__main__":
    sys.exit(main())
