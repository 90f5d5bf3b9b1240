"""A real Jupyter server with two kernels: only the idle one is proposed, with its idle time.

The test starts ``jupyter_server`` on a free port with its own runtime folder, starts two
kernels through the REST API, makes both open the stand-in GPU device, then keeps one busy
in a running cell. The fix finds the server through its ``jpserver-<pid>.json`` runtime file
and asks ``/api/kernels``; it must propose the idle kernel only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from gpudoctor.probes import ProbeContext
from gpudoctor.probes.gpu_processes import collect_inventory
from stale_holders import alive
from stale_holders import holders_fixture
from stale_holders import wait_for

pytest.importorskip("jupyter_server")
pytest.importorskip("ipykernel")
jupyter_client = pytest.importorskip("jupyter_client")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

holders = pytest.fixture(holders_fixture)
TOKEN = "gpudoctor-test-token"


def _api(url: str, path: str, method: str = "GET", body: bytes | None = None) -> object:
    request = urllib.request.Request(url + path, data=body, method=method)
    request.add_header("Authorization", f"token {TOKEN}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


@pytest.fixture
def server(holders, monkeypatch):
    base = holders.root / "jupyter"
    runtime = base / "runtime"
    runtime.mkdir(parents=True)
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        # A free port of our own: jupyter_server before 2.19 takes port 0 literally.
        f"--ServerApp.port={_free_port()}",
        f"--ServerApp.token={TOKEN}",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={base}",
        "--allow-root",
    ]
    log = open(base / "server.log", "wb")  # noqa: SIM115 - closed below
    child = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    holders.children.append(child)
    try:
        # The file appears before the server has written it: wait until it parses.
        wait_for(lambda: _server_info(runtime) is not None, timeout=60)
        info = _server_info(runtime)
        assert info is not None
        url = info["url"] if info["url"].endswith("/") else info["url"] + "/"
        wait_for(lambda: _ready(url), timeout=90)  # a loaded CI box starts it slowly
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
        yield url, runtime
    finally:
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
        log.close()


def _server_info(runtime: Path) -> dict | None:  # type: ignore[type-arg]
    for path in runtime.glob("jpserver-*.json"):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and "url" in info else None
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        _api(url, "api/kernels")
    except OSError:
        return False
    return True


def _kernel(url: str, runtime: Path, device: Path):
    kernel = _api(url, "api/kernels", "POST", json.dumps({"name": "python3"}).encode())
    assert isinstance(kernel, dict)
    connection = runtime / f"kernel-{kernel['id']}.json"
    wait_for(connection.exists, timeout=30)
    client = jupyter_client.BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    # No heartbeat channel: on a loaded machine a missed beat reads as "kernel died".
    client.start_channels(hb=False)
    client.wait_for_ready(timeout=120)
    reply = client.execute_interactive(f"gpu = open({str(device)!r}, 'rb')", timeout=120)
    assert reply["content"]["status"] == "ok"
    return kernel["id"], client


def _state(url: str, kid: str) -> str:
    kernels = _api(url, "api/kernels")
    assert isinstance(kernels, list)
    return next(k["execution_state"] for k in kernels if k["id"] == kid)


def _pid_of(inventory: dict, kid: str) -> int:
    return next(r["pid"] for r in inventory["processes"] if kid in str(r.get("cmdline")))


def test_only_the_idle_kernel_is_proposed_with_its_measured_idle_time(holders, server):
    url, runtime = server
    idle_id, idle_client = _kernel(url, runtime, holders.device)
    busy_id, busy_client = _kernel(url, runtime, holders.device)
    try:
        # A running cell that waits most of the time (like a loop reading data).
        busy_client.execute("import time\nwhile True:\n    time.sleep(0.05)\n")
        wait_for(lambda: _state(url, busy_id) == "busy", timeout=30)
        wait_for(lambda: _state(url, idle_id) == "idle", timeout=30)
        time.sleep(1.2)  # idle longer than --idle-minutes 0.01 (0.6 s)

        inventory = collect_inventory(ProbeContext(options=holders.options()), use_nvml=False)
        idle_pid, busy_pid = _pid_of(inventory, idle_id), _pid_of(inventory, busy_id)
        rows = {r["pid"]: r for r in inventory["processes"]}
        assert rows[idle_pid]["kernel"]["execution_state"] == "idle"
        assert rows[busy_pid]["kernel"]["execution_state"] == "busy"

        lines: list[str] = []
        code = holders.kill_stale(
            lines, {}, grace=2.0, idle_minutes=0.01, dry_run=True, observe=1.0, fmt="json"
        )
        assert code == 0
        doc = json.loads("\n".join(lines))
        (proposed,) = doc["would_stop"]
        assert proposed["pid"] == idle_pid
        assert proposed["class"] == "idle-kernel"
        assert proposed["measured_idle_seconds"] >= 0.6
        assert proposed["measured_idle_seconds"] < 120  # its idle time, not its age
        assert any("/api/kernels" in line for line in proposed["evidence"])
        left = {item["pid"]: item for item in doc["left_alone"]}
        assert "the kernel is busy" in left[busy_pid]["reason"]
        assert doc["time_bound_seconds"] > doc["observe_seconds"]

        lines.clear()
        assert holders.kill_stale(lines, {}, grace=2.0, idle_minutes=0.01, observe=1.0) == 0
        assert f"pid {idle_pid}: died" in "\n".join(lines)
        wait_for(lambda: not alive(idle_pid))
        assert alive(busy_pid)
    finally:
        idle_client.stop_channels()
        busy_client.stop_channels()


def test_a_kernel_without_an_answering_server_is_listed_never_proposed(holders, tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    # A server file whose server is gone (port 9 discards; nothing answers HTTP there).
    (runtime / "jpserver-4242.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9/", "token": "x", "pid": 4242})
    )
    fake = runtime / "kernel-0b1c2d3e-aaaa-bbbb-cccc-1234567890ab.json"
    fake.write_text("{}")
    ready = holders.root / "kernel.ready"
    code = (
        "import os, sys, time\n"
        f"gpu = open({str(holders.device)!r}, 'rb')\n"
        f"open({str(ready)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
        f"os.replace({str(ready)!r} + '.tmp', {str(ready)!r})\n"
        "time.sleep(600)\n"
    )
    # Named like a kernel: ``python -c ... -m ipykernel_launcher -f kernel-<id>.json``.
    child = subprocess.Popen(
        [sys.executable, "-c", code, "-m", "ipykernel_launcher", "-f", str(fake)],
        start_new_session=True,
    )
    holders.children.append(child)
    pid = holders.wait_ready(ready)
    inventory = collect_inventory(ProbeContext(options=holders.options()), use_nvml=False)
    row = next(r for r in inventory["processes"] if r["pid"] == pid)
    assert "answered" in row["kernel"]["unknown"] or "knows" in row["kernel"]["unknown"]
    lines: list[str] = []
    holders.kill_stale(lines, {}, idle_minutes=0.0, dry_run=True, observe=0.3, fmt="json")
    doc = json.loads("\n".join(lines))
    assert doc["would_stop"] == []
    (left,) = [item for item in doc["left_alone"] if item["pid"] == pid]
    assert left["class"] == "kernel-idle-unknown"
    assert "idle time is unknown" in left["reason"]


def test_runtime_file_and_kernels_answer_readers():
    from gpudoctor.probes.jupyter import connection_file
    from gpudoctor.probes.jupyter import parse_kernels
    from gpudoctor.probes.jupyter import read_server_file

    corpus = REPO / "tests" / "corpus" / "staleness"
    server = read_server_file((corpus / "jpserver-31337.json").read_bytes())
    assert server == {
        "url": "http://localhost:8890/",
        "token": "4c1f0d2a9b8e7f6a5d4c3b2a19081726354a5b6c7d8e9f00",
    }
    for bad in (b"", b"\xff\xfe", b"[1, 2]", b'{"url": "file:///etc/passwd"}', b"{" * 100):
        assert read_server_file(bad) is None
    now = 1795165600.0  # 2026-11-20T09:06:40Z
    kernels = parse_kernels((corpus / "api-kernels.json").read_bytes(), now)
    assert set(kernels) == {
        "3f2a6c1e-9b1d-4c55-8a0e-0d6f2b7e9a11",
        "9e8d7c6b-5a49-4382-b1a0-ffeeddccbbaa",
        "00000000-1111-2222-3333-444444444444",
    }
    assert kernels["3f2a6c1e-9b1d-4c55-8a0e-0d6f2b7e9a11"]["idle_seconds"] == 11187.7
    assert kernels["9e8d7c6b-5a49-4382-b1a0-ffeeddccbbaa"]["execution_state"] == "busy"
    assert kernels["00000000-1111-2222-3333-444444444444"]["idle_seconds"] is None
    assert parse_kernels(b"not json", now) == {}
    argv = ["python", "-m", "ipykernel_launcher", "-f", "/r/kernel-3f2a6c1e-9b1d.json"]
    assert connection_file(argv) == "/r/kernel-3f2a6c1e-9b1d.json"
    assert connection_file(["python", "--f=/r/kernel-3f2a6c1e-9b1d.json"]).endswith(".json")
    assert connection_file(["python", "train.py"]) is None
