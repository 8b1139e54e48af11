"""benchmarks/joeynmt_steps.py: the attnlab side writes its batches once and every round trains
on the same ones; (slow, where JoeyNMT 2.3 installs) both sides run end to end on them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tests.benchmark_runs import joeynmt_installable, make_bible_slice, run_benchmark

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import joeynmt_steps as bench  # noqa: E402


@pytest.fixture(scope="module")
def bible_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("bible")
    make_bible_slice(data, train=2000)
    return data


@pytest.mark.parametrize("recipe", bench.RECIPES)
def test_rounds_train_on_the_batches_the_first_one_wrote(bible_slice: Path, recipe: str) -> None:
    batches = bible_slice / f"{recipe}-batches.pt"
    config = bench.recipe_config(recipe, bible_slice, smoke=True)
    spec = {"config": config.model_dump(mode="json"), "batches": str(batches)}
    spec |= {"threads": 1, "warmup": 1, "steps": 2, "peak_size": 64}
    first = bench.attnlab_child(spec)
    saved = torch.load(batches, weights_only=True)
    assert len(saved["src"]) == len(saved["trg_out"]) == 3
    timed = sum(int((t != 0).sum()) for t in saved["trg_out"][1:])  # </s> counts, <pad> not
    assert first["steps"] == 2 and first["target_tokens"] == timed
    assert first["gflop_per_step"] > 0  # the fast kernels run their products as mm / bmm
    rate = first["gflop_per_step"] * 2 / first["seconds"]
    assert first["fraction_of_peak"] == pytest.approx(rate / first["peak_gflop_per_s"])
    again = bench.attnlab_child(spec)  # makes the batches again, checked against the file
    assert again["target_tokens"] == timed and again["vocab"] == first["vocab"]


def test_a_round_that_makes_other_batches_stops(bible_slice: Path, tmp_path: Path) -> None:
    batches = tmp_path / "batches.pt"
    config = bench.recipe_config("gru-bahdanau", bible_slice, smoke=True)
    spec = {"config": config.model_dump(mode="json"), "batches": str(batches)}
    spec |= {"threads": 1, "warmup": 0, "steps": 1, "peak_size": 64}
    bench.attnlab_child(spec)
    saved = torch.load(batches, weights_only=True)
    saved["trg_out"][0][0, 0] += 1  # as if the first round had cut other batches
    torch.save(saved, batches)
    with pytest.raises(RuntimeError, match="other batches"):
        bench.attnlab_child(spec)


@pytest.mark.slow
def test_smoke_run_trains_both_toolkits_on_the_same_batches(
    bible_slice: Path, tmp_path: Path
) -> None:
    if not joeynmt_installable(tmp_path / "wheel"):
        pytest.skip("JoeyNMT 2.3 cannot be downloaded here (no PyPI)")
    report = run_benchmark(
        "joeynmt_steps.py",
        [
            *("--smoke", "--threads", "1", "--warmup", "1", "--steps", "2", "--rounds", "1"),
            *("--data", str(bible_slice), "--out", str(tmp_path / "runs")),
        ],
        tmp_path / "result.json",
    )
    for name in bench.RECIPES:
        result = report["results"][name]
        attnlab, joey = result["rounds"]["attnlab"][0], result["rounds"]["joeynmt"][0]
        assert attnlab["target_tokens"] == joey["target_tokens"] > 0
        assert attnlab["steps"] == joey["steps"] == 2
        assert result["ratio_best"] > 0
        assert joey["gflop_per_step"] > 0  # at least its output layer is counted
        gflop_per_token = attnlab["gflop_per_step"] * 2 / attnlab["target_tokens"]
        at_2x = 2 * joey["tokens_per_s"] * gflop_per_token / attnlab["peak_gflop_per_s"]
        assert result["attnlab_fraction_of_peak_at_2x"] == pytest.approx(at_2x)
