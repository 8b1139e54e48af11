"""benchmarks/decoding_sweep.py: its settings and scores (hand-worked) and a run from the
command line."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from attnlab.evaluate import evaluate_checkpoint
from attnlab.metrics import parse_buckets
from tests.benchmark_runs import ROOT, run_benchmark
from tests.tiny_models import train_tiny

sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import decoding_sweep


def test_greedy_search_runs_once_without_a_length_penalty() -> None:
    assert decoding_sweep.settings([1, 4], [0.0, 1.5]) == [(1, 0.0), (4, 0.0), (4, 1.5)]
    assert decoding_sweep.settings([3], [2.0]) == [(3, 2.0)]


def test_brevity_penalty_and_length_ratio() -> None:
    exact = decoding_sweep.scores(["a b c d"], ["a b c d"])
    assert exact["bleu"] == pytest.approx(100.0)
    assert (exact["brevity_penalty"], exact["length_ratio"]) == (1.0, 1.0)
    # 3 output tokens for 4 of reference: BP = exp(1 - 4 / 3), all n-grams of the output match
    short = decoding_sweep.scores(["a b c"], ["a b c d"])
    assert short["brevity_penalty"] == pytest.approx(math.exp(1 - 4 / 3))
    assert short["length_ratio"] == pytest.approx(0.75)


def test_each_setting_is_scored_as_evaluate_scores_it(tmp_path: Path) -> None:
    checkpoint = train_tiny(tmp_path, "tiny", 5, ["decoding.beam_size=1"])
    data = tmp_path / "data"
    args = [str(checkpoint), "--data", str(data), "--beams", "1", "3", "--alphas", "0", "2"]
    report = run_benchmark("decoding_sweep.py", args, tmp_path / "sweep.json")
    assert [(row["beam"], row["alpha"]) for row in report["rows"]] == [(1, 0), (3, 0), (3, 2)]
    buckets = parse_buckets("10")
    for row in report["rows"]:
        expected = evaluate_checkpoint(
            checkpoint, data / "dev.src", data / "dev.trg", None, buckets, row["beam"], row["alpha"]
        )
        assert row["bleu"] == pytest.approx(expected["bleu"])
        assert row["chrf"] == pytest.approx(expected["chrf"])
