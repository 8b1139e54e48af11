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


def test_greedy_runs_once_and_alpha_0_with_one_stopping_rule() -> None:
    h, x = "heuristic", "exact"
    assert decoding_sweep.settings([1, 4], [0.0, 1.5]) == [(1, 0.0, h), (4, 0.0, h), (4, 1.5, h)]
    assert decoding_sweep.settings([1, 3], [0.0, 2.0], (h, x)) == [
        (1, 0.0, h),
        (3, 0.0, h),
        (3, 2.0, h),
        (3, 2.0, x),
    ]
    assert decoding_sweep.settings([2], [0.0, 1.0], (x,)) == [(2, 0.0, x), (2, 1.0, x)]


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
    args += ["--stoppings", "heuristic", "exact"]
    report = run_benchmark("decoding_sweep.py", args, tmp_path / "sweep.json")
    settings = [(row["beam"], row["alpha"], row["stopping"]) for row in report["rows"]]
    assert settings == decoding_sweep.settings([1, 3], [0.0, 2.0], ("heuristic", "exact"))
    buckets = parse_buckets("10")
    for row in report["rows"]:
        decoding = {"length_penalty": row["alpha"], "stopping": row["stopping"]}
        dev = data / "dev.src", data / "dev.trg"
        expected = evaluate_checkpoint(checkpoint, *dev, None, buckets, row["beam"], decoding)
        assert row["bleu"] == pytest.approx(expected["bleu"])
        assert row["chrf"] == pytest.approx(expected["chrf"])
