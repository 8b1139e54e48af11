"""Experiment `reversal`: reading the source backwards helps a fixed-context model (Sutskever et
al. 2014, Sec. 3.3: test perplexity 5.8 -> 4.7, BLEU 25.9 -> 30.6).

A fixed-context LSTM encoder-decoder (c = the encoder's last state, no attention) is trained on
the synthetic `translation` task with and without `model.reverse_source`, over several seeds. With
the source reversed, the first source words, which the first target words depend on, are the
last ones the encoder reads: the "minimal time lag" of Sutskever et al. Reported: dev perplexity
(from the training log) and test BLEU (sacreBLEU, greedy search), mean and sample standard
deviation over seeds. quick: sources of 1-15 words, 400 steps (short of learning to
translate, so perplexity speaks louder than BLEU); full: 1-20 words, 2,000 steps. Measured
figures: docs/STATUS.md.

On real language (Sutskever et al.'s own setting is English->French): in --budget full the
same comparison on the embedded English->French Bible, two seeds, with the corpus recipe
`configs/bible-en-fr/lstm-fixed.yaml` where it exists (`lab.real`; the lab sets only
`model.reverse_source`, its data, seed and step budget), else the preset above with a 8,000-word
vocabulary; real.FULL_BUDGET (minutes of wall clock) each. --budget quick measures the Bible only
from models given with --reuse DIR (DIR/bible-en-fr/lstm-fixed[-reversed][-seedN]/best.pt).

Metrics (`results.json`): metrics["runs"][SETTING] (SETTING "forward" or "reversed") is a list of
{seed, dev_loss, dev_ppl, bleu}; metrics["summary"][SETTING] holds ppl_mean, ppl_std, bleu_mean,
bleu_std; metrics["ppl_gain"] = forward - reversed perplexity and metrics["bleu_gain"] = reversed
- forward BLEU (positive: reversal helped); metrics["outcome"] what they say (`outcome`);
metrics["bible-en-fr"], when measured, the same keys (runs, summary, ppl_gain, bleu_gain,
outcome) plus evidence (the better BLEU at least the lab's floor).
A reused model's dev perplexity comes from the log.jsonl beside its checkpoint (None without
one). result["verdicts"]: one per corpus (`report.verdicts`). Left out: deep LSTMs, beam search
and ensembles of the paper.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from attnlab.config import load_config
from attnlab.lab import real
from attnlab.lab.common import (
    LabProgress,
    Split,
    bible_en_fr,
    dev_metrics,
    preset,
    read_split,
    synthetic_translation,
    train_model,
    translate_lines,
)
from attnlab.metrics import corpus_bleu
from attnlab.report.figures import bar_chart
from attnlab.report.verdicts import verdict
from attnlab.translate import Translator

NAME = "reversal"
REUSE = True  # run() takes reuse=DIR (`attnlab lab --reuse DIR`)
TITLE = "Reversing the source helps a fixed-context model (Sutskever et al. 2014)"

MIN_LEARNED_BLEU = 5.0  # below this the model has not learned to translate; BLEU says nothing
SETTINGS = {"forward": "model.reverse_source=false", "reversed": "model.reverse_source=true"}
MODEL = [
    "model.type=rnn",
    "model.cell=lstm",
    "model.context=fixed",
    "model.bidirectional=false",
    "model.feed_context=false",
    "model.embedding_size=64",
    "model.hidden_size=128",
]


@dataclass(frozen=True)
class Preset:
    sizes: tuple[int, int, int]  # train/dev/test pairs of the synthetic task
    max_len: int  # sources of 1..max_len words
    seeds: tuple[int, ...]
    steps: int
    batch_tokens: int
    dropout: float
    bible_seeds: tuple[int, ...]  # the Bible runs (none: no Bible at this budget)
    bible: real.TrainingBudget  # no steps: the Bible runs only from --reuse
    bible_test: int | None  # the first n Bible test verses (None: all 790)


PRESETS: dict[str, Preset] = {
    "test": Preset((200, 20, 20), 10, (1, 2), 2, 200, 0.0, (), real.TrainingBudget(2), 20),
    "quick": Preset((15000, 200, 200), 15, (1, 2, 3), 400, 1200, 0.0, (1, 2),
                    real.TrainingBudget(0), None),
    "full": Preset((20000, 500, 500), 20, (1, 2, 3), 2000, 1500, 0.1, (1, 2), real.FULL_BUDGET,
                   None),
}  # fmt: skip  # one budget a row, the fields in the order of Preset


def _preset(p: Preset) -> list[str]:
    """The lab's own model and optimiser settings (on the Bible: the fallback recipe)."""
    return [
        *MODEL,
        f"model.dropout={p.dropout}",
        f"training.batch_tokens={p.batch_tokens}",
        "training.lr=0.003",  # learns within a few hundred steps (see lab/length.py)
    ]


def _lab(setting: str, data: Path, seed: int, steps: int) -> list[str]:
    """What the lab sets on every recipe: the setting, its data, seed, steps and one thread."""
    return [
        SETTINGS[setting],
        f"data.dir={data}",
        f"training.seed={seed}",
        f"training.max_steps={steps}",
        f"training.eval_every={steps}",
        "training.eval_bleu=false",
        "training.early_stopping_metric=loss",
        f"training.log_every={max(1, steps // 20)}",
        "training.num_threads=1",  # a small model: a second thread costs more than it gives
        "decoding.beam_size=1",
    ]


def _overrides(setting: str, data: Path, seed: int, p: Preset) -> list[str]:
    return [*_preset(p), *_lab(setting, data, seed, p.steps)]


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    def spread(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    ppl, bleu = [r["dev_ppl"] for r in runs], [r["bleu"] for r in runs]
    return {
        "ppl_mean": statistics.fmean(ppl),
        "ppl_std": spread(ppl),
        "bleu_mean": statistics.fmean(bleu),
        "bleu_std": spread(bleu),
    }


def outcome(summary: dict[str, dict[str, float]]) -> dict[str, bool]:
    """What the seeds' means say, as data: whether the models learned to translate at all (BLEU
    of MIN_LEARNED_BLEU either way), whether reversal lowered the perplexity and raised the BLEU,
    and whether the perplexity moved by more than the two spreads over seeds."""
    f, r = summary["forward"], summary["reversed"]
    return {
        "learned": max(f["bleu_mean"], r["bleu_mean"]) >= MIN_LEARNED_BLEU,
        "ppl_helped": r["ppl_mean"] < f["ppl_mean"],
        "bleu_helped": r["bleu_mean"] > f["bleu_mean"],
        "beyond_spread": abs(f["ppl_mean"] - r["ppl_mean"]) > f["ppl_std"] + r["ppl_std"],
    }


def _reading(summary: dict[str, dict[str, float]], p: Preset, budget: str) -> str:
    f, r = summary["forward"], summary["reversed"]
    n = len(p.seeds)
    text = (
        f"Over {n} seeds ({p.steps} training steps each, sources of 1-{p.max_len} words), dev "
        f"perplexity went from {f['ppl_mean']:.2f} ± {f['ppl_std']:.2f} (source read forwards) to "
        f"{r['ppl_mean']:.2f} ± {r['ppl_std']:.2f} (reversed), and test BLEU from "
        f"{f['bleu_mean']:.1f} ± {f['bleu_std']:.1f} to {r['bleu_mean']:.1f} ± {r['bleu_std']:.1f}."
    )
    found = outcome(summary)
    ppl_helped, bleu_helped, beyond = (
        found["ppl_helped"],
        found["bleu_helped"],
        found["beyond_spread"],
    )
    if not found["learned"]:
        text += (
            f" Test BLEU stays below {MIN_LEARNED_BLEU:.0f} either way: after {p.steps} steps the "
            "fixed-context LSTM (Sutskever et al.'s design: c only sets the decoder's first state) "
            "has not learned to translate yet, so only the perplexity comparison carries "
            "information"
            + (
                " (--budget full trains it five times longer)."
                if budget != "full"
                else "; training longer than this budget does is the next thing to try."
            )
        )
        if ppl_helped:
            text += " By perplexity reversal helped, as Sutskever et al. found" + (
                ", by more than the spread over seeds."
                if beyond
                else ", though within the spread over seeds."
            )
        else:
            text += " By perplexity reversal did not help here, which disagrees with the paper."
    elif ppl_helped and bleu_helped:
        text += " Reversal helped on both measures, as Sutskever et al. found"
        text += (
            ", by more than the spread over seeds."
            if beyond
            else ", though by less than the spread over seeds, so this run alone does not settle "
            "it."
        )
    elif ppl_helped or bleu_helped:
        text += (
            " Reversal helped on one measure only, which disagrees with the paper; with "
            f"{p.steps} steps the models are far from converged and the greedy BLEU of a "
            "fixed-context model this small is noisy."
        )
    else:
        text += (
            " Reversal did not help here, which disagrees with the paper. Possible reasons: "
            f"training this short ({p.steps} steps) leaves both models mostly predicting "
            "frequent words, before the shorter source-target lags can pay off; and the synthetic "
            "target moves each verb to the end of its clause, so the lags are not as uniform as "
            "in English-French."
        )
    return text


def _gains(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary = {setting: _summary(values) for setting, values in runs.items()}
    return {
        "runs": runs,
        "summary": summary,
        "ppl_gain": summary["forward"]["ppl_mean"] - summary["reversed"]["ppl_mean"],
        "bleu_gain": summary["reversed"]["bleu_mean"] - summary["forward"]["bleu_mean"],
        "outcome": outcome(summary),
    }


def reversal_verdict(corpus: str, measured: dict[str, Any], evidence: bool) -> dict[str, Any]:
    """Reversal helps when the perplexity gain exceeds the two spreads over seeds, hurts when
    the loss does, and is unclear in between."""
    f, r = measured["summary"]["forward"], measured["summary"]["reversed"]
    spread = f["ppl_std"] + r["ppl_std"]
    gain = measured["ppl_gain"]
    holds = "yes" if gain > spread else "no" if gain < -spread else "unclear"
    return verdict(
        "bottleneck",
        "reading the source backwards helps a fixed context (shorter lags)",
        corpus,
        "lower perplexity and higher BLEU reversed (Sutskever et al. 2014: 5.8 -> 4.7, BLEU "
        "25.9 -> 30.6)",
        f"fixed-context LSTM, {len(measured['runs']['forward'])} seeds: dev perplexity "
        f"{f['ppl_mean']:.2f} -> {r['ppl_mean']:.2f}, BLEU {f['bleu_mean']:.1f} -> "
        f"{r['bleu_mean']:.1f}",
        holds,
        evidence,
    )


def _seed_rows(
    runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any], settings: Iterable[str]
) -> list[list[str]]:
    """One table row per setting: dev perplexity / test BLEU per seed, then mean ± std of each."""
    return [
        [
            s,
            *(f"{r['dev_ppl']:.2f} / {r['bleu']:.1f}" for r in runs[s]),
            f"{summary[s]['ppl_mean']:.2f} ± {summary[s]['ppl_std']:.2f}",
            f"{summary[s]['bleu_mean']:.1f} ± {summary[s]['bleu_std']:.1f}",
        ]
        for s in settings
    ]


def _bible_table(measured: dict[str, Any], p: Preset, evidence: bool) -> dict[str, Any]:
    runs, summary = measured["runs"], measured["summary"]
    rows = _seed_rows(runs, summary, SETTINGS)
    return {
        "caption": "English->French Bible: dev perplexity / test BLEU per seed, then mean ± "
        "standard deviation.",
        "columns": ["source", *(f"seed {s}" for s in p.bible_seeds), "perplexity", "BLEU"],
        "rows": rows,
        "greyed": [] if evidence else [0, 1],
        "greyed_note": real.NOT_TRAINED_ENOUGH,
    }


def _bible_runs(
    out: Path, p: Preset, reuse: Path | None, progress: LabProgress
) -> dict[str, list[dict[str, Any]]] | None:
    """Both settings on the English->French Bible, each seed trained or reused; None when the
    budget trains none and --reuse holds none of them (all or nothing: a comparison needs
    both settings)."""
    if not p.bible_seeds or (not p.bible and reuse is None):
        return None
    data = bible_en_fr(out / "data-bible")
    test = read_split(data, "test")
    test = Split(test.src[: p.bible_test], test.ref[: p.bible_test])
    fallback = [*_preset(p), "data.lowercase=true", "data.max_vocab=8000"]
    recipe = real.recipe("bible-en-fr", "LSTM fixed", fallback, budget=p.bible)
    runs: dict[str, list[dict[str, Any]]] = {setting: [] for setting in SETTINGS}
    for seed in p.bible_seeds:
        for setting in SETTINGS:
            name = real.run_name("LSTM fixed", seed=seed).replace(
                "lstm-fixed", "lstm-fixed-reversed" if setting == "reversed" else "lstm-fixed"
            )
            reused = real.reused_checkpoint(reuse, "bible-en-fr", name)
            if reused is not None:
                translator, run_dir = (
                    Translator.from_checkpoint(reused, device="auto"),
                    reused.parent,
                )
            elif p.bible:
                run_dir = out / "runs" / f"bible-{setting}-seed{seed}"
                config = recipe.config(
                    [*_lab(setting, data, seed, p.bible.steps), *p.bible.overrides()]
                )
                translator = train_model(config, run_dir, progress, f"LSTM {setting} (Bible)")
            else:
                return None
            try:
                dev = dev_metrics(run_dir)
            except (OSError, ValueError):  # a reused run without its training log: unknown
                dev = {"dev_loss": math.nan, "dev_ppl": math.nan}
            hyps = translate_lines(translator, test.src)
            source = str(reused) if reused else recipe.describe()
            runs[setting].append(
                {
                    "seed": seed,
                    "dev_loss": dev["dev_loss"],
                    "dev_ppl": dev["dev_ppl"],
                    "bleu": corpus_bleu(hyps, test.ref),
                    "source": source,
                }
            )
    return runs


def run(budget: str, out: Path, progress: LabProgress, reuse: Path | None = None) -> dict[str, Any]:
    p = preset(PRESETS, budget)
    data = synthetic_translation(out / "data", p.sizes, p.max_len)
    test = read_split(data, "test")
    bar = progress.task("reversal: models trained and scored", len(SETTINGS) * len(p.seeds))
    runs: dict[str, list[dict[str, float]]] = {setting: [] for setting in SETTINGS}
    for seed in p.seeds:
        for setting in SETTINGS:
            run_dir = out / "runs" / f"{setting}-seed{seed}"
            config = load_config(None, _overrides(setting, data, seed, p))
            translator = train_model(config, run_dir, progress, f"LSTM {setting}, seed {seed}")
            bleu = corpus_bleu(translate_lines(translator, test.src), test.ref)
            dev = dev_metrics(run_dir)
            runs[setting].append(
                {"seed": seed, "dev_loss": dev["dev_loss"], "dev_ppl": dev["dev_ppl"], "bleu": bleu}
            )
            bar.advance(1)
    summary = {setting: _summary(values) for setting, values in runs.items()}
    labels = ["forward", "reversed"]
    for file, key, per_seed, label, better in (
        ("perplexity.png", "ppl", "dev_ppl", "dev perplexity", "lower"),
        ("bleu.png", "bleu", "bleu", "test BLEU", "higher"),
    ):
        bar_chart(
            out / file,
            labels,
            [summary[s][f"{key}_mean"] for s in labels],
            [summary[s][f"{key}_std"] for s in labels],
            label,
            f"Fixed-context LSTM: {label} ({better} is better)",
            points=[[r[per_seed] for r in runs[s]] for s in labels],
        )
    rows = _seed_rows(runs, summary, labels)
    caption = "bars: mean over seeds; error bars: sample standard deviation; dots: each seed."
    synthetic = _gains(runs)
    metrics: dict[str, Any] = dict(synthetic)
    verdicts = [reversal_verdict("translation", synthetic, True)]  # perplexity speaks either way
    tables = [
        {
            "caption": "Synthetic task: dev perplexity / test BLEU per seed, then mean ± "
            "standard deviation.",
            "columns": ["source", *(f"seed {s}" for s in p.seeds), "perplexity", "BLEU"],
            "rows": rows,
        }
    ]
    reading = _reading(summary, p, budget)
    bible = _bible_runs(out, p, reuse, progress)
    if bible is not None:
        measured = _gains(bible)
        evidence = real.evidence(max(r["bleu"] for rs in bible.values() for r in rs))
        metrics["bible-en-fr"] = {**measured, "evidence": evidence}
        verdicts.append(reversal_verdict("bible-en-fr", measured, evidence))
        tables.append(_bible_table(measured, p, evidence))
        f, r = measured["summary"]["forward"], measured["summary"]["reversed"]
        reading += (
            f" On the English->French Bible ({len(p.bible_seeds)} seeds): dev perplexity "
            f"{f['ppl_mean']:.2f} -> {r['ppl_mean']:.2f}, BLEU {f['bleu_mean']:.1f} -> "
            f"{r['bleu_mean']:.1f}"
            + ("." if evidence else f"; not counted, {real.NOT_TRAINED_ENOUGH}.")
        )
    return {
        "figures": [
            {
                "file": "perplexity.png",
                "caption": f"Dev perplexity with and without reversal; {caption}",
            },
            {"file": "bleu.png", "caption": f"Test BLEU with and without reversal; {caption}"},
        ],
        "tables": tables,
        "metrics": metrics,
        "verdicts": verdicts,
        "expected": "Sutskever et al. (2014): reversing the source lowered test perplexity from "
        "5.8 to 4.7 and raised BLEU from 25.9 to 30.6 for their deep LSTM on English-French.",
        "reading": reading,
        "config": {"preset": asdict(p), "model": MODEL},
    }
