"""benchmarks/realistic.py --quick end to end: it trains a tiny Transformer on the embedded Bible,
exports it, decodes the same batches with attnlab and CTranslate2, measures training and writes
the JSON whose fields the README's figures come from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEARCHES = ("greedy", "beam5-lp0", "beam5-lp1")
ENGINES = ("attnlab", "ct2-fp32", "ct2-int8")


def check_decoding(model: dict) -> None:
    for batch in model["batches"]:  # the stated per-batch rule, decoding.max_len_* 1.5 and 10
        cap = model["model"]["max_positions"] - 1
        assert batch["limit"] == min(int(1.5 * batch["longest"]) + 10, cap)
    assert sum(b["sentences"] for b in model["batches"]) == model["sentences"]
    for search in SEARCHES:
        row = model["decoding"][search]
        for engine in ENGINES:
            r = row[engine]
            assert r["s"] == min(r["times"]) > 0
            assert r["output_tokens_per_s"] == pytest.approx(r["output_tokens"] / r["s"])
            assert 0 <= r["identical_to_ct2_fp32"] <= 1
        assert row["ct2-fp32"]["identical_to_ct2_fp32"] == 1
        ratio = row["attnlab"]["s"] / row["ct2-fp32"]["s"]
        assert row["ratio_attnlab_to_ct2_fp32"] == pytest.approx(ratio)
    # same float32 weights and limits: greedy agrees but for near-ties of a barely trained model
    assert model["decoding"]["greedy"]["attnlab"]["identical_to_ct2_fp32"] >= 0.9


def check_profile(profile: dict, training: bool) -> None:
    shares = {group: g["share"] for group, g in profile["groups"].items()}
    assert sum(shares.values()) == pytest.approx(1.0)
    for group in ("output projection + log-softmax", "attention", "FFN", "embeddings"):
        assert shares[group] > 0, group
    assert (shares["optimizer"] > 0) == training
    output_ops = [op for op, _ in profile["groups"]["output projection + log-softmax"]["top"]]
    matmuls = ("mkldnn::_linear_pointwise", "aten::addmm", "aten::mm")  # the projection itself
    assert any(op in matmuls for op in output_ops), output_ops
    assert (shares["beam bookkeeping"] > 0) == (not training)


@pytest.mark.slow
def test_quick_mode_writes_every_figure(tmp_path: Path) -> None:
    pytest.importorskip("ctranslate2")
    out = tmp_path / "realistic.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, str(ROOT / "benchmarks" / "realistic.py"), "--quick"]
    command += ["--threads", "1", "--work", str(tmp_path / "work"), "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "attnlab/CT2" in done.stdout and "of peak" in done.stdout

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["quick"] is True and report["threads"] == 1
    results = report["results"]
    transformer, gru = results["transformer-tiny"], results["gru-bahdanau"]
    recurrent = [gru, results["lstm-luong"], results["lstm-luong-reference"]]
    assert [r["model"]["kernels"] for r in recurrent] == ["fast", "fast", "reference"]
    assert transformer["trained_steps"] == 20
    check_decoding(transformer)
    for search in ("greedy", "beam5-lp0"):
        check_profile(transformer["decoding_profile"][search], training=False)
    check_profile(transformer["training"]["profile"], training=True)

    for model in (transformer, *recurrent):
        t = model["training"]
        assert t["tokens_per_s"] == pytest.approx(t["target_tokens"] / t["seconds"])
        assert t["gflop_per_s"] == pytest.approx(t["gflop_per_step"] * t["steps"] / t["seconds"])
        assert t["fraction_of_peak"] == pytest.approx(t["gflop_per_s"] / t["peak_gflop_per_s"])
        assert t["gflop_per_step"] > 0
    # the FLOP formula stated in realistic_train.py is what FlopCounterMode counts
    t = transformer["training"]
    assert t["gflop_per_step"] == pytest.approx(t["analytic_gflop_per_step"], rel=1e-9)
    assert all("decoding" not in r for r in recurrent)
