"""The CUDA side of ``gpudoctor bench gpu``; runs only in a child process.

Prints one protocol line with the JSON result on stdout. Each test is bounded (a few
seconds), so the whole run stays well under a minute.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any
from typing import Callable

from gpudoctor.probes.bench.gpu import PROTOCOL_PREFIX
from gpudoctor.probes.bench.gpu import bandwidth_verdict
from gpudoctor.probes.bench.gpu import pcie_expected_gbps
from gpudoctor.probes.bench.gpu import throttle_names

CHUNK_BYTES = 256 << 20
MEMORY_FRACTION = 0.9
COPY_BYTES = 256 << 20
LOAD_SECONDS = 4.0


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write(PROTOCOL_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def _test(name: str, status: str, summary: str, **data: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "summary": summary, **data}


def memory_test(torch: Any, device: Any) -> dict[str, Any]:
    """Fill most of the free memory chunk by chunk and read every chunk back."""
    free, total = torch.cuda.mem_get_info(device)
    target = int(free * MEMORY_FRACTION)
    chunks: list[Any] = []
    bad = 0
    allocated = 0
    error = ""
    try:
        while allocated + CHUNK_BYTES <= target:
            chunk = torch.empty(CHUNK_BYTES // 4, dtype=torch.int32, device=device)
            chunk.fill_(len(chunks) + 1)
            chunks.append(chunk)
            allocated += CHUNK_BYTES
        for index, chunk in enumerate(chunks):
            if not bool((chunk == index + 1).all()):
                bad += 1
    except RuntimeError as exc:  # out of memory below the reported free memory
        error = str(exc).splitlines()[0]
    finally:
        del chunks
        torch.cuda.empty_cache()
    gib = allocated / (1 << 30)
    if error:
        return _test(
            "memory",
            "fail",
            f"allocation failed after {gib:.1f} GiB of {free / (1 << 30):.1f} GiB reported free: "
            f"{error}",
            allocated_bytes=allocated,
            free_bytes=free,
            total_bytes=total,
        )
    status = "ok" if bad == 0 else "fail"
    summary = f"{gib:.1f} GiB in {allocated // CHUNK_BYTES} chunks written and read back"
    if bad:
        summary += f"; {bad} chunk(s) did not hold their values"
    return _test(
        "memory",
        status,
        summary,
        allocated_bytes=allocated,
        free_bytes=free,
        total_bytes=total,
        bad_chunks=bad,
    )


def matmul_test(torch: Any, device: Any) -> dict[str, Any]:
    """fp32 (no TF32) and fp16 products against the CPU's, plus a quick fp16 TFLOPS figure."""
    torch.backends.cuda.matmul.allow_tf32 = False
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(1024, 1024, generator=generator)
    b = torch.randn(1024, 1024, generator=generator)
    reference = a @ b
    scale = float(reference.abs().max())
    got32 = (a.to(device) @ b.to(device)).cpu()
    err32 = float((got32 - reference).abs().max()) / scale
    got16 = (a.to(device).half() @ b.to(device).half()).float().cpu()
    err16 = float((got16 - reference).abs().max()) / scale
    x = torch.randn(4096, 4096, device=device, dtype=torch.float16)
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    reps = 20
    for _ in range(reps):
        x @ x
    torch.cuda.synchronize(device)
    tflops = reps * 2 * 4096**3 / (time.perf_counter() - start) / 1e12
    ok = err32 < 1e-3 and err16 < 2e-2
    return _test(
        "matmul",
        "ok" if ok else "fail",
        f"fp32 max relative error {err32:.1e}, fp16 {err16:.1e} "
        f"({'matches' if ok else 'DOES NOT match'} the CPU); fp16 {tflops:.1f} TFLOPS",
        fp32_error=err32,
        fp16_error=err16,
        fp16_tflops=round(tflops, 2),
    )


def _copy_gbps(torch: Any, src: Any, dst: Any, reps: int = 5) -> float:
    dst.copy_(src, non_blocking=True)  # warm-up
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        dst.copy_(src, non_blocking=True)
    end.record()
    end.synchronize()
    seconds = float(start.elapsed_time(end)) / 1000
    return float(reps * src.numel() * src.element_size()) / seconds / 1e9


def bandwidth_test(torch: Any, device: Any, nvml: Any, handle: Any) -> dict[str, Any]:
    """Host-device copies, pinned and pageable, against the link NVML reports under load."""
    count = COPY_BYTES
    on_device = torch.empty(count, dtype=torch.uint8, device=device)
    pageable = torch.empty(count, dtype=torch.uint8)
    figures: dict[str, Any] = {}
    link: dict[str, Any] = {}
    try:
        pinned = torch.empty(count, dtype=torch.uint8).pin_memory()
    except RuntimeError as exc:
        pinned = None
        figures["pinned_error"] = str(exc).splitlines()[0]
    figures["pageable_h2d_gbps"] = round(_copy_gbps(torch, pageable, on_device), 2)
    figures["pageable_d2h_gbps"] = round(_copy_gbps(torch, on_device, pageable), 2)
    if pinned is not None:
        figures["pinned_h2d_gbps"] = round(_copy_gbps(torch, pinned, on_device), 2)
        # The link trains down when idle; read it right after it carried traffic.
        link = _link(nvml, handle)
        figures["pinned_d2h_gbps"] = round(_copy_gbps(torch, on_device, pinned), 2)
    expected = pcie_expected_gbps(link.get("gen"), link.get("width"))
    verdict = bandwidth_verdict(figures.get("pinned_h2d_gbps"), expected)
    summary = (
        f"host->device {figures.get('pinned_h2d_gbps', '-')} GB/s pinned, "
        f"{figures['pageable_h2d_gbps']} GB/s pageable; device->host "
        f"{figures.get('pinned_d2h_gbps', '-')} / {figures['pageable_d2h_gbps']} GB/s"
    )
    if expected:
        summary += (
            f"; link PCIe gen{link['gen']} x{link['width']} (max gen{link.get('max_gen')} "
            f"x{link.get('max_width')}) should carry ~{expected} GB/s"
        )
    status = {"ok": "ok", "slow": "warn"}.get(verdict, "ok")
    if pinned is None:
        status = "warn"
        summary += f"; pinned memory unavailable: {figures['pinned_error']}"
    return _test("bandwidth", status, summary, expected_gbps=expected, link=link, **figures)


def _link(nvml: Any, handle: Any) -> dict[str, Any]:
    if nvml is None or handle is None:
        return {}
    names = {
        "gen": "nvmlDeviceGetCurrPcieLinkGeneration",
        "width": "nvmlDeviceGetCurrPcieLinkWidth",
        "max_gen": "nvmlDeviceGetMaxPcieLinkGeneration",
        "max_width": "nvmlDeviceGetMaxPcieLinkWidth",
    }
    out = {}
    for key, name in names.items():
        value = nvml.call(name, handle)
        out[key] = value if isinstance(value, int) else None
    return out


def throttle_test(torch: Any, device: Any, nvml: Any, handle: Any) -> dict[str, Any]:
    """Keep the GPU busy for a few seconds and record why its clocks were held back."""
    if nvml is None or handle is None:
        return _test("throttle", "skipped", "NVML is not available to read throttle reasons")
    seen = 0
    temps: list[int] = []
    clocks: list[int] = []
    x = torch.randn(4096, 4096, device=device, dtype=torch.float16)
    end = time.monotonic() + LOAD_SECONDS
    while time.monotonic() < end:
        for _ in range(10):
            x @ x
        torch.cuda.synchronize(device)
        for name in (
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
        ):
            mask = nvml.call(name, handle)
            if isinstance(mask, int):
                seen |= mask
                break
        temp = nvml.call("nvmlDeviceGetTemperature", handle, 0)
        if isinstance(temp, int):
            temps.append(temp)
        clock = nvml.call("nvmlDeviceGetClockInfo", handle, 1)  # NVML_CLOCK_SM
        if isinstance(clock, int):
            clocks.append(clock)
    max_clock = nvml.call("nvmlDeviceGetMaxClockInfo", handle, 1)
    reasons = throttle_names(seen)
    summary = "no throttling under load" if not reasons else "throttled: " + ", ".join(reasons)
    if temps:
        summary += f"; up to {max(temps)} C"
    if clocks and isinstance(max_clock, int):
        summary += f"; SM clock {min(clocks)}-{max(clocks)} of {max_clock} MHz"
    hardware = {"HwSlowdown", "HwThermalSlowdown", "HwPowerBrakeSlowdown"} & set(reasons)
    return _test(
        "throttle",
        "warn" if hardware or "SwThermalSlowdown" in reasons else "ok",
        summary,
        reasons=reasons,
        max_temp_c=max(temps) if temps else None,
        sm_clock_mhz=[min(clocks), max(clocks)] if clocks else None,
        max_sm_clock_mhz=max_clock if isinstance(max_clock, int) else None,
    )


def _nvml_handle(torch: Any, index: int) -> tuple[Any, Any]:
    from gpudoctor.probes.nvml import open_nvml

    nvml = open_nvml()
    if not hasattr(nvml, "call"):
        return None, None
    props = torch.cuda.get_device_properties(index)
    bus = getattr(props, "pci_bus_id", None)
    if bus is not None:
        domain = getattr(props, "pci_domain_id", 0)
        device = getattr(props, "pci_device_id", 0)
        handle = nvml.call(
            "nvmlDeviceGetHandleByPciBusId",
            f"{domain:08x}:{bus:02x}:{device:02x}.0",
            versions=("_v2",),
        )
        if not hasattr(handle, "reason"):
            return nvml, handle
    handle = nvml.call("nvmlDeviceGetHandleByIndex", index)
    return (nvml, None) if hasattr(handle, "reason") else (nvml, handle)


def main() -> None:
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    try:
        import torch
    except ImportError:
        _emit({"status": "skipped", "reason": "torch is not installed", "tests": []})
        return
    if not torch.cuda.is_available():
        reason = (
            f"this torch build ({torch.__version__}) has no CUDA support"
            if torch.version.cuda is None
            else "CUDA is not available (no NVIDIA GPU or driver visible to torch)"
        )
        _emit({"status": "skipped", "reason": reason, "tests": [], "torch": torch.__version__})
        return
    if index >= torch.cuda.device_count():
        _emit({"status": "skipped", "reason": f"there is no CUDA device {index}", "tests": []})
        return
    device = torch.device("cuda", index)
    torch.cuda.set_device(device)
    nvml, handle = _nvml_handle(torch, index)
    started = time.monotonic()
    tests: list[dict[str, Any]] = []
    runs: tuple[Callable[[], dict[str, Any]], ...] = (
        lambda: memory_test(torch, device),
        lambda: matmul_test(torch, device),
        lambda: bandwidth_test(torch, device, nvml, handle),
        lambda: throttle_test(torch, device, nvml, handle),
    )
    for run in runs:
        try:
            tests.append(run())
        except Exception as exc:  # noqa: BLE001 - one failing test must not hide the others
            tests.append(_test("error", "fail", f"{type(exc).__name__}: {exc}"))
    worst = (
        "fail"
        if any(t["status"] == "fail" for t in tests)
        else ("warn" if any(t["status"] == "warn" for t in tests) else "ok")
    )
    _emit(
        {
            "status": worst,
            "name": torch.cuda.get_device_name(index),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "elapsed_s": round(time.monotonic() - started, 2),
            "tests": tests,
        }
    )
