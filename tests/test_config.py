"""Config validation: one line naming the file and dotted key, did-you-mean, --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnlab.config import Config, apply_overrides, load_config
from attnlab.errors import UserError
from tests.conftest import assert_one_line_error


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_validate_and_round_trip_through_yaml(tmp_path: Path) -> None:
    config = Config()
    again = load_config(write(tmp_path, config.to_yaml()))
    assert again == config


def test_overrides_are_typed_and_nested() -> None:
    raw = apply_overrides(
        {}, ["model.hidden_size=64", "training.lr=0.5", "model.bidirectional=false"]
    )
    assert raw == {"model": {"hidden_size": 64, "bidirectional": False}, "training": {"lr": 0.5}}
    assert load_config(None, ["training.lr=3e-4"]).training.lr == pytest.approx(3e-4)
    config = load_config(None, ["model.type=transformer", "model.hidden_size=96", "model.heads=3"])
    assert config.model.hidden_size == 96 and config.model.type == "transformer"


def test_override_beats_file(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  hidden_size: 32\n")
    assert load_config(path, ["model.hidden_size=48"]).model.hidden_size == 48


def test_an_old_lab_section_is_accepted_and_dropped(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text("lab:\n  budget: full\n  seeds: [1, 2]\nmodel:\n  hidden_size: 8\n")
    config = load_config(path, ["lab.budget=quick"])
    assert config.model.hidden_size == 8
    assert "lab" not in config.model_dump() and "lab:" not in config.to_yaml()
    old_checkpoint_config = {**Config().model_dump(mode="json"), "lab": {"budget": "quick"}}
    assert Config.model_validate(old_checkpoint_config) == Config()


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("model:\n  hidden_size: -3\n", [], "model.hidden_size: must be > 0 (got -3)"),
        ("model:\n  hiden_size: 3\n", [], "did you mean 'model.hidden_size'?"),
        ("modle:\n  hidden_size: 3\n", [], "did you mean 'model'?"),
        ("model:\n  type: rnnn\n", [], "model.type: must be one of 'rnn' or 'transformer'"),
        ("training:\n  lr: fast\n", [], "training.lr: input should be a valid number"),
        ("model:\n  dropout: 1.5\n", [], "model.dropout: must be < 1.0 (got 1.5)"),
        ("decoding:\n  n_best: 9\n", [], "decoding.n_best (9) must be <= decoding.beam_size (5)"),
        ("model:\n  type: transformer\n  heads: 3\n", [], "must be divisible by model.heads (3)"),
        ("- a\n- b\n", [], "a config must be a mapping"),
        ("model: 3\n", [], "model: input should be a valid dictionary"),
        ("", ["model.hidden_size=0"], "model.hidden_size: must be > 0 (got 0)"),
        ("", ["model.context=fixd"], "model.context: must be one of"),
        ("data:\n  dir: d\n  train: t\n", [], "give either data.dir or data.train/dev/test"),
    ],
)
def test_bad_configs_give_one_line_naming_file_and_key(
    tmp_path: Path, text: str, overrides: list[str], expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "override", ["model.hidden_size", "=3", "model..x=3", "model.hidden_size.x=3"]
)
def test_malformed_overrides(override: str) -> None:
    with pytest.raises(UserError) as info:
        load_config(None, [override])
    assert "\n" not in str(info.value)


def test_config_check_prints_full_config(cli, tmp_path: Path) -> None:
    result = cli("config", "check", write(tmp_path, "model:\n  hidden_size: 32\n"))
    assert result.code == 0
    printed = load_config(write(tmp_path, result.out))
    assert printed.model.hidden_size == 32 and printed.training == Config().training


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["config", "check", "/nonexistent/x.yaml"], ["/nonexistent/x.yaml: no such file"]),
        (["config", "check", "{tmp}"], ["is a directory"]),
        (["config", "check", "{bad_yaml}"], ["bad.yaml:3: invalid YAML"]),
        (["config", "check", "{bad_utf8}"], ["not valid UTF-8"]),
        (["config", "check", "{ok}", "--set", "model.hidden_size=-1"], ["model.hidden_size"]),
        (["config", "check", "{ok}", "--set", "nonsense"], ["--set", "key.path=value"]),
        (["config", "check", "{ok}", "--bogus"], ["No such option: --bogus"]),
        (["train"], ["Missing argument"]),
        (["translate", "x.pt", "--beam", "0"], ["--beam"]),
        (["nosuchcommand"], ["No such command"]),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(cli, tmp_path: Path, args, fragments) -> None:
    (tmp_path / "bad.yaml").write_text("model:\n  hidden_size: 3\n   cell: gru\n", encoding="utf-8")
    (tmp_path / "bad8.yaml").write_bytes(b"model:\n  cell: \xff\n")
    (tmp_path / "ok.yaml").write_text("model:\n  hidden_size: 32\n", encoding="utf-8")
    names = {
        "tmp": tmp_path,
        "bad_yaml": tmp_path / "bad.yaml",
        "bad_utf8": tmp_path / "bad8.yaml",
        "ok": tmp_path / "ok.yaml",
    }
    result = cli(*[a.format(**names) for a in args])
    assert_one_line_error(result, *fragments)


CONFIG_ROOT = Path(__file__).parent.parent / "configs"
CORPUS_CONFIGS = sorted(CONFIG_ROOT.glob("*/*.yaml"))
SHORT_CONFIGS = sorted(CONFIG_ROOT.glob("*/short/*.yaml"))  # minutes on one thread: the lab's


@pytest.mark.parametrize(
    "path", CORPUS_CONFIGS + SHORT_CONFIGS, ids=lambda p: str(p.relative_to(CONFIG_ROOT))
)
def test_corpus_recipes_validate_read_their_corpus_and_state_their_figures(path: Path) -> None:
    config = load_config(path)
    corpus = path.relative_to(CONFIG_ROOT).parts[0]
    assert config.data.dir == Path("data") / corpus
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
    # an hour recipe states its measured test figures; a short one the dev figures it was chosen by
    figures = "dev BLEU" if path.parent.name == "short" else "test BLEU"
    assert any(figures in line for line in header)


def test_every_corpus_has_its_recipes() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in CORPUS_CONFIGS}
    assert {
        "bible-en-fr/gru-fixed",
        "bible-en-fr/gru-bahdanau",
        "bible-en-fr/lstm-luong",
        "bible-en-fr/transformer",
        "nt-grc-en/gru-bahdanau",
        "nt-grc-en/transformer",
    } <= names
