"""Pieces of ``gpudoctor watch`` on their own: log following, PSI, py-spy output, the timeline
file, charts and the live view."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from tests.test_watch_checks import make_timeline

from gpudoctor.checks.live_signals import where_stuck
from gpudoctor.errors import SnapshotError
from gpudoctor.probes.live.facts import timeline_facts
from gpudoctor.probes.live.host import read_psi
from gpudoctor.probes.live.logtail import LogFollower
from gpudoctor.probes.live.stacks import parse_dump
from gpudoctor.probes.live.timeline import decode_lines
from gpudoctor.probes.live.timeline import iter_lines
from gpudoctor.probes.live.timeline import read_timeline
from gpudoctor.report.watch import LiveView
from gpudoctor.report.watch import mermaid_chart
from gpudoctor.report.watch import plain_line
from gpudoctor.report.watch import sparkline
from gpudoctor.report.watch import svg_chart
from gpudoctor.report.watch import text_chart

CORPUS = Path(__file__).parent / "corpus" / "watch"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_log_formats_count_steps_and_evaluation(name: str) -> None:
    expected = EXPECTED[name]
    delta = LogFollower(str(CORPUS / name), from_start=True).poll()
    assert delta is not None
    assert delta.lines == expected["lines"]
    assert delta.steps == 1 + expected["steps_after_first"]
    assert delta.eval_phase is expected["eval"]


def test_log_follower_reads_only_new_complete_lines(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("step 1\n")
    follower = LogFollower(str(log))  # attaching: what was there before is not counted
    with log.open("a") as handle:
        handle.write("step 2\nstep 3 (half a li")
    first = follower.poll()
    assert first is not None
    assert (first.lines, first.steps) == (1, 1)
    with log.open("a") as handle:
        handle.write("ne)\n")
    second = follower.poll()
    assert second is not None
    assert (second.lines, second.steps) == (1, 1)
    log.write_text("step 1\n")  # truncated / rotated: followed from the start
    third = follower.poll()
    assert third is not None
    assert third.lines == 1


def test_missing_log_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    follower = LogFollower(str(tmp_path / "nope.log"))
    assert follower.poll() is None
    assert follower.error


def test_psi_parsing() -> None:
    text = (
        "some avg10=1.50 avg60=0.80 avg300=0.10 total=123\n"
        "full avg10=0.25 avg60=0.00 avg300=0.00 total=4\n"
    )
    assert read_psi(text) == (1.5, 0.25)
    assert read_psi("garbage") == (None, None)


def test_py_spy_json_of_a_blocked_worker_names_the_user_frame() -> None:
    threads = parse_dump(json.loads((CORPUS / "py-spy-dump-worker.json").read_text()))
    assert threads[0].frames[1] == "read_shard (shards.py:88)"
    stuck = where_stuck(4121, "worker", [{"frames": t.frames} for t in threads])
    assert stuck is not None
    assert stuck.kind == "dataloader-worker"
    assert stuck.where == "read_shard (shards.py:88)"


def test_parse_dump_tolerates_junk() -> None:
    assert parse_dump({"not": "a list"}) == ()
    assert parse_dump([1, {"frames": [None, {"name": "f", "line": 3}]}])[0].frames == ("f (?:3)",)


def test_timeline_round_trip_and_truncated_tail(tmp_path: Path) -> None:
    timeline = make_timeline(10)
    lines = [json.dumps(r) for r in iter_lines(timeline)]
    again = decode_lines(lines)
    assert timeline_facts(again) == timeline_facts(timeline)
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join(lines) + "\n" + lines[3][:20])  # killed mid-write
    assert len(read_timeline(str(path)).samples) == 10


def test_newer_timeline_version_is_refused() -> None:
    header = json.loads(json.dumps(next(iter_lines(make_timeline(2)))))
    header["version"] = 99
    with pytest.raises(SnapshotError, match="newer"):
        decode_lines([json.dumps(header)])


def test_charts_show_util_steps_and_memory(tmp_path: Path) -> None:
    watch = timeline_facts(make_timeline(120, util=[float(i % 100) for i in range(120)]))
    lines = text_chart(watch, ascii_only=True)
    assert lines[1].startswith("  GPU util %")
    assert "max 99.0" in lines[1]
    mermaid = mermaid_chart(watch)
    assert mermaid.count("xychart-beta") == 4
    assert "line [" in mermaid
    svg = svg_chart(watch)
    assert svg.startswith("<svg")
    assert svg.count("<polyline") == 4


def test_sparkline_scales_and_keeps_gaps() -> None:
    assert sparkline([0, 50, 100, None], top=100, ascii_only=True) == "_+@ "
    assert sparkline([]) == ""


def test_plain_line_and_live_view() -> None:
    timeline = make_timeline(5)
    line = plain_line(timeline.samples[-1])
    assert "gpu0 90%" in line
    assert "workers 2" in line
    stream = io.StringIO()
    view = LiveView(stream)
    view.update(timeline, timeline.samples[-1])
    view.close()
    assert "GPU 0 util" in stream.getvalue()


def test_roles_under_a_launcher_shell() -> None:
    from gpudoctor.probes.live.proctree import assign_roles
    from gpudoctor.probes.live.timeline import ProcSample

    def proc(pid: int, role: str, name: str) -> ProcSample:
        return ProcSample(pid, role, name, "sleeping", 0.0, 0.0, 1)

    samples = [
        proc(10, "root", "bash"),
        proc(11, "python", "python3"),
        proc(12, "python", "pt_data_worker"),
        proc(13, "child", "nvidia-smi"),
    ]
    roles = {s.pid: s.role for s in assign_roles(samples, {11: 10, 12: 11, 13: 11})}
    assert roles == {10: "launcher", 11: "main", 12: "worker", 13: "child"}
    direct = [proc(11, "main", "python3"), proc(12, "python", "pt_data_worker")]
    assert [s.role for s in assign_roles(direct, {12: 11})] == ["main", "worker"]
