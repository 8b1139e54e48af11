"""benchmarks/step_ops.py: ops are counted per decoding step, inside the step and outside it;
the fast Transformer's step dispatches fewer than the reference's; the command writes its JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from attnlab.config import ModelConfig
from tests.benchmark_runs import run_benchmark
from tests.models.kernels import build_pair

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import step_ops  # noqa: E402


def test_the_fast_step_dispatches_fewer_ops_than_the_reference_step() -> None:
    cfg = ModelConfig(
        type="transformer", hidden_size=16, heads=2, ff_size=32, num_layers=2, dropout=0.0
    )
    reference, fast = build_pair(cfg, 50, 50, seed=1)
    torch.manual_seed(0)
    for search in ("greedy", "beam5"):
        ours = step_ops.count_ops(fast, search, 50)
        theirs = step_ops.count_ops(reference, search, 50)
        assert ours["steps"] == theirs["steps"] >= 1  # the same translations, step for step
        assert 0 < ours["ops_in_step"] < theirs["ops_in_step"]
        assert ours["ops_outside_step"] > 0  # search's bookkeeping and the encoder


def test_the_command_prints_and_writes_both_searches(tmp_path: Path) -> None:
    args = ["--d-model", "16", "--heads", "2", "--ff", "32", "--layers", "1", "--vocab", "60"]
    report = run_benchmark("step_ops.py", args, tmp_path / "ops.json")
    assert report["benchmark"] == "step_ops" and report["model"]["hidden_size"] == 16
    assert set(report["results"]) == {"greedy", "beam5"}
    assert all(r["ops_in_step"] > 0 for r in report["results"].values())
