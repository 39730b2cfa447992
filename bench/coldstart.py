"""Cold start: how long importing the handler module takes in a fresh interpreter, as Lambda's init does.

Each sample is a new process with the layer and the function folder on sys.path (Lambda's layout); the
child times only the import itself with perf_counter, so interpreter startup is not counted. `.pyc`
files are compiled first, as the layer ships them. The baseline is `import json, gzip, urllib3`: what
any forwarder that posts gzip JSON would import anyway.
"""

from __future__ import annotations

import compileall
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field

from bench.harness import ROOT

LAYER = ROOT / "layers" / "forwarder"
FUNCTION = ROOT / "functions" / "sqs_forwarder"
HANDLER_IMPORT = "import app"
BASELINE_IMPORT = "import json, gzip, urllib3"
_CHILD = (
    "import sys, time\n"
    "sys.path[:0] = [{layer!r}, {function!r}]\n"
    "t0 = time.perf_counter()\n"
    "{statement}\n"
    "print(time.perf_counter() - t0)\n"
)
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass
class ColdStart:
    samples: int
    handler_ms: list[float] = field(default_factory=list)
    baseline_ms: list[float] = field(default_factory=list)
    top_cumulative: list[tuple[str, int, float]] = field(default_factory=list)  # (module, depth, ms)
    self_by_package: list[tuple[str, float]] = field(default_factory=list)  # (top-level package, ms)

    @property
    def handler_median_ms(self) -> float:
        return statistics.median(self.handler_ms)

    @property
    def baseline_median_ms(self) -> float:
        return statistics.median(self.baseline_ms)

    @property
    def ratio(self) -> float:
        return self.handler_median_ms / self.baseline_median_ms


def _env() -> dict[str, str]:
    return {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}


def _child(statement: str, *flags: str) -> subprocess.CompletedProcess[str]:
    code = _CHILD.format(layer=str(LAYER), function=str(FUNCTION), statement=statement)
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, *flags, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    )


def _import_ms(statement: str) -> float:
    return float(_child(statement).stdout.strip().splitlines()[-1]) * 1000


def _importtime(top: int) -> tuple[list[tuple[str, int, float]], list[tuple[str, float]]]:
    """Top modules by cumulative import time, and self time summed per top-level package (median of 3 runs)."""
    cumulative: dict[tuple[str, int], list[float]] = defaultdict(list)
    packages: dict[str, list[float]] = defaultdict(list)
    for _ in range(3):
        per_package: dict[str, float] = defaultdict(float)
        for line in _child(HANDLER_IMPORT, "-X", "importtime").stderr.splitlines():
            match = _IMPORTTIME.match(line)
            if match is None:
                continue
            self_us, cumulative_us, indent, name = match.groups()
            depth = (len(indent) - 1) // 2
            cumulative[(name, depth)].append(int(cumulative_us) / 1000)
            per_package[name.split(".")[0]] += int(self_us) / 1000
        for package, ms in per_package.items():
            packages[package].append(ms)
    top_modules = sorted(
        ((name, depth, statistics.median(ms)) for (name, depth), ms in cumulative.items()), key=lambda t: -t[2]
    )[:top]
    stdlib = sum(statistics.median(ms) for p, ms in packages.items() if p in sys.stdlib_module_names or p[0] == "_")
    by_package = [(p, statistics.median(ms)) for p, ms in packages.items() if p not in sys.stdlib_module_names]
    by_package = [(p, ms) for p, ms in by_package if p[0] != "_"]
    by_package.append(("(standard library)", stdlib))
    return top_modules, sorted(by_package, key=lambda t: -t[1])[:top]


def measure(samples: int, top: int = 12) -> ColdStart:
    """Median import times over `samples` fresh processes each, handler and baseline alternating."""
    for folder in (LAYER, FUNCTION):
        compileall.compile_dir(str(folder), quiet=1)
    _import_ms(HANDLER_IMPORT)  # compiles anything compileall could not reach (site-packages), untimed
    result = ColdStart(samples)
    for _ in range(samples):
        result.handler_ms.append(_import_ms(HANDLER_IMPORT))
        result.baseline_ms.append(_import_ms(BASELINE_IMPORT))
    result.top_cumulative, result.self_by_package = _importtime(top)
    return result
