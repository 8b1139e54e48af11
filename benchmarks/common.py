"""What the benchmark scripts share: the machine's state and the reverse-task data they run on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from attnlab import __version__
from attnlab.data.make import make_dataset


def openmp_settings() -> dict[str, str | None]:
    """The OpenMP waiting settings the children ran with (README.md, "Threads")."""
    return {name: os.environ.get(name) for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}


def attnlab(*args: str) -> str:
    """Run the attnlab CLI in a child process; its stdout, or exit with its error."""
    done = subprocess.run([sys.executable, "-m", "attnlab", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"attnlab {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def make_reverse_task(data: Path) -> None:
    """The benchmarks' data, `attnlab data make reverse`: 10,000 / 500 / 500 pairs, lengths 5-40."""
    make_dataset("reverse", data, 10_000, 500, 500, 5, 40, seed=1)


def write_report(path: Path, benchmark: str, fields: dict[str, Any]) -> None:
    """Write a benchmark's JSON: its name, attnlab's and torch's versions, the machine, then
    `fields`; and say where."""
    report = {
        "benchmark": benchmark,
        "attnlab": __version__,
        "torch": str(torch.__version__),
        "machine": {"cpu": platform.machine(), "threads": torch.get_num_threads()},
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
