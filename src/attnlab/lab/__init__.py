"""`attnlab lab`: run the experiments that measure where information gets lost, each into its own
folder DIR/<name>/ (PNG figures and results.json), then build DIR/report.html.

The experiments follow the history of the issue "The lab": the fixed-context encoder-decoder
(Sutskever et al. 2014; Cho et al. 2014) against attention (Bahdanau et al. 2015; Luong et al.
2015) and the Transformer (Vaswani et al. 2017). Each is one module with NAME, TITLE and
`run(budget, out, progress) -> dict` (docs/CONTRACTS.md, "The lab"); EXPERIMENTS below is the
registration, imported when an experiment runs (so matplotlib and the models load only then).

Never deletes a user's files: DIR must be empty, new, or made by an earlier `attnlab lab` (it
holds the marker file `.attnlab-lab`); an experiment runs into DIR/.<name>.partial and replaces
DIR/<name> only when it succeeded. Experiments run side by side, one worker process each
(`lab/workers.py`); those that time the machine set RUNS_ALONE = True and run alone at the end.
Left out: resuming an interrupted experiment.
"""

from __future__ import annotations

import importlib
import shutil
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from attnlab.errors import AttnlabError, UserError
from attnlab.lab.common import BUDGETS, LabProgress
from attnlab.lab.runner import partial_folder, run_experiment
from attnlab.lab.workers import run_in_worker, worker_plan, worker_pool

# CLI name -> module, in the order of the report (the history: bottleneck first).
EXPERIMENTS: dict[str, str] = {
    "length": "attnlab.lab.length",
    "reversal": "attnlab.lab.reversal",
    "alignment": "attnlab.lab.alignment",
    "capacity": "attnlab.lab.capacity",
    "gradient-path": "attnlab.lab.gradient_path",
    "parallel-speed": "attnlab.lab.parallel_speed",
    "effective-context": "attnlab.lab.effective_context",
}
MARKER = ".attnlab-lab"  # in DIR: the folder was made by `attnlab lab`, its experiment folders ours
TEST_BUDGET = "test"  # seconds-long runs for the test suite; not offered on the command line


def _check_arguments(experiments: list[str], budget: str) -> list[str]:
    """The experiments to run, in the order asked (all if none), each once."""
    if budget not in (*BUDGETS, TEST_BUDGET):
        raise UserError("--budget", f"unknown budget {budget!r}; choose from {', '.join(BUDGETS)}")
    for name in experiments:
        if name not in EXPERIMENTS:
            raise UserError(
                "EXPERIMENT", f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}"
            )
    return list(dict.fromkeys(experiments or EXPERIMENTS))


def _claim_folder(out: Path) -> None:
    """Make `out` the lab's folder, refusing one that holds files the lab did not write."""
    if out.exists() and not out.is_dir():
        raise UserError("--out", f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UserError(
            "--out", f"{out} holds files not written by `attnlab lab`; choose another folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).touch()
    except OSError as exc:
        raise UserError("--out", f"cannot write {out}: {exc.strerror or exc}") from None


def _progress_bars(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run_lab(
    experiments: list[str],
    budget: str,
    out: Path,
    jobs: int | None = None,
    reuse: Path | None = None,
) -> Path:
    """`attnlab lab`: run `experiments` (all when empty) at `budget` into `out`; build and return
    out/report.html. With `reuse`, the real-language runs measure the models found there
    (`lab.real`) instead of training them. Experiments run side by side in `jobs` worker
    processes (default: one per core, `lab/workers.py`), except those that time the machine
    (RUNS_ALONE), which run alone afterwards. An experiment that fails is reported and the
    others still run; the command then fails naming it (the report holds the rest)."""
    from attnlab.report.html import build_report  # matplotlib and the report only when needed

    names = _check_arguments(experiments, budget)
    if reuse is not None and not Path(reuse).is_dir():
        raise UserError("--reuse", f"{reuse} is not a folder of trained models")
    out = Path(out)
    _claim_folder(out)
    console = Console(stderr=True)
    failed: list[str] = []
    start = time.perf_counter()
    threads = torch.get_num_threads()  # training may change it; each experiment starts afresh
    with _progress_bars(console) as bars:
        progress = LabProgress(bars, console)
        overall = bars.add_task(f"[bold]lab ({budget})", total=len(names))
        modules = {name: importlib.import_module(EXPERIMENTS[name]) for name in names}
        together = [n for n, m in modules.items() if not getattr(m, "RUNS_ALONE", False)]
        workers, worker_threads = worker_plan(len(together), jobs)
        if workers > 1:
            failed += _run_side_by_side(
                together, budget, out, bars, progress, overall, workers, worker_threads, reuse
            )
        for name, module in modules.items():
            if workers == 1 or name not in together:
                torch.set_num_threads(threads)
                bars.update(overall, description=f"[bold]lab ({budget}): {name}")
                if not _log_outcome(
                    progress, name, *run_experiment(name, module, budget, out, progress, reuse)
                ):
                    failed.append(name)
                bars.advance(overall)
    if not any(out.glob("*/results.json")):
        what = f"{', '.join(failed)} failed" if failed else "no experiment ran"
        raise AttnlabError("lab", f"{what}; no report written")
    report = build_report(out, list(EXPERIMENTS))
    console.print(f"wrote {report} ({time.perf_counter() - start:.0f} s)")
    if failed:
        raise AttnlabError("lab", f"{', '.join(failed)} failed; {report} holds the others")
    return report


def _log_outcome(
    progress: LabProgress, name: str, seconds: float | None, error: str | None
) -> bool:
    """Say how experiment `name` ended; True when it succeeded."""
    if error is not None:
        progress.log(f"[red]{name} failed: {error}")
        return False
    progress.log(f"{name}: done in {seconds:.0f} s")
    return True


def _run_side_by_side(
    names: list[str],
    budget: str,
    out: Path,
    bars: Progress,
    progress: LabProgress,
    overall: TaskID,
    workers: int,
    threads: int,
    reuse: Path | None = None,
) -> list[str]:
    """Run `names` in `workers` processes of `threads` threads; returns those that failed."""
    failed = []
    jobs = [(name, EXPERIMENTS[name], budget, out, reuse) for name in names]
    try:
        with worker_pool(bars, workers, threads) as pool:
            description = f"[bold]lab ({budget}): {workers} experiments at a time"
            bars.update(overall, description=description)
            for name, seconds, error in pool.imap_unordered(run_in_worker, jobs):
                if not _log_outcome(progress, name, seconds, error):
                    failed.append(name)
                bars.advance(overall)
    except BaseException:  # Ctrl-C: the pool terminated its workers mid-experiment
        for name in names:
            shutil.rmtree(partial_folder(out, name), ignore_errors=True)
        raise
    return failed
