"""benchmarks/ablation.py: which runs it plans, how its table compares rows with the recipe
(hand-worked), and a tiny ablation end to end from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_reverse_task

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import ablation  # noqa: E402


def test_headline_rows_get_every_seed_the_others_the_first() -> None:
    runs = ablation.plan(["recipe", "no word dropout"], [1, 2, 3], ["recipe"])
    assert runs == [("recipe", 1), ("recipe", 2), ("recipe", 3), ("no word dropout", 1)]


def _run(row: str, seed: int, dev: float) -> dict:
    return {
        "row": row,
        "seed": seed,
        "switches": ablation.ROWS[row],
        "best_dev_bleu": dev,
        "averaged_dev_bleu": None,
        "steps": 10,
        "parameters": 5,
    }


def test_a_row_is_compared_with_the_recipe_on_the_seeds_both_ran() -> None:
    runs = [
        _run("recipe", 1, 20.0),
        _run("recipe", 2, 22.0),
        _run("no word dropout", 1, 18.5),
        _run("no label smoothing", 1, 19.0),
        _run("no label smoothing", 2, 23.0),
    ]
    rows = {r["row"]: r for r in ablation.table(runs)}
    assert rows["recipe"]["mean_dev_bleu"] == 21.0 and rows["recipe"]["delta_vs_recipe"] is None
    # seed 1 only: 18.5 - 20.0, not against the recipe's two-seed mean (21.0)
    assert rows["no word dropout"]["delta_vs_recipe"] == pytest.approx(-1.5)
    # ((19 - 20) + (23 - 22)) / 2
    assert rows["no label smoothing"]["delta_vs_recipe"] == pytest.approx(0.0)
    assert rows["no label smoothing"]["dev_bleu"] == {1: 19.0, 2: 23.0}


def test_a_tiny_ablation_runs_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_reverse_task(data, n_train=200, n_eval=10)
    config = tmp_path / "tiny.yaml"
    config.write_text(
        f"data:\n  dir: {data}\nmodel:\n  type: rnn\n  cell: gru\n  context: bahdanau\n"
        "  embedding_size: 16\n  hidden_size: 16\n  word_dropout: 0.1\n"
        "training:\n  max_steps: 3\n  eval_every: 1\n  batch_tokens: 200\n"
        "  keep_last: 2\n  average_last: 2\n",
        encoding="utf-8",
    )
    out = tmp_path / "ablation.json"
    rows = ["recipe", "no word dropout"]
    command = [sys.executable, str(ROOT / "benchmarks" / "ablation.py"), str(config)]
    command += ["--minutes", "5", "--seeds", "1", "2", "--rows", *rows, "--json", str(out)]
    command += ["--runs", str(tmp_path / "runs")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [(r["row"], r["seed"]) for r in report["runs"]] == [
        ("recipe", 1),
        ("recipe", 2),
        ("no word dropout", 1),
    ]
    assert {r["row"] for r in report["rows"]} == set(rows)
    for run in report["runs"]:
        assert run["steps"] == 3 and run["config"]["training"]["num_threads"] == 1
        assert run["config"]["training"]["seed"] == run["seed"]
    by_row = {r["row"]: r for r in report["runs"]}
    assert by_row["no word dropout"]["config"]["model"]["word_dropout"] == 0.0
    assert report["runs"][0]["config"]["model"]["word_dropout"] == 0.1
    assert "| no word dropout | 1 |" in done.stdout
    # again, a second seed for a row: the finished runs are read, not trained again
    best = tmp_path / "runs" / "tiny-recipe-seed1" / "best.pt"
    written = best.stat().st_mtime_ns
    done = subprocess.run([*command, "--headline", "recipe", "no word dropout"], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    again = json.loads(out.read_text())
    assert len(again["runs"]) == 4 and best.stat().st_mtime_ns == written
    assert again["runs"][:3] == report["runs"]


def test_a_run_is_finished_once_its_log_ends_with_the_averaging(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert not ablation.finished(run)  # no folder
    run.mkdir()
    log = run / "log.jsonl"
    log.write_text('{"kind": "train"}\n{"kind": "dev"}\n', encoding="utf-8")
    assert not ablation.finished(run)  # killed, or still training
    log.write_text('{"kind": "dev"}\n{"kind": "average"}\n', encoding="utf-8")
    assert ablation.finished(run)
