"""A full disk and a read-only folder under training, translate, evaluate and average: one line
naming the file and what happened, exit status 1, the last good checkpoint intact and loadable,
no temporary file left behind.

The disk is a real 3 MiB tmpfs where the tests run as root (else those tests are skipped); a
write hook that raises ENOSPC inside `save_atomic` covers the same path everywhere; stdout on a
full disk is /dev/full.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from attnlab.checkpoint import load_checkpoint
from attnlab.cli import main
from attnlab.config import load_config
from attnlab.train import run_training
from tests.conftest import CliResult
from tests.reliability.conftest import fill, make_read_only, tiny_config

STEPS = ["training.max_steps=20", "training.eval_every=5"]


def assert_write_error(result: CliResult, *fragments: str) -> str:
    """Exit 1 and one line `attnlab: error: FILE: ...` holding every fragment, the last on stderr
    (training's progress messages come before it); returns it."""
    assert result.code == 1, (result.code, result.err)
    lines = result.err.strip().splitlines()
    errors = [line for line in lines if "error" in line.lower()]
    assert errors == lines[-1:] and lines[-1].startswith("attnlab: error: "), result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return all(torch.equal(wa[k], wb[k]) for k in wa)


def test_training_into_a_full_disk_keeps_the_last_good_checkpoint_and_resumes_to_the_same_end(
    tmp_path: Path, small_filesystem: Path, cli, figures: Counter[str]
) -> None:
    config = tiny_config(tmp_path, STEPS)
    straight = tmp_path / "straight"
    run_training(load_config(config), straight, quiet=True)
    size = (straight / "last.pt").stat().st_size
    fill(small_filesystem, leave=size + size // 2 + 16 * 1024)  # one checkpoint fits, not two
    run = small_filesystem / "run"

    line = assert_write_error(
        cli("train", config, "--out", run),
        "disk full",
        f"the last good checkpoint is {run}/last.pt (step 5)",
    )
    assert line.startswith(f"attnlab: error: {run}/")  # names the file it could not write
    assert load_checkpoint(run / "last.pt")["progress"]["step"] == 5
    assert temporaries(run) == []

    (small_filesystem / "filler").unlink()  # room again: the run continues where it stopped
    assert cli("train", config, "--out", run, "--resume").code == 0
    assert same_weights(straight / "last.pt", run / "last.pt")
    figures["faults injected: disk full (a real 3 MiB tmpfs)"] += 1


def test_a_write_failing_inside_save_atomic_leaves_the_previous_checkpoint(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, figures: Counter[str]
) -> None:
    """The hook: fsync of the second checkpoint file raises ENOSPC, as a full disk would."""
    real_fsync, files_synced = os.fsync, []

    def failing_fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            files_synced.append(fd)
            if len(files_synced) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    run = tmp_path / "run"
    assert_write_error(
        cli("train", tiny_config(tmp_path, STEPS), "--out", run),
        f"{run}/ckpt-0000010.pt: disk full",
        f"the last good checkpoint is {run}/last.pt (step 5)",
    )
    monkeypatch.undo()
    assert load_checkpoint(run / "last.pt")["progress"]["step"] == 5
    assert sorted(p.name for p in run.glob("*.pt")) == ["best.pt", "ckpt-0000005.pt", "last.pt"]
    assert temporaries(run) == []
    figures["faults injected: ENOSPC from a write hook"] += 1


def test_training_into_a_read_only_folder(
    tmp_path: Path, small_filesystem: Path, cli, figures: Counter[str]
) -> None:
    config = tiny_config(tmp_path, STEPS)
    run = small_filesystem / "run"
    assert cli("train", config, "--out", run, "--set", "training.max_steps=5").code == 0
    make_read_only(small_filesystem)

    fresh = small_filesystem / "fresh"
    assert_write_error(cli("train", config, "--out", fresh), f"{fresh}: not writable")
    assert not fresh.exists()
    assert_write_error(
        cli("train", config, "--out", run, "--resume"),
        "not writable",
        f"the last good checkpoint is {run}/last.pt (step 5)",
    )
    assert load_checkpoint(run / "last.pt")["progress"]["step"] == 5
    figures["faults injected: read-only file system"] += 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    config = load_config(tiny_config(folder, ["training.max_steps=5"]))
    run_training(config, folder / "run", quiet=True)
    return folder / "run" / "last.pt"


def run_with_stdout(argv: list[str], stdout_path: str, capsys, monkeypatch) -> CliResult:
    """The CLI in this process with stdout on `stdout_path` (/dev/full: every write fails)."""
    capsys.readouterr()
    with open(stdout_path, "w", encoding="utf-8") as stream:
        monkeypatch.setattr(sys, "stdout", stream)
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        monkeypatch.undo()
    return CliResult(code, "", capsys.readouterr().err)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "command", ["translate", "translate --json", "evaluate", "evaluate --json"]
)
def test_translate_and_evaluate_onto_a_full_disk(
    tmp_path: Path, checkpoint: Path, command: str, capsys, monkeypatch, figures: Counter[str]
) -> None:
    data = checkpoint.parent.parent / "data"
    name, *flags = command.split()
    argv = [name, str(checkpoint), *flags]
    if name == "translate":
        argv += ["--input", str(data / "test.src")]
    else:
        argv += ["--src", str(data / "test.src"), "--ref", str(data / "test.trg")]
    result = run_with_stdout(argv, "/dev/full", capsys, monkeypatch)
    assert_write_error(result, "<stdout>: disk full")
    figures["faults injected: stdout on a full disk (/dev/full)"] += 1


def test_average_onto_a_full_disk(
    checkpoint: Path, small_filesystem: Path, cli, figures: Counter[str]
) -> None:
    fill(small_filesystem, leave=4096)
    out = small_filesystem / "avg.pt"
    assert_write_error(cli("average", checkpoint, "--out", out), f"{out}: disk full")
    assert not out.exists() and temporaries(small_filesystem) == []
    figures["faults injected: disk full (a real 3 MiB tmpfs)"] += 1
