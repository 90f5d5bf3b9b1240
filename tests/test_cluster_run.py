"""``gpudoctor merge`` and ``gpudoctor cluster`` end to end: real files, real torchrun (gloo, CPU).

Four ranks on this machine each impersonate one node of the cluster corpus by replaying its
snapshot; the merged report must name the driver skew (node-b), the throttling node
(node-c) and the node with stale GPU holders (node-d), and nothing else above info.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from conftest import run_cli
from gpudoctor.facts.model import SCHEMA_VERSION

CORPUS = REPO / "tests" / "corpus" / "cluster"
NODES = ["node-a", "node-b", "node-c", "node-d"]
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent))

#: What the merged report must say, written before running it: (id, severity, subject).
EXPECTED_PROBLEMS = {
    ("GD001", "warn", "node-b"),
    ("GD006", "warn", "node-c"),
    ("GD008", "warn", "node-d"),
    ("GD102", "warn", "node-c GPU5"),
    ("GD103", "warn", "node-c GPU5"),
    ("GD402", "warn", "node-d pid 51377"),
}


def problems(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (f["id"], f["severity"], f["subject"])
        for f in doc["findings"]
        if f["severity"] in ("warn", "fail", "error")
    }


def above_skip(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (f["id"], f["severity"], f["subject"], f["title"])
        for f in doc["findings"]
        if f["severity"] not in ("pass", "skip")
    }


def torchrun(*args: str, timeout: float = 240) -> tuple[subprocess.CompletedProcess[str], float]:
    assert TORCHRUN, "torchrun is installed with torch"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    replay = ",".join(str(CORPUS / f"{n}.json") for n in NODES)
    start = time.monotonic()
    done = subprocess.run(
        [
            TORCHRUN,
            "--standalone",
            "--nnodes",
            "1",
            "--nproc-per-node",
            "4",
            "-m",
            "gpudoctor",
            "cluster",
            "--replay-as",
            replay,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return done, time.monotonic() - start


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``gpudoctor snapshot`` of each corpus node, then ``gpudoctor merge`` of the four."""
    folder = tmp_path_factory.mktemp("reports")
    for name in NODES:
        done = run_cli(
            "snapshot",
            "--replay-as",
            str(CORPUS / f"{name}.json"),
            "-o",
            str(folder / f"{name}.json"),
        )
        assert done.returncode == 0, done.stderr
    out = folder / "cluster.json"
    done = run_cli(
        "merge", *(str(folder / f"{n}.json") for n in NODES), "-f", "json", "-o", str(out)
    )
    assert done.returncode == 1, done.stderr
    return dict(json.loads(out.read_text(encoding="utf-8")))


def test_merge_names_skew_throttling_and_stale_holders_only(merged: dict[str, Any]) -> None:
    assert problems(merged) == EXPECTED_PROBLEMS
    assert [n["label"] for n in merged["nodes"]] == NODES
    assert [n["worst"] for n in merged["nodes"]] == ["ok", "ok", "warn", "warn"]
    assert {n["driver"] for n in merged["nodes"]} == {"570.124.06", "570.86.15"}


def test_merge_text_and_markdown_show_the_node_table(tmp_path: Path) -> None:
    files = [str(CORPUS / f"{n}.json") for n in NODES]
    text = run_cli("merge", *files)
    assert text.returncode == 1
    assert "node-b  8 x NVIDIA H100 80GB HBM3  570.86.15" in text.stdout
    assert "GD102 gpu-clocks-slowed: on node-c: GPU5" in text.stdout
    markdown = run_cli("merge", *files, "-f", "markdown")
    assert "| node-d | 8 x NVIDIA H100 80GB HBM3 | 570.124.06 |" in markdown.stdout
    assert "GD001 `driver-versions-differ`" in markdown.stdout


@pytest.mark.slow
def test_torchrun_cluster_matches_merge_and_measures_gloo(
    merged: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "cluster.json"
    done, _ = torchrun(
        "--comms", "--comms-size", "1048576", "--timeout", "60", "-f", "json", "-o", str(out)
    )
    assert out.is_file(), done.stderr[-3000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert done.returncode != 0  # rank 0 exits 1: warnings
    assert doc["summary"]["exit_code"] == 1
    assert problems(doc) == EXPECTED_PROBLEMS
    torchrun_only = {"GD010", "GD011", "GD012", "GD013"}
    assert {f for f in above_skip(doc) if f[0] not in torchrun_only} == above_skip(merged)
    gloo = next(f for f in doc["findings"] if f["id"] == "GD012" and f["subject"] == "gloo")
    assert gloo["severity"] == "info"
    figures = {e["label"]: e["value"] for e in gloo["evidence"]}
    assert float(figures["bus bandwidth"].split()[0]) > 0
    assert float(figures["latency (4 bytes)"].split()[0]) > 0
    assert figures["message size"] == "1 MiB"
    by_id = {f["id"]: f["severity"] for f in doc["findings"]}
    assert by_id["GD011"] == "pass"
    assert by_id["GD010"] == "pass"


@pytest.mark.slow
def test_torchrun_names_the_rank_that_never_arrives(tmp_path: Path) -> None:
    out = tmp_path / "cluster.json"
    done, seconds = torchrun(
        "--comms", "--timeout", "5", "--stall-rank", "3", "-f", "json", "-o", str(out), timeout=120
    )
    assert done.returncode != 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"]["exit_code"] == 1
    missing = [f for f in doc["findings"] if f["id"] == "GD011"]
    assert [(f["severity"], f["subject"]) for f in missing] == [("fail", "rank 3 (node-d)")]
    assert seconds < 90, "rank 0 must give up after its timeout, not hang"


def test_cluster_outside_a_launcher_is_one_line_exit_2() -> None:
    env = {k: "" for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    done = run_cli("cluster", env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "not started by torchrun" in done.stderr


def test_merge_refuses_a_missing_file(tmp_path: Path) -> None:
    done = run_cli("merge", str(CORPUS / "node-a.json"), str(tmp_path / "node-x.json"))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("node-x.json: no such file")
    assert done.stderr.count("\n") == 1


def test_merge_refuses_two_files_for_one_node(tmp_path: Path) -> None:
    (tmp_path / "again").mkdir()
    copy = tmp_path / "again" / "node-a.json"
    shutil.copy(CORPUS / "node-a.json", copy)
    done = run_cli("merge", str(CORPUS / "node-a.json"), str(copy))
    assert done.returncode == 2
    assert "two files for node 'node-a'" in done.stderr
    assert done.stderr.count("\n") == 1


def test_merge_refuses_a_snapshot_of_another_schema_version(tmp_path: Path) -> None:
    doc = json.loads((CORPUS / "node-b.json").read_text(encoding="utf-8"))
    doc["schema_version"] = SCHEMA_VERSION + 1
    newer = tmp_path / "node-b.json"
    newer.write_text(json.dumps(doc), encoding="utf-8")
    done = run_cli("merge", str(CORPUS / "node-a.json"), str(newer))
    assert done.returncode == 2
    assert f"schema {SCHEMA_VERSION + 1}" in done.stderr
    assert done.stderr.count("\n") == 1


def test_snapshot_names_its_file_after_the_host(tmp_path: Path) -> None:
    import socket

    done = run_cli(
        "snapshot", "--replay-as", str(CORPUS / "node-a.json"), "-o", str(tmp_path / "%N.json")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"{socket.gethostname().split('.')[0]}.json").is_file()


def test_merged_report_follows_the_privacy_rules(tmp_path: Path) -> None:
    doc = json.loads((CORPUS / "node-d.json").read_text(encoding="utf-8"))
    process = doc["facts"]["gpu_processes"]["processes"][0]
    process["cmdline"] = "/home/carol-lab/.venvs/x/bin/python train.py --host 10.12.7.31"
    private = tmp_path / "node-d.json"
    private.write_text(json.dumps(doc), encoding="utf-8")
    files = [str(CORPUS / "node-a.json"), str(private)]
    for fmt in ("text", "json", "markdown"):
        shown = run_cli("merge", *files, "-f", fmt).stdout
        assert "carol-lab" not in shown
        assert "10.12.7.31" not in shown
    kept = run_cli("merge", *files, "--no-redact", "-f", "json")
    assert "carol-lab" in kept.stdout
    assert "--no-redact" in kept.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"\x00\x01\xff\xfe binary", "not UTF-8"),
        (b'{"format": "gpudoctor-snapshot", "schema_version": 1, "facts": {', "truncated"),
    ],
)
def test_merge_refuses_a_bad_node_file_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "node-x.json"
    bad.write_bytes(content)
    done = run_cli("merge", str(CORPUS / "node-a.json"), str(bad))
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count("\n") == 1


class _DictStore:
    """The three calls Steps makes on torch's key-value store (the torchrun tests use it)."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def set(self, key: str, value: str) -> None:
        self.values[key] = value.encode()

    def check(self, keys: list[str]) -> bool:
        return all(k in self.values for k in keys)

    def get(self, key: str) -> bytes:
        return self.values[key]


def _rank_steps(store: Any, rank: int, timeout: float) -> Any:
    from gpudoctor.cluster.dist import RankEnv
    from gpudoctor.cluster.dist import Steps

    env = RankEnv(rank, 2, rank, rank, "127.0.0.1", 0, False, "test")
    return Steps(store, env, timeout)


def test_a_rank_that_rank_0_stopped_exits_0_so_the_report_gets_written() -> None:
    """torchrun stops every rank once one exits non-zero: rank 0 must be left to write."""
    from gpudoctor.cluster.dist import Aborted

    store = _DictStore()
    store.set("comms-gloo/go", "abort")  # rank 0 gave up on someone else
    rank1 = _rank_steps(store, 1, timeout=5)
    assert rank1.arrive("comms-gloo") is False
    assert Aborted(rank1.reason, rank0_reports=rank1.rank0_reports).exit_code == 0
    assert "rank 0 stopped the run" in rank1.reason


def test_a_rank_whose_rank_0_never_answers_exits_1() -> None:
    from gpudoctor.cluster.dist import Aborted

    rank1 = _rank_steps(_DictStore(), 1, timeout=0.01)
    assert rank1.arrive("comms-gloo") is False
    assert Aborted(rank1.reason, rank0_reports=rank1.rank0_reports).exit_code == 1
    assert "never answered" in rank1.reason
