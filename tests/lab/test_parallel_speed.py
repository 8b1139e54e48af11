"""parallel-speed: the speed helpers by hand and the experiment on its seconds-long preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attnlab.analysis.speed import (
    closest_size,
    random_batch,
    speed_ratio,
    time_training_steps,
    tokens_per_second,
)
from attnlab.data.vocab import BOS_ID, EOS_ID
from attnlab.lab import parallel_speed
from attnlab.lab.common import LabProgress


def test_tokens_per_second_uses_the_median_step() -> None:
    assert tokens_per_second(100, [0.5, 10.0, 0.25]) == 200.0


def test_speed_ratio_by_hand() -> None:
    ratios = speed_ratio({16: 300.0, 64: 800.0, 128: 5.0}, {16: 100.0, 64: 200.0})
    assert ratios == {16: 3.0, 64: 4.0}  # only lengths measured for both


@pytest.mark.parametrize("target", [0, 1, 49, 50, 51, 130, 10_000])
def test_closest_size_matches_a_brute_force_search(target: int) -> None:
    def count(h: int) -> int:
        return 2 * h * h + 3 * h  # parameters of a toy layer at width h

    best = min(range(1, 65), key=lambda h: (abs(count(h) - target), h))
    assert closest_size(count, target, 1, 64) == best


def test_random_batch_shapes_and_specials() -> None:
    batch = random_batch(3, 5, 20, torch.Generator().manual_seed(0))
    assert batch.src.shape == batch.trg_in.shape == batch.trg_out.shape == (3, 5)
    assert batch.src_mask.all() and batch.trg_mask.all() and batch.n_trg_tokens == 15
    assert (batch.trg_in[:, 0] == BOS_ID).all() and (batch.trg_out[:, -1] == EOS_ID).all()
    assert torch.equal(batch.trg_in[:, 1:], batch.trg_out[:, :-1])
    assert (batch.src >= 4).all() and (batch.src < 20).all()


def test_timed_steps_are_positive_and_train_the_model() -> None:
    model = parallel_speed.build(
        parallel_speed.lstm_overrides(parallel_speed.BUDGETS["test"], 8), 30
    )
    before = [p.detach().clone() for p in model.parameters()]
    seconds = time_training_steps(model, random_batch(2, 6, 30, torch.Generator()), 1, 3)
    assert len(seconds) == 3 and all(t > 0 for t in seconds)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_lstm_is_matched_to_the_transformers_parameters() -> None:
    settings = parallel_speed.BUDGETS["test"]
    _, counts = parallel_speed.matched_models(settings)
    assert abs(counts["LSTM"] - counts["Transformer"]) < 0.05 * counts["Transformer"]


def test_run_on_the_test_preset_writes_figures_and_documented_keys(tmp_path: Path) -> None:
    result = parallel_speed.run("test", tmp_path, LabProgress(None))
    assert {"figures", "tables", "metrics", "expected", "reading", "config"} <= set(result)
    for figure in result["figures"]:
        assert (tmp_path / figure["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    speeds = result["metrics"]["tokens_per_s"]["cpu"]
    lengths = parallel_speed.BUDGETS["test"].lengths
    for n in lengths:
        assert speeds["LSTM"][n] > 0 and speeds["Transformer"][n] > 0
        assert result["metrics"]["speedup"][n] == pytest.approx(
            speeds["Transformer"][n] / speeds["LSTM"][n]
        )
    assert len(result["tables"][0]["rows"]) == len(lengths) * len(result["metrics"]["tokens_per_s"])
    assert result["metrics"]["trends"] == parallel_speed.trends(
        result["metrics"]["speedup_by_device"]
    )
    json.dumps(result)


def test_trends_say_whether_the_lead_grows_and_where_it_trails() -> None:
    found = parallel_speed.trends(
        {"cuda": {16: 1.0, 512: 4.0}, "cpu": {16: 2.0, 512: 0.5}, "mps": {16: 0.9, 512: 0.5}}
    )
    assert found == {
        "cuda": {"grows": True, "slower_everywhere": False},
        "cpu": {"grows": False, "slower_everywhere": False},  # 2.0 at length 16
        "mps": {"grows": False, "slower_everywhere": True},
    }
    assert parallel_speed.trends({"cpu": {16: 1.5, 64: 3.0, 512: 1.5}})["cpu"]["grows"] is False


def test_verdict_needs_a_lead_that_does_not_shrink_with_length() -> None:
    assert parallel_speed.verdicts({16: 1.5, 512: 12.25})[0]["holds"] == "yes"
    assert parallel_speed.verdicts({16: 1.5, 512: 1.2})[0]["holds"] == "unclear"
    assert parallel_speed.verdicts({16: 1.5, 512: 0.8})[0]["holds"] == "no"
    assert parallel_speed.verdicts({})[0:] == []
    assert parallel_speed.verdicts({16: 2.0})[0]["question"] == "transformer"
