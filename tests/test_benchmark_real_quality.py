"""benchmarks/real_quality.py from the command line: train, choose the decoding on dev, score
test once with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnlab.evaluate import evaluate_checkpoint
from attnlab.metrics import parse_buckets
from tests.benchmark_runs import run_benchmark
from tests.conftest import write_reverse_task
from tests.tiny_models import TINY


def test_decoding_chosen_on_dev_is_the_one_test_is_scored_with(tmp_path: Path) -> None:
    data = write_reverse_task(tmp_path / "data", n_train=200, n_eval=12)
    config = tmp_path / "tiny.yaml"
    settings = [*TINY, "training.max_steps=6", "training.eval_every=6"]
    config.write_text(f"data:\n  dir: {data}\n", encoding="utf-8")
    sets = [arg for item in settings for arg in ("--set", item)]
    args = [str(config), "--runs", str(tmp_path / "runs"), "--tune-decoding", *sets]
    (run,) = run_benchmark("real_quality.py", args, tmp_path / "quality.json")["runs"]

    tuned = run["tuned_decoding"]
    pairs = [(row["beam"], row["alpha"]) for row in tuned["dev_sweep"]]
    assert pairs == [(b, a) for b in (5, 10) for a in (0.0, 1.0, 1.5, 2.0)]
    best = max(tuned["dev_sweep"], key=lambda row: row["bleu"])
    assert (tuned["beam"], tuned["alpha"]) == (best["beam"], best["alpha"])
    assert tuned["stopping"] == best["stopping"] == "heuristic"
    checkpoint = Path(run["run"]) / "best.pt"
    expected = evaluate_checkpoint(
        checkpoint,
        data / "test.src",
        data / "test.trg",
        None,
        parse_buckets("10"),
        tuned["beam"],
        {"length_penalty": tuned["alpha"], "stopping": tuned["stopping"]},
    )
    assert run["test_bleu"] == pytest.approx(expected["bleu"])
