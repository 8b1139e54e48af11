"""benchmarks/output_alignment.py end to end on tiny models: both forwards timed on the same
layer and the same batches of every recipe."""

from __future__ import annotations

from pathlib import Path

from tests.benchmark_runs import make_bible_slice, run_benchmark


def test_the_benchmark_times_both_forwards_of_every_recipe(tmp_path: Path) -> None:
    make_bible_slice(tmp_path / "bible", train=600)
    args = ["--data", str(tmp_path / "bible"), "--steps", "2", "--rounds", "1", "--smoke"]
    report = run_benchmark("output_alignment.py", [*args, "--threads", "1"], tmp_path / "o.json")
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
