"""The real-language half of `alignment`: attention of New Testament models against the manual
Greek->English gold alignments shipped with the package (`nt-grc-en`), read the way the
alignment literature reads it, beside classical aligners in the same table.

- Each model family is trained in both directions, Greek->English and English->Greek (the
  corpus recipes `configs/nt-grc-en/<family>.yaml` where they exist, `lab.real`; the same
  recipe serves both directions), or taken from `--reuse DIR` (DIR/nt-grc-en/<family>/,
  DIR/nt-en-grc/<family>/).
- The reference is force-decoded (teacher forcing) and each target piece's attention row read
  two ways: plain (the step that predicts the piece) and Shift-Att (Chen et al. 2020: the step
  whose decoder input is the piece); `attnlab.word_alignment.attention_rows`.
- Each target piece is linked to its most attended source piece, and piece links become word
  links when any piece of the one word is linked to any piece of the other
  (`attnlab.word_alignment.word_links`); the gold links index whitespace words.
- The Transformer's layer (its heads averaged) is chosen per direction and reading on the gold
  dev verses (`dev.align`, never the test verses), as is, for each direction, the reading that
  goes into the symmetrised alignment: grow-diag-final-and (Koehn et al. 2003;
  `attnlab.analysis.symmetrize`) of the Greek->English links and the flipped English->Greek
  ones. A reading counts when every model it reads passes the lab's BLEU floor (the
  Greek->English readings need that model only, "symmetrised" both directions); the model's
  headline "aer" is the test AER of the counted reading best on dev (of all five when none
  counts).
- Baselines on the same test verses: the diagonal, uniform weights (every link), IBM Model 1
  (Brown et al. 1993) trained on the training verses (and once on train + test text,
  "transductive"), its grow-diag-final-and of both directions, and IBM Model 1 with fast_align's
  diagonal prior (Dyer et al. 2013; `attnlab.analysis.ibm1.DiagonalPrior`), one direction and
  symmetrised.

Metrics (metrics["nt-grc-en"]): n_test, n_dev, diagonal_aer, uniform_aer, ibm1_aer,
ibm1_transductive_aer, ibm1_gdfa_aer, fast_align_aer, fast_align_gdfa_aer, and models[MODEL] =
{params, bleu (Greek->English, greedy), bleu_reverse, evidence (the best reading counts),
sources, readings {"grc-en plain" | "grc-en shift" | "en-grc plain" | "en-grc shift" |
"symmetrised": {layer, dev_aer, aer, evidence}}, best (the reading chosen on dev), aer (its
test AER), aer_per_layer (plain Greek->English reading, per layer, test), entropy, uniform_entropy}.
Left out: guided alignment (Garg et al. 2019), other aligners (none installs from the package
registry here), thresholded or soft alignments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlab.analysis.ibm1 import IBM1, DiagonalPrior, train_ibm1, viterbi_alignment
from attnlab.analysis.symmetrize import flip, grow_diag_final_and
from attnlab.config import Config
from attnlab.lab import real
from attnlab.lab.common import (
    SEED,
    LabProgress,
    Split,
    lab_training,
    read_split,
    train_model,
    write_split,
)
from attnlab.translate import Translator
from attnlab.word_alignment import (
    Gold,
    Link,
    aer,
    attention_rows,
    attention_word_links,
    teacher_forced_attention,
)

FORWARD, REVERSE = "nt-grc-en", "nt-en-grc"
SHORT = {FORWARD: "grc-en", REVERSE: "en-grc"}
READINGS = {"plain": False, "shift": True}


@dataclass(frozen=True)
class NTPreset:
    models: tuple[str, ...]  # trained in both directions
    budget: real.TrainingBudget  # no steps: the models are measured only from --reuse (both ways)
    batch_tokens: int
    train: int | None  # the first n training pairs (None: all ~7k)
    dev: int | None  # the first n gold dev pairs, for the choices (None: all ~440)
    test: int | None  # the first n gold test pairs (None: all ~430)
    vocab: int  # the fallback preset's vocabulary
    ibm1_iterations: int


# --- data ---------------------------------------------------------------------------------------


def _first(split: Split, n: int | None) -> Split:
    return split if n is None else Split(split.src[:n], split.ref[:n])


def _first_lines(path: Path, out: Path, n: int | None) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines if n is None else lines[:n]), encoding="utf-8")


def nt_data(out: Path, p: NTPreset) -> dict[str, Path]:
    """The NT cut to the preset's sizes with its dev and test gold links (FORWARD), and the
    same verses with the sides swapped (REVERSE)."""
    from attnlab.data.builtin import write_builtin

    full = out / "nt-all"
    write_builtin("nt-grc-en", full)
    folders = {FORWARD: out / FORWARD, REVERSE: out / REVERSE}
    for split, n in (("train", p.train), ("dev", p.dev), ("test", p.test)):
        data = _first(read_split(full, split), n)
        write_split(folders[FORWARD], split, data)
        write_split(folders[REVERSE], split, Split(data.ref, data.src))
        if split != "train":
            _first_lines(full / f"{split}.align", folders[FORWARD] / f"{split}.align", n)
    return folders


# --- baselines ----------------------------------------------------------------------------------


def _words(lines: list[str]) -> list[list[str]]:
    return [line.lower().split() for line in lines]


def _viterbi(model: IBM1, src: list[list[str]], trg: list[list[str]]) -> list[set[Link]]:
    return [viterbi_alignment(model, s, t) for s, t in zip(src, trg, strict=True)]


def _gdfa(forward: list[set[Link]], backward: list[set[Link]]) -> list[set[Link]]:
    """grow-diag-final-and per sentence; `backward` in target->source orientation."""
    return [grow_diag_final_and(f, flip(b)) for f, b in zip(forward, backward, strict=True)]


def classical_aer(train: Split, test: Split, gold: list[Gold], iterations: int) -> dict:
    """AER of IBM Model 1 and of IBM Model 1 with fast_align's diagonal prior, one direction
    and symmetrised; IBM Model 1 also trained on train + test text. The IBM Model 1 of the
    source->target direction is returned under "ibm1_model" (for heatmaps)."""
    src, trg = _words(train.src), _words(train.ref)
    test_src, test_trg = _words(test.src), _words(test.ref)
    found: dict[str, Any] = {}
    for name, prior in (("ibm1", None), ("fast_align", DiagonalPrior())):
        forward = train_ibm1(src, trg, iterations, prior)
        backward = train_ibm1(trg, src, iterations, prior)
        links = _viterbi(forward, test_src, test_trg)
        found[f"{name}_aer"] = aer(links, gold)
        found[f"{name}_gdfa_aer"] = aer(_gdfa(links, _viterbi(backward, test_trg, test_src)), gold)
        if prior is None:
            found["ibm1_model"] = forward
    transductive = train_ibm1(src + test_src, trg + test_trg, iterations)
    found["ibm1_transductive_aer"] = aer(_viterbi(transductive, test_src, test_trg), gold)
    return found


# --- attention links ----------------------------------------------------------------------------


def attention_links(
    translator: Translator, split: Split, reverse: bool
) -> dict[str, list[list[set[Link]]]]:
    """Word links read from a model's teacher-forced attention on `split` (given in the model's
    own direction): reading -> layer -> one link set per pair, in Greek->English orientation
    (a REVERSE model's links flipped)."""
    found = teacher_forced_attention(translator, split.src, split.ref)
    if found is None:
        raise ValueError("the model has no attention")
    n_layers = next((a.weights.size(0) for a in found if a.weights is not None), 1)
    links: dict[str, list[list[set[Link]]]] = {}
    for reading, shift in READINGS.items():
        links[reading] = [[] for _ in range(n_layers)]
        for weights, src_pieces, trg_pieces in found:
            rows = None if weights is None else attention_rows(weights, shift)  # (L, T, S)
            for layer in range(n_layers):
                pair = (
                    set()
                    if rows is None
                    else attention_word_links(rows[layer], src_pieces, trg_pieces)
                )
                links[reading][layer].append(flip(pair) if reverse else pair)
    return links


def _choose_layer(links: list[list[set[Link]]], gold: list[Gold]) -> tuple[int, float]:
    """The layer with the lowest AER on `gold` (the dev verses) and that AER."""
    scores = [aer(layer, gold) for layer in links]
    best = min(range(len(scores)), key=scores.__getitem__)
    return best, scores[best]


def readings(
    dev_links: dict[str, dict[str, list[list[set[Link]]]]],
    test_links: dict[str, dict[str, list[list[set[Link]]]]],
    dev_gold: list[Gold],
    test_gold: list[Gold],
) -> dict[str, dict[str, Any]]:
    """{"<dir> <reading>": {layer, dev_aer, aer}} for each direction and reading, the layer
    chosen on dev; and "symmetrised": grow-diag-final-and of each direction's reading best on
    dev. dev_links / test_links: direction -> reading -> layer -> link sets."""
    found: dict[str, dict[str, Any]] = {}
    best: dict[str, tuple[str, int]] = {}
    for direction, by_reading in dev_links.items():
        for reading, layers in by_reading.items():
            layer, dev_aer = _choose_layer(layers, dev_gold)
            test = test_links[direction][reading][layer]
            key = f"{SHORT[direction]} {reading}"
            found[key] = {"layer": layer, "dev_aer": dev_aer, "aer": aer(test, test_gold)}
            if direction not in best or dev_aer < found[best[direction][0]]["dev_aer"]:
                best[direction] = (key, layer)
    if FORWARD in best and REVERSE in best:

        def symmetrised(links: dict) -> list[set[Link]]:
            (fwd, fwd_layer), (rev, rev_layer) = best[FORWARD], best[REVERSE]
            forward = links[FORWARD][fwd.split()[1]][fwd_layer]
            backward = links[REVERSE][rev.split()[1]][rev_layer]  # already flipped
            return [grow_diag_final_and(f, b) for f, b in zip(forward, backward, strict=True)]

        found["symmetrised"] = {
            "layer": None,
            "of": [best[FORWARD][0], best[REVERSE][0]],
            "dev_aer": aer(symmetrised(dev_links), dev_gold),
            "aer": aer(symmetrised(test_links), test_gold),
        }
    return found


def mark_evidence(found: dict[str, dict[str, Any]], trained: dict[str, bool]) -> None:
    """Set each reading's "evidence": every model it reads (its direction's, or both for
    "symmetrised") translates at least at the lab's floor. trained: direction -> bool"""
    passed = {SHORT[direction]: ok for direction, ok in trained.items()}
    for key, reading in found.items():
        read = [k.split()[0] for k in reading["of"]] if "of" in reading else [key.split()[0]]
        reading["evidence"] = all(passed[short] for short in read)


def best_reading(found: dict[str, dict[str, Any]]) -> str:
    """The reading lowest on dev among those that count, or among all when none does."""
    counted = [k for k, r in found.items() if r["evidence"]] or list(found)
    return min(counted, key=lambda k: found[k]["dev_aer"])


# --- models -------------------------------------------------------------------------------------


def _lab_training(data: Path, budget: real.TrainingBudget) -> list[str]:
    return [
        *lab_training(data, budget.steps, SEED),
        *budget.overrides(),
        "training.early_stopping_metric=loss",
    ]


def reused_both(reuse: Path | None, model: str) -> bool:
    """Whether --reuse DIR holds `model` trained in both directions."""
    name = real.run_name(model)
    return all(real.reused_checkpoint(reuse, d, name) is not None for d in (FORWARD, REVERSE))


def model_for(
    model: str,
    direction: str,
    data: Path,
    out: Path,
    p: NTPreset,
    fallback: list[str],
    reuse: Path | None,
    progress: LabProgress,
) -> tuple[Translator, str]:
    """The trained model of one direction, reused from --reuse when it holds it, and where it
    came from ("trained: <recipe>" or the checkpoint's path)."""
    name = real.run_name(model)
    reused = real.reused_checkpoint(reuse, direction, name)
    if reused is not None:
        return Translator.from_checkpoint(reused, device="auto"), str(reused)
    recipe = real.recipe(direction, model, fallback, budget=p.budget)
    config: Config = recipe.config(_lab_training(data, p.budget))
    run_dir = out / "runs" / f"{direction}-{name}"
    translator = train_model(config, run_dir, progress, f"alignment: {model} {direction}")
    return translator, f"trained: {recipe.describe()}"
