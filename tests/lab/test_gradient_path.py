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
