"""The generated bad-input suite (issue 17): several hundred bad configs, overrides, corpora,
checkpoints, arguments and stdin streams (tests/reliability/bad_inputs.py), each run through the
CLI in this process. Every one must end with exit status 2 and one line
`attnlab: error: <where>: <what>` naming the file (and line) or key, no traceback, nothing on
stdout, no file written, and every input unchanged."""

from __future__ import annotations

import hashlib
import io
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.config import load_config
from attnlab.train import run_training
from tests.conftest import assert_one_line_error
from tests.reliability.bad_inputs import ENDLESS, Case, Endless, all_cases
from tests.reliability.conftest import tiny_config

CASES = all_cases()


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    config = load_config(tiny_config(folder, ["training.max_steps=2", "training.eval_every=2"]))
    run_training(config, folder / "run", quiet=True)
    return folder / "run" / "last.pt"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (names relative to it) with the SHA-256 of its content."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BufferedReader(Endless()) if data == ENDLESS else io.BytesIO(data)

    def isatty(self) -> bool:
        return False


def test_the_suite_is_large_and_its_cases_distinct() -> None:
    def key(case: Case) -> tuple[object, ...]:
        files = tuple(
            sorted(
                (name, content if isinstance(content, bytes) else id(content))
                for name, content in case.files.items()
            )
        )
        return case.argv, files, case.stdin

    assert len(CASES) >= 200
    assert len({case.id for case in CASES}) == len(CASES)
    assert len({key(case) for case in CASES}) == len(CASES)  # no two cases run the same thing


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_input_gives_one_line_exit_2_and_changes_nothing(
    case: Case,
    tmp_path: Path,
    good_checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    figures: Counter[str],
) -> None:
    good = good_checkpoint.read_bytes()

    def fill_in(text: str) -> str:
        return text.replace("{d}", str(tmp_path)).replace("{ckpt}", str(good_checkpoint))

    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content(good)
        path.write_bytes(data.replace(b"{d}", str(tmp_path).encode()))
    if case.stdin is not None:
        monkeypatch.setattr(sys, "stdin", FakeStdin(case.stdin))
    monkeypatch.chdir(tmp_path)  # anything written to the working directory shows up too
    before = snapshot(tmp_path)

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([fill_in(arg) for arg in case.argv])
    out, err = capsys.readouterr()

    code = exit_info.value.code
    result = type("Result", (), {"code": code if isinstance(code, int) else 1, "err": err})
    assert_one_line_error(result, *map(fill_in, case.fragments))
    assert out == "", "partial output on stdout"
    assert snapshot(tmp_path) == before, "a file was written, changed or removed"
    assert good_checkpoint.read_bytes() == good
    figures[f"bad inputs: {case.kind}"] += 1


def test_no_command_prints_the_help_and_exits_2(cli) -> None:
    result = cli()
    assert result.code == 2 and "Usage" in result.out + result.err


BIT_FLIPS = 32


@pytest.mark.parametrize("flip", range(BIT_FLIPS))
def test_a_flipped_bit_in_a_checkpoint_is_refused_or_changes_nothing(
    flip: int, tmp_path: Path, good_checkpoint: Path, cli, figures: Counter[str]
) -> None:
    """One bit flipped at a seeded place in the file: the model either does not load (one line,
    exit 2) or translates exactly as before (the bit was in zip padding or a field nobody reads).
    A silently different model is the failure this guards against."""
    good = good_checkpoint.read_bytes()
    position = random.Random(flip).randrange(len(good) * 8)
    flipped = bytearray(good)
    flipped[position // 8] ^= 1 << (position % 8)
    path = tmp_path / "x.pt"
    path.write_bytes(bytes(flipped))
    source = tmp_path / "in.txt"
    source.write_text("w1 w2 w3\nw4 w5\nw6\n", encoding="utf-8")

    result = cli("translate", path, "--input", source, "--beam", "2")
    if result.code == 0:
        assert result.out == cli("translate", good_checkpoint, "--input", source, "--beam", "2").out
        figures["checkpoint bit flips: harmless (same translations)"] += 1
    else:
        assert_one_line_error(result, str(path))
        assert result.out == ""
        figures["checkpoint bit flips: refused with one line"] += 1
    assert path.read_bytes() == bytes(flipped)
