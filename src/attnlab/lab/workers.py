"""Experiments side by side: each in a worker process of its own, their progress bars shown by
the parent's Rich display.

The lab's trainings are small enough that one thread each is the fastest use of a core (a second
thread costs more in synchronisation than it gives), so on a machine with C cores the runner
starts `jobs` = min(C, experiments) workers with C // jobs threads each. An experiment in a
worker reports through a `QueueProgress`, which has the part of Rich's Progress that
`LabProgress` uses and sends every call to the parent through a queue; a thread of the parent
replays them on the real bars. Workers are spawned (not forked: a forked copy of a process
that already runs OpenMP threads can deadlock) and ignore Ctrl-C: the parent alone handles it
and terminates them.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress, TaskID

from attnlab.lab.common import LabProgress
from attnlab.lab.runner import run_experiment

_QUEUE: Any = None  # the worker's end of the progress queue (set by _start_worker)


def worker_plan(n_experiments: int, jobs: int | None) -> tuple[int, int]:
    """(workers, torch threads per worker) for `n_experiments` on this machine; `jobs` asks
    for a number of workers (default: one per core, at most one per experiment)."""
    cores = os.cpu_count() or 1
    workers = max(1, min(jobs or cores, n_experiments))
    return workers, max(1, cores // workers)


class _QueueConsole:
    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def print(self, message: str) -> None:
        self.sink.put(("print", None, message))


class QueueProgress:
    """The calls `LabProgress` makes on a Rich Progress, sent to the parent as tuples
    (what, key, value); `key` names the bar across processes, (experiment, number)."""

    def __init__(self, sink: Any, experiment: str) -> None:
        self.sink, self.experiment = sink, experiment
        self.console = _QueueConsole(sink)
        self._next = 0

    def add_task(self, description: str, total: float | None = None) -> tuple[str, int]:
        key = (self.experiment, self._next)
        self._next += 1
        if not description.startswith(f"{self.experiment}:"):  # name whose bar it is
            description = f"{self.experiment}: {description}"
        self.sink.put(("add", key, (description, total)))
        return key

    def advance(self, task_id: tuple[str, int], advance: float = 1) -> None:
        self.sink.put(("advance", task_id, advance))

    def update(self, task_id: tuple[str, int], completed: float) -> None:
        self.sink.put(("update", task_id, completed))

    def remove_task(self, task_id: tuple[str, int]) -> None:
        self.sink.put(("remove", task_id, None))


def _start_worker(sink: Any, threads: int) -> None:
    global _QUEUE
    _QUEUE = sink
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    torch.set_num_threads(threads)


def run_in_worker(
    job: tuple[str, str, str, Path, Path | None],
) -> tuple[str, float | None, str | None]:
    """Run one experiment (name, module path, budget, lab folder, reuse folder or None) in a
    worker of `worker_pool`. -> (name, seconds, None) or (name, None, the error)."""
    name, module_path, budget, out, reuse = job
    progress = LabProgress(QueueProgress(_QUEUE, name))  # type: ignore[arg-type]
    module = importlib.import_module(module_path)
    return name, *run_experiment(name, module, budget, out, progress, reuse)


def _replay(sink: Any, bars: Progress, stop: threading.Event) -> None:
    """Apply the workers' progress calls to `bars` until `stop` is set and the queue is empty."""
    ids: dict[tuple[str, int], TaskID] = {}
    while True:
        try:
            what, key, value = sink.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):
            return  # a worker terminated mid-message (Ctrl-C): no more progress to show
        if what == "print":
            bars.console.print(value)
        elif what == "add":
            ids[key] = bars.add_task(value[0], total=value[1])
        elif key in ids:
            if what == "advance":
                bars.advance(ids[key], value)
            elif what == "update":
                bars.update(ids[key], completed=value)
            elif what == "remove":
                bars.remove_task(ids.pop(key))


@contextmanager
def worker_pool(bars: Progress, workers: int, threads: int) -> Iterator[Pool]:
    """A pool of spawned workers whose progress shows on `bars`. If the body is interrupted
    (Ctrl-C) the workers are terminated before the exception goes on."""
    context = multiprocessing.get_context("spawn")
    sink = context.Queue()
    stop = threading.Event()
    replay = threading.Thread(target=_replay, args=(sink, bars, stop), daemon=True)
    replay.start()
    pool = context.Pool(workers, initializer=_start_worker, initargs=(sink, threads))
    try:
        yield pool
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        stop.set()
        replay.join()
