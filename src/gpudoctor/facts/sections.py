"""The facts schema: one type per facts section, the single written form of what probes record.

Each probe returns the ``TypedDict`` of its section; :mod:`gpudoctor.facts.schema` validates
recorded snapshots against these types and generates ``snapshot.schema.json`` from them; the
registry refuses a check whose ``requires`` names a fact that is not declared here.

Any fact (or a whole section) may instead be an ``Unavailable`` ("could not read it, and
why") or a ``NotApplicable`` ("does not exist on this machine, and why"): the types below
describe the value when it *was* read. Nested records whose shape belongs to one engine (a
GPU's NVML readings, a parsed ``.wslconfig``, a benchmark result) are typed as open objects
(``dict[str, Any]``); their owners document them.

Optional[...] instead of ``X | None`` keeps the hints evaluable on Python 3.9.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import TypedDict
from typing import TypeVar
from typing import Union

from gpudoctor.facts.model import NotApplicable
from gpudoctor.facts.model import Unavailable

# typing.Dict, List and Optional keep the hints evaluable at run time on Python 3.9:
# ruff: noqa: UP006, UP035, UP045

Object = Dict[str, Any]
T = TypeVar("T")
#: A fact a probe may also record as could-not-read or does-not-apply.
Fact = Union[T, Unavailable, NotApplicable]


class HostFacts(TypedDict, total=False):
    """``host``: which machine this is (see :mod:`gpudoctor.probes.identity`)."""

    kind: str
    system: str
    release: str
    machine: str
    distro: Optional[str]
    python: Object
    cpus: Object
    container: Object
    wsl: Object
    #: Linux only: DMI chassis type and whether a battery is present (laptop or not).
    form_factor: Object


class MemoryFacts(TypedDict, total=False):
    """``memory``: RAM, swap, commit charge, pressure and the container's cgroup limit."""

    source: str
    total_bytes: int
    available_bytes: int
    free_bytes: int
    swap_total_bytes: int
    swap_free_bytes: int
    commit_limit_bytes: Optional[int]
    committed_bytes: Optional[int]
    shmem_bytes: Optional[int]
    swap_activity: Object
    pressure: Optional[Object]
    cgroup: Object


class ShmFacts(TypedDict, total=False):
    """``shm``: the POSIX shared-memory mount DataLoader workers pass batches through."""

    present: bool
    path: str
    total_bytes: int
    free_bytes: int
    source: str


class LimitsFacts(TypedDict, total=False):
    """``limits``: process limits (open files)."""

    nofile: Optional[Object]


class EnvFacts(TypedDict, total=False):
    """``env``: the environment variables that change how CUDA and torch behave."""

    variables: Dict[str, str]
    allow_list_size: int


class GpuFacts(TypedDict, total=False):
    """``gpu``: the NVIDIA driver and each GPU as NVML sees it."""

    kernel_module: Optional[str]
    device_nodes: List[str]
    nvidia_smi: Optional[str]
    nvml: Fact[str]
    driver_version: str
    cuda_driver_version: str
    devices: List[Object]
    #: When NVML fails on Linux: NVIDIA display devices on the PCI bus and their power state,
    #: whether an integrated GPU sits beside them, and ``prime-select query``.
    pci_devices: List[Object]
    integrated_gpu: Optional[bool]
    prime: Optional[Object]


class KernelLogFacts(TypedDict, total=False):
    """``kernel_log``: Xid events from dmesg or the journal."""

    source: Optional[str]
    uptime_seconds: Optional[float]
    xid_events: Fact[List[Object]]


class GpuProcessesFacts(TypedDict, total=False):
    """``gpu_processes``: every process that holds a GPU, from every source that saw it."""

    platform_kind: str
    collected_at: float
    settings: Object
    caller: Object
    sources: Object
    scanned: int
    unreadable: int
    devices: List[Object]
    processes: List[Object]
    #: How far back NVML's per-process utilisation samples were read.
    gpu_samples_window_s: float


class TorchFacts(TypedDict, total=False):
    """``torch``: the installed torch, read from files (never imported)."""

    installed: bool
    installs: List[Object]
    bundled_libraries: Object
    cudnn_version: Optional[str]
    version: str
    local_tag: Optional[str]
    cuda: Optional[str]
    rocm: Optional[str]
    xpu: Optional[str]
    debug: bool
    location: str
    user_site: bool
    python: Object
    apple: Object
    #: torch family and compiled-ops packages by name (see gpudoctor.probes.torch_install).
    packages: Dict[str, Object]
    #: The interpreter inspected and why (see gpudoctor.probes.target).
    target: Object


class ToolkitFacts(TypedDict, total=False):
    """``toolkit``: nvcc on PATH and the CUDA home extension builds use, with versions."""

    nvcc_path: Optional[str]
    nvcc_version: Optional[str]
    cuda_home: Optional[str]
    cuda_home_source: Optional[str]
    cuda_home_version: Optional[str]


class LoaderFacts(TypedDict, total=False):
    """``loader``: CUDA libraries on LD_LIBRARY_PATH and where libcuda is found (Linux)."""

    ld_library_path: List[Object]
    libcuda: Object


class PowerFacts(TypedDict, total=False):
    """``power``: battery, Windows power plan and TDR delay, suspends since boot."""

    battery: Optional[Object]
    power_plan: Optional[Object]
    tdr: Object
    suspend: Object
    sysmem_fallback: Object


class TorchRuntimeFacts(TypedDict, total=False):
    """``torch_runtime``: ``--deep`` only; what a child process of the target Python saw."""

    python: str
    version: str
    cuda: Optional[str]
    arch_list: List[str]
    arch_list_error: str
    cuda_init: str
    cuda_error: str
    device_count: int
    capabilities: List[str]
    import_error: str
    error: str


class WslFacts(TypedDict, total=False):
    """``wsl``: the WSL VM, its configuration files, GPU passthrough and where files live."""

    version: Optional[int]
    distro: Optional[str]
    signals: List[str]
    kernel_release: Optional[str]
    vm: Object
    wsl_conf: Object
    interop: str
    windows_host: Object
    wslconfig: Object
    gpu: Object
    paths: List[Object]


#: Facts of the ``wsl`` section that exist only inside a WSL distro.
WSL_ONLY_FACTS = (
    "version",
    "kernel_release",
    "vm",
    "wsl_conf",
    "interop",
    "windows_host",
    "gpu",
    "paths",
)
#: Facts the ``wsl`` section keeps off WSL, because ``--wslconfig`` was given to analyse.
_WSL_FACTS_OFF_WSL = ("wslconfig", "distro", "signals")


def not_wsl_facts(reason: str, kept: Mapping[str, Any]) -> dict[str, Any]:
    """A ``wsl`` section off WSL that still carries a ``.wslconfig`` given to analyse."""
    absent = NotApplicable(reason)
    facts: dict[str, Any] = {key: absent for key in WSL_ONLY_FACTS}
    facts.update({k: v for k, v in kept.items() if k in _WSL_FACTS_OFF_WSL})
    return facts


class TrainingFacts(TypedDict, total=False):
    """``training``: what the readers understood of the user's scripts and configs."""

    sources: List[Object]
    start_method: Object
    machine: Object
    data: Optional[Object]


class RunLogFacts(TypedDict, total=False):
    """``run_log``: what the training logs named with ``--log`` (or given to ``gpudoctor log``)
    say about the run; one record per file, built by :mod:`gpudoctor.readers.logs`."""

    analysed_at: float
    files: List[Object]
    configs: List[str]
    config_problems: List[str]
    seconds: float


class SystemFacts(TypedDict, total=False):
    """``system``: collect_env's machine fields (compilers, libc, packages); for ``report``."""

    gcc_version: Optional[str]
    clang_version: Optional[str]
    cmake_version: Optional[str]
    nvcc_version: Optional[str]
    cudnn_libraries: Any
    pip_packages: Any
    os: Optional[str]
    libc_version: str
    python_version: str
    python_platform: str
    python_executable: str
    cpu_model: Optional[str]
    pip_version: str
    caching_allocator_config: Dict[str, str]


class CollectEnvFacts(TypedDict, total=False):
    """``collect_env``: torch's own answers from a child process; for ``report``."""

    torch: Any
    nvidia_smi: Any
    cpu_info: Any
    conda_packages: Any


class BenchDiskFacts(TypedDict, total=False):
    """``bench_disk``: read speed of ``--data`` (``--deep``); see ``probes/bench/disk.py``."""

    path: str
    error: str
    filesystem: Object
    files_seen: int
    bytes_seen: int
    large_files_seen: int
    scan_truncated: bool
    unreadable_entries: int
    sequential: Optional[Object]
    small_files: Optional[Object]
    budget: Object
    elapsed_s: float


class BenchLoaderFacts(TypedDict, total=False):
    """``bench_loader``: DataLoader throughput per setting (``--deep``)."""

    error: str
    source: Object
    configs: List[Object]
    hang: Optional[Object]
    recommended: Optional[Object]


class WatchFacts(TypedDict, total=False):
    """``watch``: a watched run (``gpudoctor watch``), built from its timeline by
    ``probes/live/facts.py``; ``series`` holds one list per signal, aligned on ``series.t``."""

    interval: float
    target: str
    command: str
    platform: str
    wsl: bool
    gpu_note: str
    thresholds: Dict[str, float]
    samples: int
    duration: float
    mem_total: Optional[int]
    shm_total: Optional[int]
    gpu_slowdown_c: Optional[float]
    gpu_power_cap: Optional[float]
    gpu_count: int
    series: Object
    stacks: List[Object]
    end: Optional[Object]


#: Every facts section and its type, in the order reports show them.
SECTIONS: dict[str, type] = {
    "host": HostFacts,
    "memory": MemoryFacts,
    "shm": ShmFacts,
    "limits": LimitsFacts,
    "env": EnvFacts,
    "gpu": GpuFacts,
    "kernel_log": KernelLogFacts,
    "gpu_processes": GpuProcessesFacts,
    "torch": TorchFacts,
    "toolkit": ToolkitFacts,
    "loader": LoaderFacts,
    "power": PowerFacts,
    "torch_runtime": TorchRuntimeFacts,
    "wsl": WslFacts,
    "training": TrainingFacts,
    "run_log": RunLogFacts,
    "system": SystemFacts,
    "collect_env": CollectEnvFacts,
    "bench_disk": BenchDiskFacts,
    "bench_loader": BenchLoaderFacts,
    "watch": WatchFacts,
}

#: Sections whose records grow with their engine (benchmarks, report-only answers): keys not
#: listed above are kept rather than refused, so an older gpudoctor can replay newer results.
OPEN_SECTIONS = frozenset({"system", "collect_env", "bench_disk", "bench_loader", "watch"})
