"""A lab experiment that trains nothing, importable by the lab's worker processes (the runner's
side-by-side test registers it under two names). It records the process it ran in, and waits
until two experiments have started (a marker file each in the lab's folder), so it fails unless
they run side by side."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from attnlab.lab.common import LabProgress

NAME = "fake"
TITLE = "a fake claim"


def run(budget: str, out: Path, progress: LabProgress) -> dict[str, Any]:
    (out.parent / f"started{out.name}").touch()  # out is the lab folder's .NAME.partial
    deadline = time.monotonic() + 30
    while len(list(out.parent.glob("started.*"))) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the other experiment did not run at the same time")
        time.sleep(0.05)
    bar = progress.task("work", 3)
    bar.advance(3)
    progress.log(f"{out.name} worked")
    return {
        "figures": [],
        "tables": [],
        "metrics": {"pid": os.getpid()},
        "expected": "nothing",
        "reading": f"ran in process {os.getpid()}.",
    }
