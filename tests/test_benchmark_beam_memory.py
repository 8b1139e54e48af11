"""benchmarks/beam_memory.py: the output check, the switch it flips, and a run from the command
line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from torch import Tensor

from attnlab import search
from attnlab.translate import Translation, Translator
from tests.benchmark_runs import ROOT, run_benchmark
from tests.tiny_models import train_tiny

sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import beam_memory


def translation(nbest: list[tuple[str, float]]) -> Translation:
    return Translation(nbest[0][0], nbest[0][1], [], [], None, nbest)


def test_outputs_are_the_same_only_with_the_same_texts_and_close_scores() -> None:
    one = [translation([("a b", -1.0), ("a", -2.0)])]
    assert beam_memory.same_output(one, [translation([("a b", -1.00005), ("a", -2.0)])])
    assert not beam_memory.same_output(one, [translation([("a b", -1.001), ("a", -2.0)])])
    assert not beam_memory.same_output(one, [translation([("a", -2.0), ("a b", -1.0)])])


def test_the_repeated_side_repeats_the_memory_and_restores_the_switch(tmp_path: Path) -> None:
    checkpoint = train_tiny(tmp_path, "tiny", 5, [])
    translator = Translator.from_checkpoint(checkpoint, "cpu")
    memory_rows: list[int] = []
    step = translator.model.step

    def counting_step(memory: Any, state: Any, y_prev: Tensor) -> Any:
        memory_rows.append(memory.encoder_output.size(0))
        return step(memory, state, y_prev)

    translator.model.step = counting_step
    keep = search.memory_per_sentence
    beam_memory.translate(translator, ["w1 w2 w3"], "repeated", 3)
    assert set(memory_rows) == {3} and search.memory_per_sentence is keep
    memory_rows.clear()
    beam_memory.translate(translator, ["w1 w2 w3"], "per sentence", 3)
    assert set(memory_rows) == {1}


def test_a_run_from_the_command_line(tmp_path: Path) -> None:
    checkpoint = train_tiny(tmp_path, "tiny", 5, [])
    source = tmp_path / "data" / "dev.src"
    args = [str(checkpoint), "--source", str(source), "--beam", "3", "--sentences", "12"]
    args += ["--rounds", "2", "--threads", "1"]
    report = run_benchmark("beam_memory.py", args, tmp_path / "beam_memory.json")
    assert report["sentences"] == 12 and report["beam"] == 3
    assert report["identical_output"] is True
    for side in beam_memory.SIDES:
        assert len(report["seconds"][side]) == 2
        assert report["best_seconds"][side] == min(report["seconds"][side])
