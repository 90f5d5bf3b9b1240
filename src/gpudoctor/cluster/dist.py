"""The torch.distributed side of ``gpudoctor cluster`` (the one cluster module importing torch).

Every rank runs under torchrun (or any launcher that sets the env:// variables). Local rank
0 of each node probes its node; the other local ranks only describe their own view. Each
step is guarded by check-ins in the launcher's key-value store: rank 0 waits at most
``timeout`` seconds for every rank, so a rank that never arrives becomes a finding naming
it instead of a hung job. Snapshots then travel to rank 0 with ``gather_object`` over gloo
(CPU), right after a barrier, with each rank's wall clock for the skew check.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from pathlib import Path
from typing import Any

from gpudoctor.checks.cluster import NodeFacts
from gpudoctor.cluster.merge import ClusterReport
from gpudoctor.cluster.merge import build_cluster_report
from gpudoctor.cluster.merge import label_for
from gpudoctor.errors import BadInputError

#: How often ranks look at the store while they wait.
POLL_S = 0.05
#: env:// variables a launcher must set.
REQUIRED_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
#: All-reduce sizes: one float for latency, ``comms_bytes`` for bandwidth.
LATENCY_ITERATIONS = 20
BANDWIDTH_ITERATIONS = 5


@dataclass
class ClusterOptions:
    comms: bool = False
    timeout: float = 60.0
    budget: float | None = None
    redact: bool = True
    plugins: bool = True
    command: str = "gpudoctor cluster"
    comms_bytes: int = 8 * 2**20
    #: Test-only: rank r replays file r instead of probing, labelled by its file name.
    replay_as: Sequence[str] = ()
    #: Test-only: this rank never arrives at its first guarded step.
    stall_rank: int | None = None


@dataclass(frozen=True)
class RankEnv:
    rank: int
    world_size: int
    local_rank: int
    node_rank: int
    master_addr: str
    master_port: int
    agent_store: bool
    run_id: str


def rank_env(environ: Mapping[str, str] | None = None) -> RankEnv:
    """The env:// variables of this rank; BadInputError when not under a launcher."""
    env = os.environ if environ is None else environ
    missing = [name for name in REQUIRED_ENV if not env.get(name)]
    if missing:
        raise BadInputError(
            f"not started by torchrun or another env:// launcher ({', '.join(missing)} not set); "
            "run: torchrun --nnodes N --nproc-per-node 1 ... -m gpudoctor cluster, or use "
            "'gpudoctor snapshot' on each node and 'gpudoctor merge'"
        )
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        port = int(env["MASTER_PORT"])
        local = int(env.get("LOCAL_RANK", "0"))
        node = int(env.get("GROUP_RANK", env.get("NODE_RANK", str(rank))))
    except ValueError as exc:
        raise BadInputError(f"a torch.distributed variable is not a number: {exc}") from None
    return RankEnv(
        rank=rank,
        world_size=world,
        local_rank=local,
        node_rank=node,
        master_addr=env["MASTER_ADDR"],
        master_port=port,
        agent_store=env.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true",
        run_id=env.get("TORCHELASTIC_RUN_ID", "none")
        + "."
        + env.get("TORCHELASTIC_RESTART_COUNT", "0"),
    )


def _torch_distributed() -> Any:
    """Import torch.distributed without torch's warning about a missing numpy (not needed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
        import torch.distributed as dist

    del torch
    return dist


# -- the store: check-ins with a deadline -------------------------------------------------


@dataclass
class Steps:
    """Guarded steps over the store; rank 0 records who never arrived."""

    store: Any
    env: RankEnv
    timeout: float
    missing: list[dict[str, Any]] = field(default_factory=list)
    aborted: bool = False
    #: Why this rank stops: rank 0 gave up on someone, or rank 0 itself never answered.
    reason: str = ""
    #: Rank 0 gave up on someone and will write the report (it answered "abort").
    rank0_reports: bool = False

    def arrive(self, step: str) -> bool:
        """Check in at ``step`` and wait until rank 0 lets everyone go; False means abort."""
        self.store.set(f"{step}/{self.env.rank}", "1")
        if self.env.rank == 0:
            absent = self._wait_all(step)
            if absent:
                self.missing.append({"phase": step, "ranks": absent, "timeout_s": self.timeout})
            self.store.set(f"{step}/go", "abort" if absent else "ok")
            self.aborted = bool(absent)
            return not absent
        answer = self._wait_go(step)
        self.aborted = answer != "ok"
        self.rank0_reports = answer == "abort"
        if self.aborted:
            self.reason = (
                f"rank 0 stopped the run at step {step!r}: a rank never arrived"
                if answer == "abort"
                else f"rank 0 never answered at step {step!r} within {2 * self.timeout + 5:g} s"
            )
        return not self.aborted

    def _wait_all(self, step: str) -> list[int]:
        keys = [f"{step}/{r}" for r in range(self.env.world_size)]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.store.check(keys):
                return []
            time.sleep(POLL_S)
        return [r for r, key in enumerate(keys) if not self.store.check([key])]

    def _wait_go(self, step: str) -> str:
        deadline = time.monotonic() + 2 * self.timeout + 5
        key = f"{step}/go"
        while time.monotonic() < deadline:
            if self.store.check([key]):
                return bytes(self.store.get(key)).decode()
            time.sleep(POLL_S)
        return "rank 0 never answered"


def _store(env: RankEnv, timeout: float) -> Any:
    import torch.distributed as dist

    wait = timedelta(seconds=timeout)
    if env.agent_store:  # torchrun's agent already serves a store at MASTER_ADDR:MASTER_PORT
        base = dist.TCPStore(  # type: ignore[attr-defined]
            env.master_addr, env.master_port, is_master=False, timeout=wait
        )
    else:
        base = dist.TCPStore(  # type: ignore[attr-defined]
            env.master_addr,
            env.master_port,
            env.world_size,
            is_master=env.rank == 0,
            timeout=wait,
            wait_for_workers=False,
        )
    return dist.PrefixStore(f"gpudoctor/{env.run_id}/", base)  # type: ignore[attr-defined]


# -- what each rank sends ---------------------------------------------------------------


def _label(env: RankEnv, options: ClusterOptions) -> str:
    if options.replay_as:
        return label_for(options.replay_as[env.rank % len(options.replay_as)])
    if not options.redact:
        return socket.gethostname().split(".")[0]
    return f"node-{env.node_rank}"


def _payload(env: RankEnv, options: ClusterOptions) -> dict[str, Any]:
    """A gatherer's node snapshot (redacted here, with this node's identity) or a rank's view."""
    label = _label(env, options)
    gatherer = bool(options.replay_as) or env.local_rank == 0
    payload: dict[str, Any] = {"rank": env.rank, "label": label, "gatherer": gatherer}
    if not gatherer:
        payload["view"] = {
            "local_rank": env.local_rank,
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        return payload
    from gpudoctor.facts.snapshot import load_replay
    from gpudoctor.facts.snapshot import snapshot_document
    from gpudoctor.probes.gather import collect

    if options.replay_as:
        facts = load_replay(options.replay_as[env.rank % len(options.replay_as)])
    else:
        facts = collect({}, budget=options.budget)
    from gpudoctor.privacy import redact_data

    payload["snapshot"] = redact_data(
        snapshot_document(facts, options.command), enabled=options.redact
    )
    if options.comms:
        from gpudoctor.probes.comms_env import collect_comms_env

        payload["comms_env"] = collect_comms_env()
    return payload


# -- all-reduce timing ------------------------------------------------------------------


def _backends() -> list[str]:
    import torch
    import torch.distributed as dist

    found = ["gloo"]
    if torch.cuda.is_available() and dist.is_nccl_available():
        found.append("nccl")
    return found


def _allreduce(backend: str, env: RankEnv, options: ClusterOptions) -> dict[str, Any]:
    import torch
    import torch.distributed as dist

    result: dict[str, Any] = {"backend": backend, "world_size": env.world_size}
    try:
        group = None
        device = torch.device("cpu")
        if backend != "gloo":
            group = dist.new_group(backend=backend, timeout=timedelta(seconds=options.timeout))
            device = torch.device("cuda", env.local_rank % max(torch.cuda.device_count(), 1))

        def timed(tensor: Any, iterations: int) -> float:
            dist.all_reduce(tensor, group=group)  # warm-up (and connection set-up)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(iterations):
                dist.all_reduce(tensor, group=group)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return (time.perf_counter() - start) / iterations

        latency = timed(torch.zeros(1, device=device), LATENCY_ITERATIONS)
        size = max(options.comms_bytes // 4, 1)
        seconds = timed(torch.ones(size, device=device), BANDWIDTH_ITERATIONS)
        algbw = size * 4 / seconds / 1e9
        n = env.world_size
        result.update(
            bytes=size * 4,
            iterations=BANDWIDTH_ITERATIONS,
            latency_us=latency * 1e6,
            algbw_gbps=algbw,
            busbw_gbps=algbw * (2 * (n - 1) / n if n > 1 else 1.0),
        )
    except Exception as exc:  # noqa: BLE001 - a failed backend is a finding, not a crash
        result["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return result


def gather_json(obj: Any, env: RankEnv) -> list[Any] | None:
    """``gather_object`` to rank 0, JSON-encoded instead of pickled.

    Unpickling what other nodes send would run their code, and torch's ``gather_object``
    also needs numpy; JSON through two gloo collectives needs neither.
    """
    import json

    import torch
    import torch.distributed as dist

    data = json.dumps(obj).encode("utf-8")
    sizes = [torch.zeros(1, dtype=torch.long) for _ in range(env.world_size)]
    dist.all_gather(sizes, torch.tensor([len(data)], dtype=torch.long))
    longest = max(int(s.item()) for s in sizes)
    buffer = torch.zeros(longest, dtype=torch.uint8)
    if data:
        buffer[: len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    received = [torch.zeros(longest, dtype=torch.uint8) for _ in sizes] if env.rank == 0 else None
    dist.gather(buffer, received, dst=0)
    if received is None:
        return None
    return [
        json.loads(bytes(t[: int(s.item())].tolist()).decode("utf-8"))
        for t, s in zip(received, sizes)
    ]


# -- the run ----------------------------------------------------------------------------


def run_cluster(
    options: ClusterOptions, environ: Mapping[str, str] | None = None
) -> ClusterReport | None:
    """Run this rank's part; rank 0 returns the merged report, other ranks None.

    Raises BadInputError when not under a launcher; a rank told to abort raises
    :class:`Aborted` so the command exits 1.
    """
    env = rank_env(environ)  # before importing torch: outside a launcher, fail fast
    dist = _torch_distributed()
    if options.replay_as and any(not Path(p).is_file() for p in options.replay_as):
        raise BadInputError("a --replay-as file does not exist")
    steps = Steps(_store(env, options.timeout), env, options.timeout)
    payload = _payload(env, options)
    first = "comms-gloo" if options.comms else "arrive"
    if options.stall_rank == env.rank and first == "arrive":
        time.sleep(10 * options.timeout + 60)
    if not steps.arrive("arrive"):
        return _finish(env, options, [payload], steps, comms=None)
    dist.init_process_group(
        "gloo",
        store=dist.PrefixStore("pg/", steps.store),
        rank=env.rank,
        world_size=env.world_size,
        timeout=timedelta(seconds=options.timeout),
    )
    try:
        dist.barrier()
        payload["wall_time"] = time.time()
        gathered = gather_json(payload, env)
        comms: list[dict[str, Any]] | None = None
        if options.comms:
            comms = []
            for backend in _backends():
                step = f"comms-{backend}"
                if options.stall_rank == env.rank:
                    time.sleep(10 * options.timeout + 60)
                if not steps.arrive(step):
                    comms.append(
                        {
                            "backend": backend,
                            "world_size": env.world_size,
                            "skipped": "a rank never arrived",
                        }
                    )
                    break
                comms.append(_allreduce(backend, env, options))
        payloads = [p for p in gathered or () if isinstance(p, dict)]
        if env.rank != 0:
            if steps.aborted:
                raise Aborted(steps.reason, rank0_reports=steps.rank0_reports)
            return None
        return _finish(env, options, payloads, steps, comms)
    finally:
        if not steps.aborted:
            dist.destroy_process_group()


class Aborted(Exception):
    """This rank stops early: rank 0 gave up on a step, or rank 0 never answered.

    Where rank 0 gave up it is alive and writes the report, so this rank leaves with exit
    code 0: a launcher (torchrun) stops every rank as soon as one exits non-zero, and
    would stop rank 0 before its report is written. Where rank 0 never answered no report
    will come, and this rank exits 1.
    """

    def __init__(self, reason: str, *, rank0_reports: bool) -> None:
        super().__init__(reason)
        self.exit_code = 0 if rank0_reports else 1


def _finish(
    env: RankEnv,
    options: ClusterOptions,
    payloads: list[dict[str, Any]],
    steps: Steps,
    comms: list[dict[str, Any]] | None,
) -> ClusterReport | None:
    if env.rank != 0:
        raise Aborted(steps.reason, rank0_reports=steps.rank0_reports)
    labels = {int(p["rank"]): str(p.get("label")) for p in payloads if "rank" in p}
    for entry in steps.missing:
        entry["nodes"] = [labels.get(r, "unknown") for r in entry["ranks"]]
    nodes = nodes_from_payloads(payloads, missing=steps.missing, comms=comms)
    sources = {n.label: f"rank {_rank_of(payloads, n.label)}" for n in nodes}
    return build_cluster_report(
        nodes, command=options.command, sources=sources, plugins=options.plugins
    )


def _rank_of(payloads: list[dict[str, Any]], label: str) -> int:
    return next(
        (int(p["rank"]) for p in payloads if p.get("label") == label and p.get("gatherer")), -1
    )


def nodes_from_payloads(
    payloads: list[dict[str, Any]],
    *,
    missing: list[dict[str, Any]],
    comms: list[dict[str, Any]] | None,
) -> list[NodeFacts]:
    """One node per gatherer payload, in rank order; rank 0's node carries run-level results."""
    from gpudoctor.cluster.merge import node_from_document

    ordered = sorted(payloads, key=lambda p: int(p.get("rank", 0)))
    views: dict[str, list[dict[str, Any]]] = {}
    for p in ordered:
        if not p.get("gatherer"):
            views.setdefault(str(p.get("label")), []).append(
                {"rank": p.get("rank"), **p.get("view", {})}
            )
    base_time = next((p.get("wall_time") for p in ordered if p.get("rank") == 0), None)
    nodes = []
    used: set[str] = set()
    for p in ordered:
        if not p.get("gatherer"):
            continue
        label = str(p["label"])
        if label in used:
            label = f"{label}-rank{p['rank']}"
        used.add(label)
        extra: dict[str, Any] = {"rank": p["rank"]}
        if "comms_env" in p:
            extra["comms_env"] = p["comms_env"]
        if views.get(str(p["label"])):
            extra["ranks"] = views[str(p["label"])]
        if p.get("rank") == 0:
            extra["missing"] = missing
            if comms is not None:
                extra["comms"] = comms
        wall = p.get("wall_time")
        offset = (
            wall - base_time if isinstance(wall, float) and isinstance(base_time, float) else None
        )
        nodes.append(
            node_from_document(
                p["snapshot"], label, f"rank {p['rank']}", clock_offset_s=offset, extra=extra
            )
        )
    return nodes
