"""Run one experiment of the lab into its folder: DIR/.<name>.partial while it runs, then
DIR/<name>/ with results.json (the experiment's result and the runner's fields: name, title,
budget, seed, config, versions, seconds, started_at, finished_at, machine). The lab's command
(`attnlab.lab`) calls it in its own process, or in worker processes (`lab/workers.py`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from attnlab.errors import AttnlabError
from attnlab.lab.common import SEED, LabProgress, machine, versions
from attnlab.seeding import seed_everything

RESULT_KEYS = ("figures", "tables", "metrics", "expected", "reading")  # what `run` must return


def _check_result(name: str, result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise AttnlabError(name, f"run() returned {type(result).__name__}, expected a dict")
    missing = [key for key in RESULT_KEYS if key not in result]
    if missing:
        raise AttnlabError(name, f"run() returned no {', '.join(missing)}")
    return result


def partial_folder(out: Path, name: str) -> Path:
    """Where experiment `name` runs until it succeeds: DIR/.<name>.partial."""
    return out / f".{name}.partial"


def run_experiment(
    name: str,
    module: ModuleType,
    budget: str,
    out: Path,
    progress: LabProgress,
    reuse: Path | None = None,
) -> tuple[float | None, str | None]:
    """Run one experiment into DIR/.<name>.partial, add the runner's fields, write results.json,
    then replace DIR/<name> with it. `reuse` (a folder of models trained by `attnlab train`,
    `lab.real`) goes to the experiments that take it (REUSE = True). A failure is caught, so
    that the other experiments still run, and leaves DIR/<name> as it was.
    -> (seconds, None), or (None, the error as `Type: message`)."""
    partial = partial_folder(out, name)
    try:
        shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run of ours
        partial.mkdir()
        seed_everything(SEED)
        where = machine()  # before the experiment changes torch's thread count
        started_at, start = time.time(), time.perf_counter()
        extra = {"reuse": reuse} if reuse is not None and getattr(module, "REUSE", False) else {}
        result = _check_result(name, module.run(budget, partial, progress, **extra))
        seconds = time.perf_counter() - start
        record = {
            "name": name,
            "title": module.TITLE,
            "budget": budget,
            "seed": SEED,
            "config": result.pop("config", {}),
            "versions": versions(),
            "seconds": seconds,
            "started_at": started_at,  # Unix time: experiments may run side by side
            "finished_at": time.time(),
            "machine": where,
            **result,
        }
        text = json.dumps(record, indent=1, ensure_ascii=False)
        (partial / "results.json").write_text(text + "\n", encoding="utf-8")
        shutil.rmtree(out / name, ignore_errors=True)
        partial.rename(out / name)
    except Exception as exc:
        shutil.rmtree(partial, ignore_errors=True)
        return None, f"{type(exc).__name__}: {exc}"
    except BaseException:  # Ctrl-C: no partial folder left behind, and the runner stops
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        progress.close_tasks()
    return seconds, None
