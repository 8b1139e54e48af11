"""Shared fixtures: run the CLI in-process and capture its exit status and output."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from attnlab.cli import main


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The tests' models are tiny: one intra-op thread avoids thread hand-offs that cost far more
    than they save (and thrash when other processes share the cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """`cli("config", "check", path)` runs `attnlab ...` in this process."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """Exit 2, one line `attnlab: error: ...` on stderr containing every fragment, no traceback."""
    assert result.code == 2, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("attnlab: error: "), lines[0]
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write_reverse_task(
    folder: Path, n_train: int = 200, n_eval: int = 30, vocab: int = 12, max_len: int = 8
) -> Path:
    """A tiny reverse task (target = source reversed) in the {train,dev,test}.{src,trg} layout."""
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in [("train", n_train), ("dev", n_eval), ("test", n_eval)]:
        src = [
            [f"w{rng.randrange(vocab)}" for _ in range(rng.randint(1, max_len))] for _ in range(n)
        ]
        (folder / f"{split}.src").write_text("".join(" ".join(s) + "\n" for s in src))
        (folder / f"{split}.trg").write_text("".join(" ".join(s[::-1]) + "\n" for s in src))
    return folder


TIMINGS = ("tokens_per_s", "seconds")  # wall-clock figures of log.jsonl: they differ in every run


def log_less_timings(run: Path) -> list[dict]:
    """A run folder's log.jsonl entries without their wall-clock figures."""
    entries = map(json.loads, (run / "log.jsonl").read_text().splitlines())
    return [{k: v for k, v in e.items() if k not in TIMINGS} for e in entries]
