"""What a newcomer meets first: an empty config, and every shipped config before its data exists
(the error names the command that makes the data; nothing is written)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from attnlab.config import Config
from tests.conftest import assert_one_line_error

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "{}\n"], ids=["empty", "comments", "{}"])
def test_config_check_on_an_empty_file_prints_the_defaults_and_says_so(
    tmp_path: Path, cli, text: str, figures: Counter[str]
) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("config", "check", path)
    assert result.code == 0
    assert Config.model_validate(yaml.safe_load(result.out)) == Config()
    assert result.err == (
        f"attnlab: note: {path}: the file sets nothing; every value shown is a default "
        "(training needs data.dir or data.train/dev/test)\n"
    )
    assert cli("config", "check", path, "--set", "model.hidden_size=8").err == result.err
    figures["bad inputs: first steps"] += 1


def test_a_config_that_sets_something_gets_no_note(tmp_path: Path, cli) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("model:\n  hidden_size: 8\n", encoding="utf-8")
    assert cli("config", "check", path).err == ""


@pytest.mark.parametrize("config", CONFIGS, ids=[p.stem for p in CONFIGS])
@pytest.mark.parametrize("command", ["model summary", "train"])
def test_before_its_data_exists_a_shipped_config_says_which_command_makes_it(
    tmp_path: Path,
    cli,
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    command: str,
    figures: Counter[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # a fresh clone: no data/ yet
    folder = Path(yaml.safe_load(config.read_text(encoding="utf-8"))["data"]["dir"])
    result = cli(*command.split(), config)
    assert_one_line_error(
        result,
        f"{folder}/train.src: no such file",
        f"run: attnlab data make {folder.name} --out {folder}",
    )
    assert list(tmp_path.iterdir()) == []  # no run folder, no data folder
    figures["bad inputs: first steps"] += 1


def test_after_data_make_the_summary_works(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = next(
        p for p in CONFIGS if p.name == "gru-bahdanau.yaml" and p.parent.name == "configs"
    )
    made = cli("data", "make", "reverse", "--out", "data/reverse", "--n-train", "50")
    assert made.code == 0, made.err
    result = cli("model", "summary", config)
    assert result.code == 0 and "parameters" in result.out.lower(), result
