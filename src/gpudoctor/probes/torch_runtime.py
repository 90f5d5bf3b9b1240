"""``--deep`` only: ask the target interpreter's torch what it was built for and if CUDA starts.

A child process imports torch (never this one) and prints ``torch.cuda.get_arch_list()``,
whether CUDA initialised, and the error text when it did not. Initialising CUDA can hang on a
broken driver, so the child has a timeout and a hang is reported as such.
"""

from __future__ import annotations

from typing import Any

from gpudoctor.facts.model import Unavailable
from gpudoctor.probes.base import CommandTimeout
from gpudoctor.probes.base import ProbeContext
from gpudoctor.probes.base import probe
from gpudoctor.probes.target import target_executable

#: Seconds the child may take: importing torch and creating a CUDA context.
CHILD_TIMEOUT = 45.0

#: Run by the target interpreter; prints one JSON object on its last line.
RUNTIME_QUERY = r"""
import json
out = {}
try:
    import torch
except Exception as exc:
    print(json.dumps({"import_error": "%s: %s" % (type(exc).__name__, exc)}))
    raise SystemExit(0)
out["version"] = torch.__version__
out["cuda"] = torch.version.cuda
try:
    out["arch_list"] = torch.cuda.get_arch_list()
except Exception as exc:
    out["arch_list_error"] = "%s: %s" % (type(exc).__name__, exc)
try:
    torch.cuda.init()
    out["cuda_init"] = "ok"
    out["device_count"] = torch.cuda.device_count()
    out["capabilities"] = [
        "%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())
    ]
except Exception as exc:
    out["cuda_init"] = "failed"
    out["cuda_error"] = ("%s: %s" % (type(exc).__name__, exc))[:500]
print(json.dumps(out))
"""


def parse_answer(stdout: str, stderr: str, returncode: int) -> dict[str, Any]:
    """The child's JSON line, or why there is none."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {returncode}: {tail[:300]}"}
    import json  # only with --deep, which asks torch itself

    try:
        answer = json.loads(lines[-1])
    except ValueError:
        return {"error": "unreadable answer from the torch child process"}
    return answer if isinstance(answer, dict) else {"error": "unexpected answer"}


@probe("torch_runtime", timeout=CHILD_TIMEOUT + 5.0, deep=True)
def probe_torch_runtime(ctx: ProbeContext) -> dict[str, Any]:
    """torch.cuda.get_arch_list() and CUDA initialisation, in a child of the target Python."""
    python = target_executable(ctx)
    try:
        result = ctx.run([python, "-c", RUNTIME_QUERY], timeout=CHILD_TIMEOUT)
    except CommandTimeout:
        return {
            "python": python,
            "cuda_init": "hung",
            "cuda_error": f"importing torch and initialising CUDA took over {CHILD_TIMEOUT:g} s",
        }
    except OSError as exc:
        return {"python": python, "error": Unavailable(f"cannot run {python}: {exc}")}
    return {"python": python, **parse_answer(result.stdout, result.stderr, result.returncode)}
