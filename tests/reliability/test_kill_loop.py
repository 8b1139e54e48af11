"""The kill loop: a real training run SIGKILLed at 24 moments, half of them inside a checkpoint
write (between the temporary file's fsync and its rename, held open by the test hook
ATTNLAB_TEST_PAUSE_IN_CHECKPOINT_WRITE), the other half at random times, and resumed after each.
Every checkpoint on disk must load after every kill, and the run must end with the weights and
the log (less its timings) of the run that was never killed.

Each piece of the run is killed only after it has written a checkpoint of its own, so that the
run moves on however slow the machine is: inside the next write, or at a random time up to as
long again as that first checkpoint took."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from attnlab.checkpoint import PAUSE_IN_WRITE_ENV, load_checkpoint
from attnlab.config import load_config
from attnlab.train import run_training
from tests.conftest import log_less_timings
from tests.reliability.conftest import tiny_config

KILLS = 24
EVERY = 5
STEPS = [
    "training.max_steps=400",
    f"training.eval_every={EVERY}",
    f"training.log_every={EVERY}",  # each resume starts a log window: make them the same
    "training.keep_last=2",
]


def _train(config: Path, out: Path, resume: bool) -> None:
    """The child: `attnlab train` with the write pause, its output thrown away."""
    os.environ[PAUSE_IN_WRITE_ENV] = "0.05"
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    torch.set_num_threads(1)
    run_training(load_config(config), out, resume=resume, quiet=True)


def _step(path: Path) -> int:
    """The step in a checkpoint's name: ckpt-0000010.pt or its temporary .ckpt-0000010.pt.*.tmp"""
    return int(path.name.lstrip(".").split(".")[0].removeprefix("ckpt-"))


def _wait_for(out: Path, pattern: str, after: int, process: multiprocessing.Process) -> bool:
    """Poll until a file matching `pattern` (a checkpoint or its temporary) for a step past `after`
    exists; False if the child ended or 10 minutes went by first."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.is_alive():
        if any(_step(path) > after for path in out.glob(pattern)):
            return True
        time.sleep(0.002)
    return False


def _all_checkpoints_load(out: Path) -> int:
    paths = sorted(out.glob("*.pt"))
    for path in paths:
        load_checkpoint(path)  # a UserError here fails the test
    return len(paths)


@pytest.mark.slow
def test_a_run_killed_24_times_ends_as_if_never_killed(
    tmp_path: Path, figures: Counter[str]
) -> None:
    config = tiny_config(tmp_path, STEPS)
    straight = tmp_path / "straight"
    run_training(load_config(config), straight, quiet=True)

    rng = random.Random(17)
    fork = multiprocessing.get_context("fork")  # no interpreter start-up per kill
    out = tmp_path / "killed"
    kills = {"inside a checkpoint write": 0, "at a random moment": 0}
    checked = 0
    while sum(kills.values()) < KILLS:
        resume = (out / "last.pt").exists()
        start = load_checkpoint(out / "last.pt")["progress"]["step"] if resume else 0
        process = fork.Process(target=_train, args=(config, out, resume))
        began = time.monotonic()
        process.start()
        inside = sum(kills.values()) % 2 == 0
        if inside:  # the write after this piece's first checkpoint
            landed = _wait_for(out, ".ckpt-*.tmp", start + EVERY, process)
        else:
            landed = _wait_for(out, "ckpt-*.pt", start, process)
            time.sleep(rng.uniform(0, time.monotonic() - began))
            landed = landed and process.is_alive()
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=60)
        assert process.exitcode in (-signal.SIGKILL, 0), process.exitcode
        assert process.exitcode != 0, "the run finished before the kills were done; lengthen it"
        if landed:
            kills["inside a checkpoint write" if inside else "at a random moment"] += 1
        checked += _all_checkpoints_load(out)

    process = fork.Process(target=_train, args=(config, out, True))
    process.start()
    process.join(timeout=600)
    assert process.exitcode == 0

    a, b = load_checkpoint(straight / "last.pt")["model"], load_checkpoint(out / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert log_less_timings(out) == log_less_timings(straight)
    assert not list(out.glob(".*.tmp")), "a killed write's temporary file was left behind"
    for kind, count in kills.items():
        figures[f"kills survived: {kind}"] += count
    figures["checkpoint files loaded between kills"] += checked
