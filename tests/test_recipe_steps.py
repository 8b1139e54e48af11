"""The in-process benchmarks of the Bible recipes' training steps (benchmarks/recipe_steps.py)
end to end on tiny models: output_alignment.py times both forwards on the same layer and
batches; products_share.py the steps and their products alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmark_runs import make_bible_slice, run_benchmark


@pytest.fixture(scope="module")
def smoke_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    data = tmp_path_factory.mktemp("bible")
    make_bible_slice(data, train=600)
    return ["--data", str(data), "--steps", "2", "--threads", "1", "--smoke"]


def test_output_alignment_times_both_forwards_of_every_recipe(
    smoke_args: list[str], tmp_path: Path
) -> None:
    report = run_benchmark(
        "output_alignment.py", [*smoke_args, "--rounds", "1"], tmp_path / "o.json"
    )
    assert report["smoke"] and set(report["results"]) == {
        "gru-bahdanau",
        "lstm-luong",
        "transformer",
    }
    for r in report["results"].values():
        assert r["vocab"] % 8 != 0  # where alignment applies (SentencePiece's pieces and <pad>)
        assert set(r["product_ms"]) == set(r["tokens_per_s"]) == {"nn.Linear", "aligned"}
        assert all(v > 0 for v in r["tokens_per_s"].values())
        ms = r["product_ms"]
        assert r["product_speedup"] == ms["nn.Linear"] / ms["aligned"]


def test_products_share_times_the_steps_and_their_products(
    smoke_args: list[str], tmp_path: Path
) -> None:
    args = [*smoke_args, "--recipes", "gru-bahdanau", "transformer"]
    report = run_benchmark("products_share.py", args, tmp_path / "p.json")
    assert report["steps"] == 2 and set(report["results"]) == {"gru-bahdanau", "transformer"}
    for r in report["results"].values():
        assert r["step_seconds"] > 0 and r["products_seconds"] > 0 and r["target_tokens"] > 0
        assert r["products_share"] == r["products_seconds"] / r["step_seconds"]
        assert r["products_only_tokens_per_s"] == r["target_tokens"] / r["products_seconds"]
