"""gradient-path on the seconds-long "test" preset: the documented keys, the PNGs, the numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from attnlab.errors import UserError
from attnlab.lab import gradient_path
from attnlab.lab.common import LabProgress


def test_run_on_the_test_preset_writes_figures_and_documented_keys(tmp_path: Path) -> None:
    result = gradient_path.run("test", tmp_path, LabProgress(None))
    assert {"figures", "tables", "metrics", "expected", "reading", "config"} <= set(result)
    for figure in result["figures"]:
        assert (tmp_path / figure["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    src_len = gradient_path.BUDGETS["test"].src_len
    profiles = result["metrics"]["profiles"]
    assert set(profiles) == set(gradient_path.MODELS)
    for name, by_state in profiles.items():
        for g in by_state.values():
            assert len(g) == src_len and all(v > 0 and math.isfinite(v) for v in g)
        assert result["metrics"]["decay"][name] == pytest.approx(
            by_state["trained"][-1] / by_state["trained"][0]
        )
    table = result["tables"][0]
    assert len(table["rows"]) == 2 * len(gradient_path.MODELS)
    assert all(len(row) == len(table["columns"]) for row in table["rows"])
    json.dumps(result)  # results.json must be able to hold it


def test_unknown_budget_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="budget"):
        gradient_path.run("huge", tmp_path, LabProgress(None))


def test_decay_per_step_of_a_geometric_profile() -> None:
    assert gradient_path.decay_per_step([2.0 * 0.5**k for k in range(6)]) == pytest.approx(0.5)
    assert gradient_path.far_near_ratio([8.0, 8.0, 4.0, 1.0, 1.0, 1.0, 2.0, 2.0]) == 0.25


def _model(init_far_near: float, trained_far_near: float, loss: float) -> dict[str, float]:
    return {
        "init_far_near": init_far_near,
        "trained_far_near": trained_far_near,
        "init_decay_per_step": 1.0 if init_far_near > 0.5 else 0.6,
        "trained_decay_per_step": 0.9,
        "final_train_loss": loss,
    }


def test_findings_explain_curves_that_differ_from_the_expectation_by_this_runs_numbers() -> None:
    # a fixed-context GRU that has not learned (loss 3.41 > 5 x 0.077), a Transformer aligned
    metrics = {
        "Elman": _model(6e-10, 0.0, 3.51),
        "LSTM": _model(3.9e-7, 8.9e-5, 3.45),
        "GRU": _model(4.4e-7, 2.1, 3.41),
        "GRU+attention": _model(1.1, 0.27, 0.077),
        "Transformer": _model(1.06, 0.1 - 1e-3, 0.25),
    }
    assert gradient_path.findings(metrics) == {
        "Elman": "as expected",
        "LSTM": "as expected",
        "GRU": "unlearned",
        "GRU+attention": "as expected",
        "Transformer": "aligned",
    }
    # a fixed-context model that did learn and still does not decay is a real surprise, and so
    # is an attention model that decays after training though it decayed at init already
    metrics["GRU"]["final_train_loss"] = 0.1
    metrics["Transformer"]["init_far_near"] = 0.2
    found = gradient_path.findings(metrics)
    assert (found["GRU"], found["Transformer"]) == ("against", "against")


def test_verdict_compares_the_transformer_with_the_recurrent_models() -> None:
    [v] = gradient_path.verdicts({"Elman": 1e-4, "LSTM": 0.01, "Transformer": 0.9})
    assert (v["question"], v["holds"], v["real"]) == ("transformer", "yes", False)
    assert gradient_path.verdicts({"LSTM": 0.95, "Transformer": 0.9})[0]["holds"] == "no"
    assert gradient_path.verdicts({"Transformer": 0.9}) == []
