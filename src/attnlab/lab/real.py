"""What the lab's real-language runs share: the corpus recipes, models reused from
`attnlab train`, and the floor below which a figure is not evidence.

Recipes. A real-language model of family F on corpus C is configured by the repository's
`configs/<C>/<F>.yaml` (the tuned recipe, for an hour of training) when that file exists, or for
a budget of minutes on one thread (`--budget full`) by `configs/<C>/short/<F>.yaml`, the recipe
chosen on dev for that budget, where there is one; the lab then only points it at
its own data folder and sets the seed, the step budget and one thread. Without the file the lab
falls back to its own small preset for that model, and every result names which of the two
trained it (`Recipe.describe`).

Reuse (`attnlab lab --reuse DIR`). A model already trained with `attnlab train` into
DIR/<C>/<run>/ (best.pt, else last.pt) is measured instead of being trained again, where <run>
is the family, then `-30` for a model trained on sources of at most 30 words, then `-seed2`
etc. for a seed other than the first: e.g. DIR/bible-en-fr/gru-bahdanau/best.pt,
DIR/bible-en-fr/gru-fixed-30-seed2/best.pt, DIR/nt-en-grc/transformer/best.pt (the reverse
direction of nt-grc-en). A run without a checkpoint there is trained as usual.

Budgets. A real-language model trains for a number of steps (`--budget test`) or, in
`--budget full`, for a number of wall-clock minutes (`training.max_minutes`, the cosine decaying
over them), so that the lab's duration does not depend on how fast the machine steps
(`TrainingBudget`).

The floor. A real-language row whose BLEU is below FLOOR_BLEU comes from a model that has not
learned to translate; its figures are kept in results.json with "evidence": false, and the
report shows them greyed, never as evidence for or against a claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import attnlab
from attnlab.config import Config, apply_overrides, load_config, read_yaml, validate
from attnlab.errors import UserError

FLOOR_BLEU = 5.0  # test (or dev) BLEU below this: not trained enough (NOT_TRAINED_ENOUGH)
NOT_TRAINED_ENOUGH = (
    "not trained enough: a longer budget, or `--reuse DIR` with models trained for an hour by the "
    "corpus recipes"
)
CORPUS_NAMES = {
    "translation": "the synthetic translation task",
    "bible-en-fr": "the English->French Bible",
    "nt-grc-en": "the Greek->English New Testament",
    "nt-en-grc": "the English->Greek New Testament",
}
REAL_CORPORA = ("bible-en-fr", "nt-grc-en", "nt-en-grc")
# lab model name -> the file stem of its recipe in configs/<corpus>/ and of its reuse folder
FAMILIES = {
    "GRU fixed": "gru-fixed",
    "GRU+Bahdanau": "gru-bahdanau",
    "LSTM+Luong": "lstm-luong",
    "LSTM fixed": "lstm-fixed",
    "Transformer": "transformer",
}


@dataclass(frozen=True)
class TrainingBudget:
    """How long the lab trains one real-language model: `steps`, or, with `minutes`, a wall-clock
    budget that `steps` only bounds. No steps: the models come only from --reuse."""

    steps: int
    minutes: float | None = None
    recipes: str = ""  # a folder of configs/<corpus>/ whose recipes suit this budget, tried first

    def __bool__(self) -> bool:
        return self.steps > 0

    def overrides(self) -> list[str]:
        """What a time budget adds to the lab's step settings (`lab.common.lab_training`)."""
        if self.minutes is None:
            return []
        return [f"training.max_minutes={self.minutes}", "training.log_every=50"]

    def describe(self) -> str:
        return f"{self.minutes:g} minutes" if self.minutes is not None else f"{self.steps:,} steps"


# --budget full: each real-language run's wall clock, so that the 8 Bible runs of `length` on one
# core, and the 4 NT runs of `alignment` then the 4 Bible runs of `reversal` on the other, end
# within the two hours of the budget (tests/lab/test_real.py checks the plan)
FULL_BUDGET = TrainingBudget(100_000, minutes=9, recipes="short")


def evidence(bleu: float | None) -> bool:
    """Whether a real-language figure of a model with this BLEU may count as a measurement."""
    return bleu is not None and bleu >= FLOOR_BLEU


def repository_configs() -> Path:
    """The configs/ folder of the installed repository (src/attnlab -> ../../configs)."""
    return Path(attnlab.__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class Recipe:
    """How one real-language model is configured: a corpus config file, or (None) the lab's
    preset overrides alone."""

    corpus: str  # the corpus whose recipes apply (nt-grc-en for both NT directions)
    model: str
    folder: Path  # configs/<corpus>/
    name: str | None  # the recipe file's path under `folder`; None: the preset
    preset: tuple[str, ...]

    @property
    def file(self) -> Path | None:
        return None if self.name is None else self.folder / self.name

    def describe(self) -> str:
        if self.name is not None:
            return f"configs/{self.corpus}/{self.name}"
        return f"lab preset (configs/{self.corpus}/{FAMILIES[self.model]}.yaml not found)"

    def config(self, lab_overrides: list[str]) -> Config:
        """The recipe with the lab's data folder (`data.dir` in `lab_overrides`), seed and
        budget on top; the recipe's own data paths are dropped."""
        if self.file is None:
            return load_config(None, [*self.preset, *lab_overrides])
        raw = read_yaml(self.file)
        if not isinstance(raw, dict):
            raise UserError(str(self.file), "a config must be a mapping of sections")
        data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
        raw["data"] = {k: v for k, v in data.items() if k not in ("dir", "train", "dev", "test")}
        return validate(apply_overrides(raw, lab_overrides), str(self.file))


def recipe(
    corpus: str,
    model: str,
    preset: list[str],
    configs: Path | None = None,
    budget: TrainingBudget | None = None,
) -> Recipe:
    """The corpus config of `model` if the repository has one (the one in the budget's
    `recipes` folder first), else the lab's `preset`."""
    recipe_corpus = "nt-grc-en" if corpus == "nt-en-grc" else corpus  # one recipe, two directions
    folder = (configs or repository_configs()) / recipe_corpus
    names = [f"{FAMILIES[model]}.yaml"]
    if budget is not None and budget.recipes:
        names.insert(0, f"{budget.recipes}/{names[0]}")
    found = next((name for name in names if (folder / name).is_file()), None)
    return Recipe(recipe_corpus, model, folder, found, tuple(preset))


def run_name(model: str, train_max: int | None = None, seed: int = 1) -> str:
    """The folder name of one run: family[-train_max][-seedN] (see the module docstring)."""
    name = FAMILIES[model]
    if train_max is not None:
        name += f"-{train_max}"
    if seed != 1:
        name += f"-seed{seed}"
    return name


def reused_checkpoint(reuse: Path | None, corpus: str, run: str) -> Path | None:
    """DIR/<corpus>/<run>/best.pt (else last.pt) when `--reuse DIR` holds it, else None."""
    if reuse is None:
        return None
    for file in ("best.pt", "last.pt"):
        path = reuse / corpus / run / file
        if path.is_file():
            return path
    return None
