"""What the benchmark scripts share: the machine's state and the reverse-task data they run on."""

from __future__ import annotations

import os
from pathlib import Path

from attnlab.data.make import make_dataset


def openmp_settings() -> dict[str, str | None]:
    """The OpenMP waiting settings the children ran with (README.md, "Threads")."""
    return {name: os.environ.get(name) for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def make_reverse_task(data: Path) -> None:
    """The benchmarks' data, `attnlab data make reverse`: 10,000 / 500 / 500 pairs, lengths 5-40."""
    make_dataset("reverse", data, 10_000, 500, 500, 5, 40, seed=1)
