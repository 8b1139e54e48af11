"""Experiment `capacity`: the fixed-width pipe. How much of its input does an encoder's last state
h_S still hold, as a function of how far back the input was and how wide the state is?

A recurrent encoder reads x_1 ... x_S into one state of d_h numbers (Elman 1990; GRU, Cho et al.
2014; LSTM, Hochreiter & Schmidhuber 1997); the fixed-context encoder-decoder hands only that
state to its decoder, c = h_S (Sutskever et al. 2014). Each cell at each width d_h is trained as
a fixed-context autoencoder (the copy task: target = source, Graves et al. 2014), then frozen; a
linear probe (attnlab.analysis.probes: logistic regression, Alain & Bengio 2016; Hupkes et al.
2018) reads from h_S the token at distance k from the end (k = 1 is the last token x_S), fitted
on one set of sources and scored on held-out ones. Probe accuracy against k, one line per d_h,
is the picture of what the pipe lets through.

The copy task here uses a small alphabet (ALPHABET symbols, so each token is a few bits and a
probe can be fitted on a few thousand examples); training sources have 1..max_len tokens, probe
sources exactly max_len. With `untrained` the same encoders at their initial weights are probed
too: what a random recurrent map keeps without learning (reservoir computing, Jaeger 2001).

Metrics (`results.json`): metrics["runs"][f"{cell}-{d_h}"] = {cell, d_h, trained, params,
dev_ppl (the copy model's dev perplexity; None untrained), accuracy (one per k), mean_accuracy,
half_distance (the first k whose accuracy is below half of the way from chance to 1; None if
none)}; metrics["distances"] (the k), metrics["chance"] (1 / alphabet), metrics["majority"] (the
majority-label accuracy averaged over k). Left out: bidirectional
encoders (their h_S is two states), probing every position rather than distances from the end,
non-linear probes.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from attnlab.analysis.probes import majority_accuracy, probe_accuracy, train_probe
from attnlab.config import load_config
from attnlab.lab.common import (
    SEED,
    LabProgress,
    Split,
    dev_metrics,
    parameter_count,
    preset,
    train_model,
    write_split,
)
from attnlab.models.build import build_model
from attnlab.report.figures import line_plot
from attnlab.report.verdicts import verdict
from attnlab.translate import Translator

NAME = "capacity"
TITLE = "A fixed-width state is a pipe: h_S forgets distant tokens, more so when it is narrow"

CELL_NAMES = {"elman": "Elman", "gru": "GRU", "lstm": "LSTM"}


@dataclass(frozen=True)
class Preset:
    cells: tuple[str, ...]
    sizes: tuple[int, ...]  # d_h
    alphabet: int  # symbols of the copy task
    max_len: int  # training sources 1..max_len tokens; probe sources exactly max_len
    n_train: int  # copy pairs to train the autoencoders on
    steps: int
    batch_tokens: int
    probe_train: int  # sources the probes are fitted on
    probe_test: int  # held-out sources they are scored on
    probe_iter: int  # L-BFGS iterations
    untrained: bool  # also probe each encoder at its initial weights


PRESETS: dict[str, Preset] = {
    "test": Preset(("gru",), (8, 16), 6, 5, 200, 3, 200, 80, 40, 10, True),
    "quick": Preset(("elman", "gru", "lstm"), (16, 64, 128), 16, 10, 4000, 300, 1000, 1500,
                    500, 40, True),
    "full": Preset(("elman", "gru", "lstm"), (16, 32, 64, 128, 256), 16, 16, 20000, 1000, 2000,
                   3000, 1000, 60, True),
}  # fmt: skip  # one budget a row, the fields in the order of Preset


# --- data ---------------------------------------------------------------------------------------


def symbols(alphabet: int) -> list[str]:
    return [f"s{k:02d}" for k in range(alphabet)]


def random_sources(
    rng: random.Random, n: int, alphabet: int, lengths: tuple[int, int]
) -> list[str]:
    """`n` lines of random symbols, each of a length uniform in `lengths` (inclusive)."""
    words = symbols(alphabet)
    return [" ".join(rng.choices(words, k=rng.randint(*lengths))) for _ in range(n)]


def copy_data(out: Path, p: Preset) -> Path:
    """The copy task (target = source) in the {train,dev,test}.{src,trg} layout."""
    rng = random.Random(f"attnlab/lab/capacity/{SEED}")
    for split, n in (("train", p.n_train), ("dev", 200), ("test", 200)):
        lines = random_sources(rng, n, p.alphabet, (1, p.max_len))
        write_split(out, split, Split(lines, lines))
    return out


def probe_labels(lines: list[str], alphabet: int) -> torch.Tensor:
    """The symbol at distance k = 1 .. S from the end of each line (all of length S), as class
    ids.  -> (N, S), column k - 1 holding x_{S-k+1}"""
    index = {word: k for k, word in enumerate(symbols(alphabet))}
    return torch.tensor([[index[w] for w in reversed(line.split())] for line in lines])


# --- encoders and probes ------------------------------------------------------------------------


def _overrides(cell: str, size: int, data: Path, p: Preset) -> list[str]:
    return [
        f"data.dir={data}",
        "model.type=rnn",
        f"model.cell={cell}",
        "model.context=fixed",
        "model.feed_context=true",  # Cho et al.: c at every step; only c carries the source
        "model.bidirectional=false",  # so h_S is one state of d_h numbers
        f"model.hidden_size={size}",
        "model.embedding_size=32",
        "model.dropout=0.0",
        f"training.seed={SEED}",
        f"training.max_steps={p.steps}",
        f"training.eval_every={p.steps}",
        "training.eval_bleu=false",
        "training.early_stopping_metric=loss",
        f"training.log_every={max(1, p.steps // 20)}",
        f"training.batch_tokens={p.batch_tokens}",
        "training.lr=0.003",
        "training.num_threads=1",  # tiny models: a second thread costs more than it gives
    ]


def final_states(translator: Translator, lines: list[str], batch_size: int = 256) -> torch.Tensor:
    """The encoder's last state h_S of each line (the fixed context c).  -> (N, d_h)"""
    model = translator.model
    device = next(model.parameters()).device
    states = []
    for start in range(0, len(lines), batch_size):
        chunk = lines[start : start + batch_size]
        ids = [translator.src_vocab.encode(translator.src_tokenizer.encode(x)) for x in chunk]
        src = torch.tensor(ids, device=device)  # (B, S): every probe line has S tokens
        with torch.no_grad():
            states.append(model.encoder(src, torch.ones_like(src, dtype=torch.bool)).final)
    return torch.cat(states).cpu()  # (N, d_h)


def untrained(translator: Translator, cell: str, size: int, data: Path, p: Preset) -> Translator:
    """The same architecture and vocabularies at initial weights (torch seeded with SEED)."""
    torch.manual_seed(SEED)
    config = load_config(None, _overrides(cell, size, data, p))
    model = build_model(config.model, len(translator.src_vocab), len(translator.trg_vocab))
    return translator.with_model(model.eval())


def half_distance(accuracy: list[float], chance: float) -> int | None:
    """The first distance k whose accuracy is below chance + (1 - chance) / 2."""
    line = chance + (1.0 - chance) / 2
    return next((k for k, a in enumerate(accuracy, start=1) if a < line), None)


def probe_encoder(
    translator: Translator, probe_lines: tuple[list[str], list[str]], p: Preset
) -> list[float]:
    """Held-out accuracy of a probe for each distance k = 1 .. max_len."""
    train_lines, test_lines = probe_lines
    fitted = train_probe(
        final_states(translator, train_lines),
        probe_labels(train_lines, p.alphabet),
        p.alphabet,
        max_iter=p.probe_iter,
    )
    return probe_accuracy(
        fitted, final_states(translator, test_lines), probe_labels(test_lines, p.alphabet)
    )


# --- reading ------------------------------------------------------------------------------------


def _falls(run: dict[str, Any]) -> bool:
    """Recency: the last token (k = 1) is read better than the first (k = S)."""
    return run["accuracy"][0] > run["accuracy"][-1] + 0.02


def findings(runs: dict[str, dict[str, Any]], p: Preset) -> dict[str, Any]:
    """The two expectations and what may explain a miss, as data: "falls_with_k" per trained
    encoder (accuracy at k=1 above that at the longest k), "grows_with_width" per cell (mean
    accuracy never falling by more than 0.01 from one d_h to the next, and higher at the widest),
    "primacy" the trained encoders that read the first source token better than the last, and
    "untrained_recency" per untrained encoder (its accuracy falls with k)."""
    trained = {k: r for k, r in runs.items() if r["trained"]}
    grows = {}
    for cell in p.cells:
        means = [runs[f"{cell}-{d}"]["mean_accuracy"] for d in p.sizes]
        rising = all(b >= a - 0.01 for a, b in itertools.pairwise(means))
        grows[cell] = rising and means[-1] > means[0]
    return {
        "falls_with_k": {k: _falls(r) for k, r in trained.items()},
        "grows_with_width": grows,
        "primacy": [k for k, r in trained.items() if r["accuracy"][-1] > r["accuracy"][0]],
        "untrained_recency": {k: _falls(r) for k, r in runs.items() if not r["trained"]},
    }


def _trend(
    runs: dict[str, dict[str, Any]], p: Preset, found: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """(claims that hold, claims that do not) for the two expectations, per cell."""
    holds, fails = [], []
    falling = found["falls_with_k"]
    text = (
        f"accuracy falls from k=1 to k={p.max_len} in {sum(falling.values())} of {len(falling)} "
        "trained encoders"
    )
    (holds if all(falling.values()) else fails).append(text)
    for cell in p.cells:
        chain = " -> ".join(f"{runs[f'{cell}-{d}']['mean_accuracy']:.2f}" for d in p.sizes)
        text = f"{CELL_NAMES[cell]} mean accuracy over k by d_h {list(p.sizes)}: {chain}"
        (holds if found["grows_with_width"][cell] else fails).append(text)
    return holds, fails


def _primacy(p: Preset, found: dict[str, Any]) -> str:
    """Why accuracy may rise with k: the copy objective, checked against untrained encoders."""
    first = found["primacy"]
    if not first:
        return ""
    text = (
        f"{', '.join(first)} read the FIRST source token (k={p.max_len}) better than the last: the "
        "copy decoder must emit x_1 first, so training teaches h_S to keep the start of the "
        "source, the longest dependency of the task (the one that reversing the source shortens, "
        "Sutskever et al. 2014, sec. 3.3); so the shape against k measures what the objective "
        "asks for as much as the width of the pipe. "
    )
    recency = found["untrained_recency"]
    if recency:
        text += (
            f"Untrained encoders, which no objective shaped, show recency in "
            f"{sum(recency.values())} of {len(recency)} cases (accuracy falling with k). "
        )
    return text


def _reading(runs: dict[str, dict[str, Any]], p: Preset, chance: float) -> str:
    found = findings(runs, p)
    holds, fails = _trend(runs, p, found)
    text = (
        f"Each encoder was trained for {p.steps} steps as a fixed-context autoencoder on copies of "
        f"1-{p.max_len} random symbols (alphabet {p.alphabet}, chance {chance:.2f}); probes read "
        f"the token k steps from the end of {p.probe_test} held-out {p.max_len}-token sources. "
    )
    if holds:
        text += "As expected: " + "; ".join(holds) + ". "
    if fails:
        text += "Not as expected: " + "; ".join(fails) + ". "
    text += _primacy(p, found)
    badly = [k for k, r in runs.items() if r["trained"] and r["dev_ppl"] > 0.5 * p.alphabet]
    if badly:
        text += (
            f"The copy models {', '.join(badly)} barely learned their task (dev perplexity above "
            f"half the alphabet size), so their state reflects the initialisation more than "
            "training; longer training"
            + (" (--budget full)" if p != PRESETS["full"] else "")
            + " is the first thing to try. "
        )
    for cell in p.cells:
        widest = runs[f"{cell}-{p.sizes[-1]}"]
        k_half = widest["half_distance"]
        text += (
            f"{CELL_NAMES[cell]} d_h={p.sizes[-1]}: accuracy {widest['accuracy'][0]:.2f} at k=1, "
            f"{widest['accuracy'][-1]:.2f} at k={p.max_len}"
            + (f", below the half-way mark from k={k_half}. " if k_half else ". ")
        )
    fresh = {k: r for k, r in runs.items() if not r["trained"]}
    if fresh:
        text += (
            "At initialisation (untrained): "
            + ", ".join(f"{k} mean {r['mean_accuracy']:.2f}" for k, r in fresh.items())
            + f" (trained d_h={p.sizes[-1]}: "
            + ", ".join(
                f"{CELL_NAMES[c]} {runs[f'{c}-{p.sizes[-1]}']['mean_accuracy']:.2f}"
                for c in p.cells
            )
            + "); the difference is what training added."
        )
    return text.strip()


# --- the experiment -----------------------------------------------------------------------------


def _figures(out: Path, runs: dict[str, dict[str, Any]], p: Preset, chance: float) -> list[dict]:
    distances = list(range(1, p.max_len + 1))
    figures = []
    for cell in p.cells:
        series: dict[str, list[float | None]] = {
            f"d_h={r['d_h']}" + ("" if r["trained"] else " untrained"): r["accuracy"]
            for r in runs.values()
            if r["cell"] == cell
        }
        series["chance"] = [chance] * len(distances)
        styles = {name: "x:" for name in series if name.endswith("untrained")}
        file = f"probe_{cell}.png"
        line_plot(
            out / file,
            distances,
            series,
            "distance k from the end of the source",
            "probe accuracy (held out)",
            f"{CELL_NAMES[cell]}: which token k steps back can a linear probe read from h_S?",
            styles={**styles, "chance": "k--"},
        )
        figures.append(
            {
                "file": file,
                "caption": f"{CELL_NAMES[cell]} encoders: held-out accuracy of a linear probe on "
                "h_S predicting the token at distance k from the end, one line per state size d_h "
                "(dotted: the widest encoder at its initial weights, untrained).",
            }
        )
    file = "probe_by_size.png"
    line_plot(
        out / file,
        list(range(len(p.sizes))),
        {CELL_NAMES[c]: [runs[f"{c}-{d}"]["mean_accuracy"] for d in p.sizes] for c in p.cells},
        "state size d_h",
        "mean probe accuracy over k",
        "What fits through the pipe, by width",
        x_ticklabels=[str(d) for d in p.sizes],
    )
    figures.append(
        {
            "file": file,
            "caption": f"Probe accuracy averaged over k = 1..{p.max_len}, against the state size, "
            "for each cell (trained encoders).",
        }
    )
    return figures


def _table(runs: dict[str, dict[str, Any]], p: Preset) -> dict[str, Any]:
    picks = sorted({1, 2, max(1, p.max_len // 2), p.max_len})
    rows = []
    for key, r in runs.items():
        ppl = "–" if r["dev_ppl"] is None else f"{r['dev_ppl']:.2f}"
        cells = [f"{r['accuracy'][k - 1]:.2f}" for k in picks]
        rows.append(
            [
                key + ("" if r["trained"] else " (untrained)"),
                f"{r['params']:,}",
                ppl,
                *cells,
                f"{r['mean_accuracy']:.2f}",
            ]
        )
    return {
        "caption": "Probe accuracy on h_S for the token at distance k from the end (held out); "
        "dev perplexity of the copy autoencoder the encoder was trained in.",
        "columns": ["encoder", "parameters", "copy dev ppl", *[f"k={k}" for k in picks], "mean"],
        "rows": rows,
    }


def _record(
    cell: str,
    size: int,
    trained: bool,
    translator: Translator,
    run_dir: Path,
    accuracy: list[float],
    chance: float,
) -> dict[str, Any]:
    return {
        "cell": cell,
        "d_h": size,
        "trained": trained,
        "params": parameter_count(translator),
        "dev_ppl": dev_metrics(run_dir)["dev_ppl"] if trained else None,
        "accuracy": accuracy,
        "mean_accuracy": sum(accuracy) / len(accuracy),
        "half_distance": half_distance(accuracy, chance),
    }


def verdicts(runs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The bottleneck: a trained encoder's probe falls halfway to chance at some distance k."""
    trained = {k: r for k, r in runs.items() if r["trained"]}
    if not trained:
        return []
    distances = [
        f"{k} k={r['half_distance']}"
        if r["half_distance"] is not None
        else f"{k} beyond the longest k"
        for k, r in trained.items()
    ]
    measured = "distance from the end at which a probe on h_S falls halfway to chance: "
    measured += ", ".join(distances)
    fades = any(r["half_distance"] is not None for r in trained.values())
    return [
        verdict(
            "bottleneck",
            "a fixed-width state keeps less of what it read longer ago",
            "copy",
            "probe accuracy falls with the distance k from the end",
            measured,
            "yes" if fades else "unclear",
        )
    ]


def run(budget: str, out: Path, progress: LabProgress) -> dict[str, Any]:
    p = preset(PRESETS, budget)
    data = copy_data(out / "data", p)
    rng = random.Random(f"attnlab/lab/capacity/probe/{SEED}")
    probe_lines = (
        random_sources(rng, p.probe_train, p.alphabet, (p.max_len, p.max_len)),
        random_sources(rng, p.probe_test, p.alphabet, (p.max_len, p.max_len)),
    )
    chance = 1.0 / p.alphabet
    train_y, test_y = (probe_labels(lines, p.alphabet) for lines in probe_lines)
    majority = [majority_accuracy(train_y[:, k], test_y[:, k]) for k in range(p.max_len)]
    bar = progress.task("capacity: encoders trained and probed", len(p.cells) * len(p.sizes))
    runs: dict[str, dict[str, Any]] = {}
    for cell in p.cells:
        for size in p.sizes:
            run_dir = out / "runs" / f"{cell}-{size}"
            translator = train_model(
                load_config(None, _overrides(cell, size, data, p)),
                run_dir,
                progress,
                f"{CELL_NAMES[cell]} d_h={size} copy autoencoder",
            )
            accuracy = probe_encoder(translator, probe_lines, p)
            runs[f"{cell}-{size}"] = _record(
                cell, size, True, translator, run_dir, accuracy, chance
            )
            if p.untrained and size == p.sizes[-1]:
                fresh = untrained(translator, cell, size, data, p)
                accuracy = probe_encoder(fresh, probe_lines, p)
                runs[f"{cell}-{size}-untrained"] = _record(
                    cell, size, False, fresh, run_dir, accuracy, chance
                )
            bar.advance(1)
    return {
        "figures": _figures(out, runs, p, chance),
        "tables": [_table(runs, p)],
        "metrics": {
            "runs": runs,
            "distances": list(range(1, p.max_len + 1)),
            "chance": chance,
            "findings": findings(runs, p),
            "majority": sum(majority) / len(majority),
        },
        "verdicts": verdicts(runs),
        "expected": "A fixed-width state cannot hold an unbounded past: probe accuracy falls "
        "with the distance k from the end (the most recent tokens are the easiest to read back) "
        "and rises with the width d_h; gated cells (GRU, LSTM) keep distant tokens better than "
        "the Elman RNN, whose gradients vanish (Bengio et al. 1994; Hochreiter & Schmidhuber "
        "1997). This is the bottleneck that c = h_S puts between encoder and decoder.",
        "reading": _reading(runs, p, chance),
        "config": {"preset": asdict(p)},
    }
