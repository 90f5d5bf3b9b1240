"""Benchmark results as people read them: short text with bar charts, or Markdown tables."""

from __future__ import annotations

from typing import Any

from gpudoctor.checks.bench import STUTTER_LIMIT
from gpudoctor.checks.bench import describe_setting
from gpudoctor.probes.bench.loader import aggregate

MiB = 1 << 20
#: Terminal output fits this many columns; bars are this wide.
WIDTH = 80
BAR = 16


def wrap_lines(lines: list[str], width: int = WIDTH) -> list[str]:
    """Long lines wrapped at ``width``, continuation lines indented under their text."""
    import textwrap

    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        hang = indent + 2
        out.extend(
            textwrap.wrap(
                line.strip(),
                width=width,
                initial_indent=" " * indent,
                subsequent_indent=" " * hang,
                break_on_hyphens=False,
            )
        )
    return out


def bar(value: float | None, peak: float | None, width: int = 28, *, plain: bool = False) -> str:
    """A horizontal bar of ``value`` relative to ``peak`` (eighth-block resolution)."""
    if not value or not peak or peak <= 0:
        return ""
    cells = max(0.0, min(1.0, value / peak)) * width
    if plain:
        return "#" * max(1, round(cells))
    full = int(cells)
    rest = int((cells - full) * 8)
    return "█" * full + ("" if not rest else " ▏▎▍▌▋▊▉"[rest])


def _size(value: float | None) -> str:
    if not value:
        return "-"
    if value >= 1 << 30:
        return f"{value / (1 << 30):.1f} GiB"
    return f"{value / MiB:.0f} MiB" if value >= MiB else f"{value / 1024:.0f} KiB"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


# -- disk ---------------------------------------------------------------------------------


def disk_lines(result: dict[str, Any], *, plain: bool = False) -> list[str]:
    fs = result["filesystem"]
    lines = [f"Disk read speed of {result['path']}"]
    where = f"{fs.get('fstype') or 'unknown'}"
    if fs.get("source"):
        where += f" on {fs['source']}"
    if fs.get("mount_point"):
        where += f" (mounted at {fs['mount_point']})"
    lines.append(f"  filesystem: {where}: {fs['kind']}")
    lines.append(f"  {fs['meaning']}")
    seen = f"  files: {result['files_seen']:,} ({_size(result['bytes_seen'])})"
    if result.get("scan_truncated"):
        seen += ", listing stopped early (a sample of a large folder)"
    lines.append(seen)
    seq = result.get("sequential")
    if seq:
        lines.append(
            f"  sequential, large files: {_num(seq['mb_per_s'])} MB/s "
            f"({seq['files']} files, {_size(seq['bytes'])} in {seq['seconds']:.2f} s) "
            f"[{seq['cache']}]"
        )
    else:
        lines.append("  sequential, large files: none of 16 MiB or more in the folder")
    small = result.get("small_files")
    if small:
        lines.append(
            f"  small files, random order: {_num(small['files_per_s'])} files/s, "
            f"{_num(small['mb_per_s'])} MB/s ({small['files']:,} files, mean "
            f"{_size(small['mean_file_bytes'])}) [{small['cache']}]"
        )
        lines.append(
            f"  -> with one file per sample, the disk alone caps training at about "
            f"{_num(small['files_per_s'], 0)} samples/s (per process reading)."
        )
    series = disk_series(result)
    if series:
        peak = max(value for _, value in series)
        lines.append("")
        lines.append("  MB/s")
        lines.extend(
            f"  {label:<22} {_num(value):>9}  {bar(value, peak, BAR * 2, plain=plain)}"
            for label, value in series
        )
    return wrap_lines(lines)


def disk_series(result: dict[str, Any]) -> list[tuple[str, float]]:
    """(read pattern, MB/s) pairs: the data of the disk chart, as in the JSON."""
    out = []
    for label, key in (
        ("sequential, large files", "sequential"),
        ("small files, random", "small_files"),
    ):
        part = result.get(key)
        if part and part.get("mb_per_s") is not None:
            out.append((label, float(part["mb_per_s"])))
    return out


def loader_series(result: dict[str, Any]) -> list[tuple[int, float]]:
    """(num_workers, best samples/s at that count) pairs: the data of the loader chart."""
    best: dict[int, float] = {}
    for row in _settings_rows(result):
        rate = row.get("samples_per_s")
        if row.get("status") == "ok" and rate is not None:
            workers = int(row["num_workers"])
            best[workers] = max(best.get(workers, 0.0), float(rate))
    return sorted(best.items())


def mermaid_xychart(
    title: str, x_label: str, categories: list[str], y_label: str, values: list[float]
) -> list[str]:
    """A Mermaid ``xychart-beta`` bar chart (GitHub renders it in issues and PRs)."""
    top = max(values, default=0.0)
    y_max = max(1, round(top * 1.1))
    quoted = ", ".join(f'"{c}"' for c in categories)
    numbers = ", ".join(f"{v:.1f}" for v in values)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{title}"',
        f'    x-axis "{x_label}" [{quoted}]',
        f'    y-axis "{y_label}" 0 --> {y_max}',
        f"    bar [{numbers}]",
        "```",
        "",
    ]


def disk_markdown(result: dict[str, Any]) -> str:
    fs = result["filesystem"]
    rows = [
        "## gpudoctor bench disk",
        "",
        f"Folder `{result['path']}` on `{fs.get('fstype')}` ({fs['kind']}): {fs['meaning']}",
        "",
        "| read pattern | files | MB/s | files/s | cache |",
        "|---|---|---|---|---|",
    ]
    for label, key in (
        ("sequential, large files", "sequential"),
        ("small files, random", "small_files"),
    ):
        part = result.get(key)
        if part:
            rows.append(
                f"| {label} | {part['files']} | {_num(part['mb_per_s'])} | "
                f"{_num(part['files_per_s'])} | {part['cache']} |"
            )
    series = disk_series(result)
    if len(series) > 1:
        rows.append("")
        rows += mermaid_xychart(
            "Disk read speed",
            "read pattern",
            [s for s, _ in series],
            "MB/s",
            [v for _, v in series],
        )
    return "\n".join(rows) + "\n"


# -- loader -------------------------------------------------------------------------------


def _source_label(result: dict[str, Any]) -> str:
    source = result.get("source", {})
    kind = source.get("kind")
    if kind == "synthetic":
        return f"synthetic JPEGs 500x375 -> 224x224 ({result.get('images', '?')} files)"
    if kind == "images":
        return f"{source.get('images')} images in {source.get('dir')}"
    return f"dataset {source.get('spec')}"


def _settings_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per setting: repeated measurements folded into their median and range."""
    return aggregate(result.get("configs", []))


def _range(row: dict[str, Any]) -> str:
    if (row.get("runs") or 1) < 2:
        return ""
    return (
        f"{_num(row.get('samples_per_s_min'))}-{_num(row.get('samples_per_s_max'))} "
        f"({row['runs']} runs)"
    )


def setting_label(row: dict[str, Any]) -> str:
    """A DataLoader setting in a few characters: ``4 w pf2 pers pin``."""
    label = f"{row['num_workers']} w"
    if row.get("prefetch_factor"):
        label += f" pf{row['prefetch_factor']}"
    if row.get("persistent_workers"):
        label += " pers"
    if row.get("pin_memory"):
        label += " pin"
    return label


def loader_lines(result: dict[str, Any], *, plain: bool = False) -> list[str]:
    """The settings measured as a compact table with a bar chart, 80 columns at most."""
    lines = [
        f"DataLoader throughput: {_source_label(result)}",
        f"  batch {result.get('batch_size')}, start method {result.get('start_method')}, "
        f"{result.get('cpus')} usable CPUs, torch {result.get('torch')}, "
        f"{result.get('mode')} search in {result.get('elapsed_s')} s",
        "",
    ]
    rows = _settings_rows(result)
    peak = max((r.get("samples_per_s") or 0 for r in rows), default=0)
    lines.append(
        f"  {'setting':<18} {'samples/s':>9}  {'':<{BAR}} {'1st batch':>9} {'stutter':>7} "
        f"{'RAM/wkr':>8}"
    )
    for row in rows:
        label = setting_label(row)
        if row["status"] != "ok":
            status = "HANG" if row["status"] == "hang" else "error"
            lines.append(f"  {label:<18} {status:>9}  {row.get('error', '')}")
            continue
        lines.append(
            f"  {label:<18} {_num(row.get('samples_per_s')):>9}  "
            f"{bar(row.get('samples_per_s'), peak, BAR, plain=plain):<{BAR}} "
            f"{_num(row.get('first_batch_s'), 2) + ' s':>9} {_num(row.get('stutter'), 2):>7} "
            f"{_size(row.get('peak_worker_uss_bytes')):>8}"
        )
        spread = _range(row)
        if spread:
            lines.append(f"  {'':<18} {'':>9}  range {spread}")
    lines.append("")
    lines.extend(loader_verdict_lines(result))
    return wrap_lines(lines)


def loader_verdict_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    hang = result.get("hang")
    if hang:
        lines.append(f"  WORKER START-UP HANG: {hang['message']}.")
        lines.extend(f"    - {text}" for text in HANG_REMEDIES)
    rec = result.get("recommended")
    best = result.get("best")
    if rec and best:
        lines.append(
            f"  Recommended: DataLoader(..., {describe_setting(rec)}): "
            f"{_num(rec['samples_per_s'])} samples/s, the fewest workers within 5% of the "
            f"best measured ({_num(best['samples_per_s'])} samples/s)."
        )
        if result.get("loader_bound_at_default"):
            lines.append(
                f"  Loading in the main process (num_workers=0, the default) is the bottleneck: "
                f"{rec['num_workers']} workers read {result['speedup_vs_main_process']}x faster."
            )
        if (rec.get("stutter") or 0) > STUTTER_LIMIT:
            lines.append(
                f"  Batches arrive in bursts (stutter score {rec['stutter']}, p95 gap / mean gap): "
                "the GPU will idle between bursts; more workers or a larger prefetch_factor help."
            )
    lines.extend(stability_lines(result))
    restarts = {
        bool(c.get("persistent_workers")): c
        for c in result.get("configs", [])
        if c.get("phase") == "restart" and c.get("status") == "ok"
    }
    if restarts and rec:
        kept, fresh = restarts.get(True), restarts.get(False)
        parts = []
        if kept:
            parts.append(f"{_num(kept.get('restart_first_batch_s'), 2)} s with persistent workers")
        if fresh:
            parts.append(f"{_num(fresh.get('restart_first_batch_s'), 2)} s without")
        lines.append("  Next-epoch start-up (timed at a real epoch end): " + ", ".join(parts) + ".")
    if result.get("below_target"):
        lines.append(
            f"  Even the best setting stays below the {result['target_samples_per_s']:g} samples/s "
            "the training step needs: the run is input-bound. Pre-resize or cache decoded data."
        )
    return lines


def stability_lines(result: dict[str, Any]) -> list[str]:
    """Whether the recommendation held when the close settings were measured again."""
    state = result.get("stability")
    if not state:
        return []
    picks = ", ".join(str(p[0]) for p in state.get("picks") or ())
    if state.get("stable"):
        return [
            f"  The pick is stable: num_workers={state.get('modal_workers')} won "
            f"{round(state['share'] * len(state['picks']))} of {len(state['picks'])} "
            f"interleaved rounds (workers picked per round: {picks})."
        ]
    return [
        f"  The pick is NOT stable: across {state.get('rounds')} interleaved rounds the winner "
        f"changed (workers picked per round: {picks}); the spread per setting is in the "
        "table. The machine is too busy or too noisy to rank these settings: measure again "
        "when it is idle, or with a longer --seconds."
    ]


HANG_REMEDIES = (
    'Guard the training entry point with `if __name__ == "__main__":` (spawn re-imports it).',
    "Keep the main module cheap to import: no dataset loading or CUDA work at import time.",
    "Check worker_init_fn and the dataset's __getstate__/__setstate__ for blocking calls.",
    "Confirm with num_workers=0; on Linux try multiprocessing_context='fork' or 'forkserver'.",
    "Set DataLoader(timeout=...) so a stuck worker raises instead of hanging the run.",
)


def loader_markdown(result: dict[str, Any]) -> str:
    rows = _settings_rows(result)
    peak = max((r.get("samples_per_s") or 0 for r in rows), default=0)
    out = [
        "## gpudoctor bench loader",
        "",
        f"{_source_label(result)}; batch {result.get('batch_size')}, start method "
        f"{result.get('start_method')}, {result.get('cpus')} usable CPUs.",
        "",
    ]
    series = loader_series(result)
    if len(series) > 1:
        out += mermaid_xychart(
            "DataLoader throughput (best setting per worker count)",
            "num_workers",
            [str(w) for w, _ in series],
            "samples/s",
            [v for _, v in series],
        )
    out += [
        "| workers | prefetch | persistent | pin | samples/s | | first batch | gap p50/p95/p99 ms "
        "| stutter | RAM/worker | range (runs) |",
        "|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row["status"] != "ok":
            out.append(
                f"| {row['num_workers']} | {row.get('prefetch_factor') or '-'} | "
                f"{bool(row.get('persistent_workers'))} | {bool(row.get('pin_memory'))} | "
                f"**{row['status']}** | {row.get('error', '')} | | | | | |"
            )
            continue
        gaps = "/".join(_num(row.get(k), 0) for k in ("gap_p50_ms", "gap_p95_ms", "gap_p99_ms"))
        out.append(
            f"| {row['num_workers']} | {row.get('prefetch_factor') or '-'} | "
            f"{bool(row.get('persistent_workers'))} | {bool(row.get('pin_memory'))} | "
            f"{_num(row.get('samples_per_s'))} | `{bar(row.get('samples_per_s'), peak, 20)}` | "
            f"{_num(row.get('first_batch_s'), 2)} s | {gaps} | {_num(row.get('stutter'), 2)} | "
            f"{_size(row.get('peak_worker_uss_bytes'))} | {_range(row)} |"
        )
    out.append("")
    out.extend(line.strip() for line in loader_verdict_lines(result))
    return "\n".join(out) + "\n"


# -- gpu ----------------------------------------------------------------------------------


def gpu_lines(result: dict[str, Any]) -> list[str]:
    if result.get("status") == "skipped":
        return [f"GPU self-test skipped: {result['reason']}"]
    if not result.get("tests"):
        return [f"GPU self-test failed: {result.get('reason', 'no result')}"]
    lines = [f"GPU self-test: {result.get('name')} (torch {result.get('torch')})"]
    for test in result.get("tests", []):
        mark = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}.get(test["status"], test["status"])
        lines.append(f"  [{mark}] {test['name']}: {test['summary']}")
    return lines
