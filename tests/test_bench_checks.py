"""The deep checks GD701-GD705 on measured facts, and the deep probes wired end to end."""

from __future__ import annotations

import json

from conftest import make_facts
from gpudoctor.registry import load_registry
from gpudoctor.runner import run_checks


def _findings(facts, ids):
    specs = [s for s in load_registry(plugins=False) if s.id in ids]
    return {f.check_id: f for f in run_checks(facts, specs, probe_errors=False)}


def _disk(kind="local-ssd", files_per_s=5000.0, mb_per_s=900.0, cache="cold (O_DIRECT)"):
    part = {"mb_per_s": mb_per_s, "cache": cache}
    return {
        "path": "/data/train",
        "filesystem": {
            "kind": kind,
            "fstype": "ext4",
            "source": "/dev/nvme0n1p1",
            "mount_point": "/data",
        },
        "sequential": {"files": 2, **part},
        "small_files": {
            "files": 900,
            "files_per_s": files_per_s,
            "mean_file_bytes": 110_000,
            **part,
        },
    }


def _row(workers, sps, **extra):
    row = {
        "num_workers": workers,
        "samples_per_s": sps,
        "status": "ok",
        "first_batch_s": 0.3,
        "prefetch_factor": 2 if workers else None,
        "persistent_workers": workers > 0,
        "pin_memory": False,
        "phase": "steady",
        "stutter": 1.2,
        "gap_p50_ms": 10,
        "gap_p95_ms": 12,
        "gap_p99_ms": 14,
    }
    row.update(extra)
    return row


def _loader(rows, hang=None, **extra):
    from gpudoctor.probes.bench.loader import summarize

    result = summarize(
        {
            "configs": rows,
            "hang": hang,
            "start_method": "spawn",
            "source": {"kind": "synthetic"},
            "torch": "2.x",
        }
    )
    result.update(extra)
    return result


def test_fast_local_disk_passes():
    got = _findings(make_facts(bench_disk=_disk()), {"GD701", "GD702"})
    assert got["GD701"].severity.value == "pass"
    assert got["GD702"].severity.value == "pass"


def test_slow_small_files_warn_and_suggest_shards():
    got = _findings(make_facts(bench_disk=_disk(kind="network", files_per_s=120)), {"GD701"})
    assert got["GD701"].severity.value == "warn"
    assert "120 files/s" in got["GD701"].title
    assert any("shards" in r.text for r in got["GD701"].remedies)


def test_warm_cache_figure_is_only_info():
    got = _findings(make_facts(bench_disk=_disk(cache="warm-cache (x)")), {"GD701"})
    assert got["GD701"].severity.value == "info"


def test_wsl_drive_warns_with_copy_remedy():
    got = _findings(make_facts(bench_disk=_disk(kind="wsl-drive")), {"GD702"})
    assert got["GD702"].severity.value == "warn"
    assert any("Linux filesystem" in r.text for r in got["GD702"].remedies)


def test_unusable_data_path_is_reported():
    facts = make_facts(
        bench_disk={
            "path": "/nope",
            "error": "/nope: no such file or directory",
            "filesystem": {"kind": "unknown"},
        }
    )
    got = _findings(facts, {"GD701"})
    assert got["GD701"].severity.value == "warn"
    assert "no such file" in got["GD701"].title


def test_loader_bound_default_recommends_workers():
    facts = make_facts(
        bench_loader=_loader([_row(0, 100), _row(1, 190), _row(2, 380), _row(4, 390)])
    )
    got = _findings(facts, {"GD703", "GD704", "GD705"})
    assert got["GD703"].severity.value == "info"
    assert "num_workers=2" in got["GD703"].remedies[0].text
    assert got["GD704"].severity.value == "pass"
    assert got["GD705"].severity.value == "pass"


def test_stutter_warns():
    facts = make_facts(bench_loader=_loader([_row(0, 100, stutter=5.0)]))
    assert _findings(facts, {"GD704"})["GD704"].severity.value == "warn"


def test_hang_fails_with_main_guard_remedy():
    hang = {"num_workers": 1, "waited_s": 10, "message": "no batch from 1 worker(s) within 10 s"}
    facts = make_facts(
        bench_loader=_loader(
            [_row(0, 100), {"num_workers": 1, "status": "hang", "phase": "steady"}], hang=hang
        )
    )
    got = _findings(facts, {"GD705"})["GD705"]
    assert got.severity.value == "fail"
    assert any("__main__" in " ".join(r.commands) for r in got.remedies)


def test_slow_worker_start_warns():
    facts = make_facts(bench_loader=_loader([_row(0, 100), _row(2, 300, first_batch_s=9.0)]))
    assert _findings(facts, {"GD705"})["GD705"].severity.value == "warn"


def test_deep_checks_do_not_run_without_deep(cli):
    proc = cli("check", "--select", "GD7", "-f", "json")
    doc = json.loads(proc.stdout)
    assert not [f for f in doc["findings"] if f["id"].startswith("GD7")]


def test_check_deep_measures_data_folder(cli, tmp_path):
    data = tmp_path / "train"
    data.mkdir()
    for i in range(20):
        (data / f"{i}.bin").write_bytes(bytes(50_000))
    proc = cli(
        "check",
        "--deep",
        "--data",
        str(data),
        "--select",
        "GD701,GD702,GD703,GD705",
        "-f",
        "json",
        timeout=180,
    )
    doc = json.loads(proc.stdout)
    by_id = {f["id"]: f for f in doc["findings"]}
    assert by_id["GD701"]["severity"] in ("pass", "info", "warn")
    assert doc["facts"]["bench_disk"]["small_files"]["files"] == 20
    assert by_id["GD703"]["severity"] in ("pass", "info")
    assert doc["facts"]["bench_loader"]["recommended"] is not None


def test_missing_data_path_is_never_local_disk():
    """`check --deep --data /nonexistent` used to pass GD702 as "local disk" (the mount of /)."""
    from gpudoctor.probes.base import ProbeContext
    from gpudoctor.probes.deep import probe_bench_disk

    disk = probe_bench_disk(ProbeContext(options={"data": "/nonexistent/gpudoctor-data"}))
    assert "no such file" in disk["error"]
    got = _findings(make_facts(bench_disk=disk), {"GD701", "GD702"})
    assert got["GD702"].severity.value == "skip"
    assert got["GD701"].severity.value == "warn"


def test_unstable_pick_is_reported_with_the_spread():
    rows = [_row(0, 100), _row(1, 190), _row(2, 200)]
    picks = [(1, 2, 3), (2, 1, 3), (1, 2, 3)]
    for number, order in enumerate(picks, start=1):
        rows.append({**_row(order[0], 210), "phase": "repeat", "round": number})
        rows.append({**_row(order[1], 150), "phase": "repeat", "round": number})
    got = _findings(make_facts(bench_loader=_loader(rows)), {"GD703"})["GD703"]
    assert got.severity.value == "info"
    assert "No stable DataLoader pick" in got.title
    assert any("median of" in str(e.value) for e in got.evidence)


def test_check_help_does_not_promise_a_gpu_self_test(cli):
    out = cli("check", "--help").stdout
    assert "bench gpu" in " ".join(out.split())
    assert "throughput, GPU self-test" not in out


def test_the_loader_search_measures_the_remedy_whenever_gd704_would_warn():
    """The engine retries a deeper prefetch at a stutter the check still calls even, so a
    warning's remedy (raise prefetch_factor) has always been measured."""
    from gpudoctor.checks.bench import STUTTER_LIMIT
    from gpudoctor.probes.bench.loader import PREFETCH_RETRY_STUTTER

    assert PREFETCH_RETRY_STUTTER <= STUTTER_LIMIT


def test_a_setting_is_described_as_the_dataloader_arguments_a_user_types():
    from gpudoctor.checks.bench import describe_setting

    setting = {"num_workers": 2, "persistent_workers": True, "prefetch_factor": 4}
    assert describe_setting(setting) == (
        "num_workers=2, persistent_workers=True, prefetch_factor=4, pin_memory=False"
    )
    assert describe_setting({"num_workers": 0, "pin_memory": True}) == (
        "num_workers=0, pin_memory=True"
    )
