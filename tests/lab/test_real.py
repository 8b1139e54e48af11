"""lab.real: the corpus recipe or the named fallback, run folder names, reused checkpoints, and
the floor; `attnlab lab --reuse` refuses a folder that does not exist."""

from __future__ import annotations

from pathlib import Path

from attnlab.lab import alignment, length, real, reversal
from attnlab.lab.common import lab_training
from tests.conftest import assert_one_line_error


def test_recipe_reads_the_corpus_config_and_keeps_the_labs_data(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    (configs / "bible-en-fr").mkdir(parents=True)
    (configs / "bible-en-fr" / "gru-bahdanau.yaml").write_text(
        "data:\n  train: somewhere/train\n  dev: somewhere/dev\n  lowercase: true\n"
        "model:\n  context: bahdanau\n  hidden_size: 48\ntraining:\n  lr: 0.0007\n"
    )
    found = real.recipe("bible-en-fr", "GRU+Bahdanau", ["model.hidden_size=8"], configs)
    assert found.describe() == "configs/bible-en-fr/gru-bahdanau.yaml"
    config = found.config([f"data.dir={tmp_path / 'lab-data'}", "training.seed=2"])
    assert config.data.dir == tmp_path / "lab-data" and config.data.train is None
    assert config.data.lowercase and config.model.hidden_size == 48  # the recipe, not the preset
    assert config.training.lr == 0.0007 and config.training.seed == 2
    # no recipe: the preset, and the description says so
    fallback = real.recipe("bible-en-fr", "GRU fixed", ["model.hidden_size=8"], configs)
    assert fallback.file is None and "gru-fixed.yaml not found" in fallback.describe()
    assert fallback.config([f"data.dir={tmp_path}"]).model.hidden_size == 8
    # the reverse direction of the NT shares the nt-grc-en recipe
    (configs / "nt-grc-en").mkdir()
    (configs / "nt-grc-en" / "transformer.yaml").write_text("model:\n  type: transformer\n")
    reverse = real.recipe("nt-en-grc", "Transformer", [], configs)
    assert reverse.describe() == "configs/nt-grc-en/transformer.yaml"


def test_a_time_budget_takes_its_short_recipe_first(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    (configs / "bible-en-fr" / "short").mkdir(parents=True)
    (configs / "bible-en-fr" / "gru-fixed.yaml").write_text("model:\n  hidden_size: 256\n")
    (configs / "bible-en-fr" / "short" / "gru-fixed.yaml").write_text("model:\n  hidden_size: 96\n")
    short = real.TrainingBudget(100_000, 9, recipes="short")
    found = real.recipe("bible-en-fr", "GRU fixed", [], configs, short)
    assert found.describe() == "configs/bible-en-fr/short/gru-fixed.yaml"
    assert found.config([f"data.dir={tmp_path}"]).model.hidden_size == 96
    # a step budget, or a family without a short recipe: the hour recipe
    hour = real.recipe("bible-en-fr", "GRU fixed", [], configs, real.TrainingBudget(40))
    assert hour.describe() == "configs/bible-en-fr/gru-fixed.yaml"
    (configs / "bible-en-fr" / "gru-bahdanau.yaml").write_text("model:\n  context: bahdanau\n")
    other = real.recipe("bible-en-fr", "GRU+Bahdanau", [], configs, short)
    assert other.describe() == "configs/bible-en-fr/gru-bahdanau.yaml"
    assert real.FULL_BUDGET.recipes == "short"


def test_run_names_and_reused_checkpoints(tmp_path: Path) -> None:
    assert real.run_name("GRU fixed") == "gru-fixed"
    assert real.run_name("GRU+Bahdanau", 30, 2) == "gru-bahdanau-30-seed2"
    assert real.reused_checkpoint(None, "bible-en-fr", "gru-fixed") is None
    run = tmp_path / "bible-en-fr" / "gru-fixed"
    run.mkdir(parents=True)
    assert real.reused_checkpoint(tmp_path, "bible-en-fr", "gru-fixed") is None
    (run / "last.pt").write_bytes(b"x")
    assert real.reused_checkpoint(tmp_path, "bible-en-fr", "gru-fixed") == run / "last.pt"
    (run / "best.pt").write_bytes(b"x")
    assert real.reused_checkpoint(tmp_path, "bible-en-fr", "gru-fixed") == run / "best.pt"


def test_floor() -> None:
    assert not real.evidence(None) and not real.evidence(real.FLOOR_BLEU - 0.01)
    assert real.evidence(real.FLOOR_BLEU) and real.evidence(30.0)


def test_cli_reuse_must_be_a_folder(tmp_path: Path, cli) -> None:
    result = cli("lab", "length", "--out", tmp_path / "out", "--reuse", tmp_path / "nowhere")
    assert_one_line_error(result, "--reuse", "nowhere")


def test_training_budget_in_steps_or_minutes(tmp_path: Path) -> None:
    steps, timed, none = (
        real.TrainingBudget(40),
        real.TrainingBudget(100_000, 9),
        real.TrainingBudget(0),
    )
    assert steps and timed and not none
    assert steps.overrides() == [] and steps.describe() == "40 steps"
    assert timed.describe() == "9 minutes"
    recipe = real.recipe("bible-en-fr", "GRU fixed", ["model.hidden_size=8"], tmp_path)
    config = recipe.config(
        [f"data.dir={tmp_path}", *lab_training(tmp_path, timed.steps, 1), *timed.overrides()]
    )
    assert config.training.max_minutes == 9 and config.training.max_steps == 100_000
    assert config.training.eval_every == 100_000  # one evaluation, when the time ends the run
    assert config.training.log_every == 50


def test_full_budget_real_trainings_fit_two_hours_on_two_cores() -> None:
    """The full lab's real-language runs, at one thread each: `length` on one core, `alignment`
    (both NT directions of each family) then `reversal` (two settings, two seeds) on the other;
    each core keeps at least 15 minutes for the synthetic models, the decoding and the data."""
    p_length, p_align = length.PRESETS["full"], alignment.PRESETS["full"]
    p_reversal = reversal.PRESETS["full"]
    first_core = len(p_length.bible_runs) * p_length.bible.minutes
    second_core = (
        2 * len(p_align.nt.models) * p_align.nt.budget.minutes
        + 2 * len(p_reversal.bible_seeds) * p_reversal.bible.minutes
    )
    assert max(first_core, second_core) <= 120 - 15
