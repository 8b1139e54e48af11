"""The lab runner: experiment registration, results.json, the report, folder safety, failures,
and the command line, with tiny fake experiments instead of real training."""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from rich.progress import Progress

import attnlab.lab as lab
from attnlab.errors import AttnlabError, UserError
from attnlab.lab.common import LabProgress, last_step, preset
from attnlab.lab.workers import QueueProgress, _replay, worker_plan
from attnlab.report.figures import line_plot
from tests.conftest import assert_one_line_error

RUNNER_FIELDS = {
    "name",
    "title",
    "budget",
    "seed",
    "config",
    "versions",
    "seconds",
    "started_at",
    "finished_at",
    "machine",
}


def _fake(name: str, value: float, fail: bool = False) -> types.ModuleType:
    """An experiment module that plots one line, or raises when `fail`."""
    module = types.ModuleType(name)
    module.NAME = name
    module.TITLE = f"claim of {name}"
    calls: list[str] = []

    def run(budget: str, out: Path, progress: LabProgress) -> dict[str, Any]:
        calls.append(budget)
        bar = progress.task(f"{name} work", 2)
        bar.advance(2)
        if fail:
            raise RuntimeError("boom")
        line_plot(out / "plot.png", [1, 2], {"a": [value, value]}, "x", "y", name)
        return {
            "figures": [{"file": "plot.png", "caption": f"{name} plot"}],
            "tables": [{"caption": "t", "columns": ["k", "v"], "rows": [["v", value]]}],
            "metrics": {"value": value},
            "expected": "a value",
            "reading": f"{name} measured {value}.",
            "config": {"value": value},
        }

    module.run = run
    module.calls = calls
    return module


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, types.ModuleType]:
    modules = {"one": _fake("one", 1.5), "two": _fake("two", 2.5), "bad": _fake("bad", 0, True)}
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, f"fake_lab_{name}", module)
    registry = {name: f"fake_lab_{name}" for name in modules}
    monkeypatch.setattr(lab, "EXPERIMENTS", registry)
    # one at a time, in this process: the fake modules exist only in this process's sys.modules
    monkeypatch.setattr(lab, "worker_plan", lambda n_experiments, jobs: (1, 1))
    return modules


def test_run_writes_results_with_runner_fields_and_report(fakes, tmp_path: Path) -> None:
    report = lab.run_lab(["one", "two"], "quick", tmp_path / "out")
    assert report == tmp_path / "out" / "report.html"
    record = json.loads((tmp_path / "out" / "one" / "results.json").read_text())
    assert set(record) >= RUNNER_FIELDS
    assert record["name"] == "one" and record["title"] == "claim of one"
    assert record["budget"] == "quick" and record["config"] == {"value": 1.5}
    assert record["metrics"] == {"value": 1.5} and record["seconds"] >= 0
    assert "torch" in record["versions"] and "cpu_count" in record["machine"]
    assert (tmp_path / "out" / "two" / "plot.png").exists()
    text = report.read_text()
    assert text.count("data:image/png;base64,") == 2
    assert "one measured 1.5." in text and "two measured 2.5." in text
    assert fakes["bad"].calls == []  # only the named experiments ran


def test_unknown_experiment_or_budget_names_the_choices(fakes, tmp_path: Path, cli) -> None:
    result = cli("lab", "nope", "--out", tmp_path / "o")
    assert_one_line_error(result, "EXPERIMENT", "'nope'", "one, two, bad")
    result = cli("lab", "one", "--budget", "huge", "--out", tmp_path / "o")
    assert_one_line_error(result, "--budget", "'huge'", "quick, full")
    assert not (tmp_path / "o").exists()


def test_cli_runs_and_reports(fakes, tmp_path: Path, cli) -> None:
    result = cli("lab", "one", "--out", tmp_path / "o")
    assert result.code == 0, result.err
    assert (tmp_path / "o" / "report.html").exists()
    (tmp_path / "o" / "report.html").unlink()
    result = cli("report", tmp_path / "o")
    assert result.code == 0 and "report.html" in result.out
    assert (tmp_path / "o" / "report.html").exists()


def test_refuses_a_folder_with_user_files(fakes, tmp_path: Path, cli) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = cli("lab", "one", "--out", tmp_path)
    assert_one_line_error(result, "--out", "not written by `attnlab lab`")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "one").exists()


def test_rerun_replaces_only_that_experiments_folder(fakes, tmp_path: Path) -> None:
    out = tmp_path / "o"
    lab.run_lab(["one", "two"], "quick", out)
    (out / "one" / "stale.txt").write_text("old")
    two_before = (out / "two" / "results.json").read_text()
    sys.modules["fake_lab_one"].run = _fake("one", 9.0).run
    lab.run_lab(["one"], "quick", out)
    assert json.loads((out / "one" / "results.json").read_text())["metrics"]["value"] == 9.0
    assert not (out / "one" / "stale.txt").exists()
    assert (out / "two" / "results.json").read_text() == two_before
    assert "two measured 2.5." in (out / "report.html").read_text()  # the report keeps both


def test_failed_experiment_keeps_old_results_and_others_run(fakes, tmp_path: Path, cli) -> None:
    out = tmp_path / "o"
    lab.run_lab(["one"], "quick", out)
    sys.modules["fake_lab_one"].run = _fake("one", 0, fail=True).run
    result = cli("lab", "one", "two", "--out", out)
    assert result.code == 1
    assert result.err.strip().splitlines()[-1].startswith("attnlab: error: lab: one failed")
    assert "Traceback" not in result.err
    assert json.loads((out / "one" / "results.json").read_text())["metrics"]["value"] == 1.5
    assert (out / "two" / "results.json").exists()
    assert not list(out.glob(".*.partial"))


def test_result_without_reading_is_an_error(fakes, tmp_path: Path) -> None:
    def run(budget: str, out: Path, progress: LabProgress) -> dict[str, Any]:
        return {"figures": [], "tables": [], "metrics": {}, "expected": ""}

    sys.modules["fake_lab_one"].run = run
    with pytest.raises(AttnlabError, match="one failed; no report written"):
        lab.run_lab(["one"], "quick", tmp_path / "o")


def test_preset_and_last_step(tmp_path: Path) -> None:
    assert preset({"quick": 1, "full": 2}, "full") == 2
    with pytest.raises(UserError, match="quick, full"):
        preset({"quick": 1, "full": 2}, "huge")
    log = tmp_path / "log.jsonl"
    assert last_step(log) is None
    log.write_text('{"step": 20, "kind": "train"}\n{"step": 40, "kind": "dev"}\n{"step": 6')
    assert last_step(log) == 40  # the half-written last line is skipped


def test_experiments_run_side_by_side_in_worker_processes(tmp_path: Path, monkeypatch) -> None:
    fake = "tests.lab.fake_experiment"  # importable by the spawned workers
    monkeypatch.setattr(lab, "EXPERIMENTS", {"one": fake, "two": fake})
    report = lab.run_lab(["one", "two"], "quick", tmp_path / "out", jobs=2)
    pids = [
        json.loads((tmp_path / "out" / name / "results.json").read_text())["metrics"]["pid"]
        for name in ("one", "two")
    ]
    assert os.getpid() not in pids  # neither ran in this process
    assert len(set(pids)) == 2  # at the same time (fake_experiment waits for it), so two workers
    assert report.read_text().count("ran in process") == 2


def test_a_workers_progress_calls_reach_the_parents_bars() -> None:
    sink: queue.Queue = queue.Queue()
    remote = QueueProgress(sink, "length")
    kept, dropped = remote.add_task("train", 10), remote.add_task("scratch", 1)
    remote.add_task("length: models trained", 4)  # already named: not prefixed twice
    remote.advance(kept, 3)
    remote.update(kept, completed=7)
    remote.remove_task(dropped)
    bars = Progress(disable=True)
    stop = threading.Event()
    stop.set()  # replay what is queued, then return
    _replay(sink, bars, stop)
    task, named = bars.tasks
    assert task.description == "length: train" and task.total == 10 and task.completed == 7
    assert named.description == "length: models trained"


@pytest.mark.parametrize(
    ("cores", "experiments", "jobs", "plan"),
    [(2, 6, None, (2, 1)), (16, 6, None, (6, 2)), (2, 1, None, (1, 2)), (16, 6, 1, (1, 16))],
)
def test_worker_plan_uses_every_core(monkeypatch, cores, experiments, jobs, plan) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert worker_plan(experiments, jobs) == plan


def test_ctrl_c_is_one_line_and_exit_status_130(fakes, tmp_path: Path, cli, monkeypatch) -> None:
    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "run_lab", interrupted)
    result = cli("lab", "one", "--out", tmp_path / "o")
    assert result.code == 130
    assert result.err.strip().splitlines()[-1] == "attnlab: error: interrupted"
    assert "Traceback" not in result.err
