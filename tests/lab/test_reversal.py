"""The `reversal` experiment: mean and spread over seeds by hand, the reading's verdicts, and a
micro run that produces the documented result keys."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from attnlab.lab import reversal
from attnlab.lab.common import LabProgress


def test_summary_is_mean_and_sample_standard_deviation() -> None:
    runs = [{"dev_ppl": 4.0, "bleu": 10.0}, {"dev_ppl": 6.0, "bleu": 20.0}]
    summary = reversal._summary(runs)
    assert summary["ppl_mean"] == 5.0 and summary["bleu_mean"] == 15.0
    assert math.isclose(summary["ppl_std"], math.sqrt(2.0))  # ((1 + 1) / (2 - 1)) ** 0.5
    assert math.isclose(summary["bleu_std"], math.sqrt(50.0))
    assert reversal._summary(runs[:1])["ppl_std"] == 0.0


def _summary(ppl: tuple[float, float], bleu: tuple[float, float], std: float) -> dict:
    return {
        name: {"ppl_mean": p, "ppl_std": std, "bleu_mean": b, "bleu_std": std}
        for name, p, b in zip(("forward", "reversed"), ppl, bleu, strict=True)
    }


def test_outcome_says_whether_reversal_helped() -> None:
    def outcome(ppl: tuple[float, float], bleu: tuple[float, float], std: float) -> tuple:
        found = reversal.outcome(_summary(ppl, bleu, std))
        return found["learned"], found["ppl_helped"], found["bleu_helped"], found["beyond_spread"]

    # Sutskever et al.'s figures: both measures, by 1.1 > 0.1 + 0.1 of spread
    assert outcome((5.8, 4.7), (25.9, 30.6), 0.1) == (True, True, True, True)
    assert outcome((5.8, 4.7), (25.9, 30.6), 1.0) == (True, True, True, False)  # 1.1 < 2.0
    assert outcome((4.7, 5.8), (30.6, 25.9), 0.1) == (True, False, False, True)
    assert outcome((5.8, 4.7), (30.6, 25.9), 0.1) == (True, True, False, True)  # one measure
    assert outcome((28.7, 26.2), (0.1, 0.2), 0.5)[0] is False  # BLEU below 5 either way


def test_micro_run_produces_the_documented_keys(tmp_path: Path) -> None:
    result = reversal.run("test", tmp_path, LabProgress(None))
    metrics = result["metrics"]
    seeds = list(reversal.PRESETS["test"].seeds)
    for setting in ("forward", "reversed"):
        assert [r["seed"] for r in metrics["runs"][setting]] == seeds
        ppl = [r["dev_ppl"] for r in metrics["runs"][setting]]
        assert math.isclose(metrics["summary"][setting]["ppl_mean"], sum(ppl) / len(ppl))
        assert all(
            math.isclose(r["dev_ppl"], math.exp(r["dev_loss"])) for r in metrics["runs"][setting]
        )
    gain = metrics["summary"]["forward"]["ppl_mean"] - metrics["summary"]["reversed"]["ppl_mean"]
    assert math.isclose(metrics["ppl_gain"], gain)
    assert metrics["outcome"] == reversal.outcome(metrics["summary"])
    assert [f["file"] for f in result["figures"]] == ["perplexity.png", "bleu.png"]
    assert all((tmp_path / f["file"]).exists() for f in result["figures"])
    assert result["tables"][0]["columns"][1:3] == ["seed 1", "seed 2"]
    assert "bible-en-fr" not in metrics and len(result["verdicts"]) == 1


@pytest.mark.slow
def test_bible_runs_both_settings_and_stay_below_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = dataclasses.replace(reversal.PRESETS["test"], seeds=(1,), bible_seeds=(1,))
    monkeypatch.setitem(reversal.PRESETS, "test", tiny)
    result = reversal.run("test", tmp_path, LabProgress(None))
    bible = result["metrics"]["bible-en-fr"]
    assert [r["seed"] for r in bible["runs"]["reversed"]] == [1]
    assert all(
        math.isclose(r["dev_ppl"], math.exp(r["dev_loss"]))
        for rs in bible["runs"].values()
        for r in rs
    )
    # two steps: below the floor, greyed, and no evidence in the verdict
    assert not bible["evidence"] and result["tables"][1]["greyed"] == [0, 1]
    assert [(v["corpus"], v["evidence"]) for v in result["verdicts"]] == [
        ("translation", True),
        ("bible-en-fr", False),
    ]


def _measured(forward: float, reversed_: float, spread: float) -> dict:
    return {
        "runs": {"forward": [{}, {}]},
        "ppl_gain": forward - reversed_,
        "summary": {
            "forward": {"ppl_mean": forward, "ppl_std": spread, "bleu_mean": 1.0},
            "reversed": {"ppl_mean": reversed_, "ppl_std": spread, "bleu_mean": 2.0},
        },
    }


def test_verdict_weighs_the_gain_against_the_spread_over_seeds() -> None:
    assert (
        reversal.reversal_verdict("bible-en-fr", _measured(5.8, 4.7, 0.1), True)["holds"] == "yes"
    )
    assert reversal.reversal_verdict("x", _measured(5.8, 5.7, 0.1), True)["holds"] == "unclear"
    assert reversal.reversal_verdict("x", _measured(4.7, 5.8, 0.1), True)["holds"] == "no"
