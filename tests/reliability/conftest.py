"""Shared pieces of the reliability suite: a tiny training config, a small real filesystem, and
the figures the suite states (docs/RELIABILITY.md), printed at the end of a pytest run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from attnlab.config import load_config
from tests.conftest import write_reverse_task

FIGURES: Counter[str] = Counter()  # what the passing tests tried, by kind

TINY = [
    "model.type=rnn",
    "model.cell=gru",
    "model.context=bahdanau",
    "model.embedding_size=8",
    "model.hidden_size=16",
    "model.attention_size=16",
    "training.batch_tokens=160",
    "training.lr=0.005",
    "training.num_threads=1",
    "training.device=cpu",
    "training.eval_bleu=false",
    "decoding.beam_size=1",
]


def tiny_config(folder: Path, extra: list[str] | None = None) -> Path:
    """A complete config file (every value written out) for a tiny GRU run on a reverse task."""
    data = write_reverse_task(folder / "data", n_train=100, n_eval=10, max_len=6)
    path = folder / "tiny.yaml"
    path.write_text(f"data:\n  dir: {data}\n", encoding="utf-8")
    path.write_text(load_config(path, TINY + (extra or [])).to_yaml(), encoding="utf-8")
    return path


@pytest.fixture
def figures() -> Counter[str]:
    """Count what a test tried; count only after its assertions passed."""
    return FIGURES


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A real 3 MiB tmpfs (needs root and mount); the test is skipped where it cannot be had."""
    root = tmp_path / "fs"
    root.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(root)):
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    try:
        yield root
    finally:
        _mount("-o", "remount,rw", str(root))
        subprocess.run(["umount", str(root)], check=True)


def make_read_only(folder: Path) -> None:
    """Remount the small filesystem read-only."""
    assert _mount("-o", "remount,ro", str(folder))


def fill(folder: Path, leave: int) -> None:
    """Fill the filesystem holding `folder` until about `leave` bytes are free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    (folder / "filler").write_bytes(b"\0" * max(free - leave, 0))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")
