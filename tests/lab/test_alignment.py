"""alignment: the baselines and measures by hand, uniform attention through the model's own
attention slot, and run() on the seconds-long "test" preset."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from attnlab.config import DecodingConfig, load_config
from attnlab.data.tokenize import WordTokenizer
from attnlab.data.vocab import Vocab
from attnlab.lab import alignment, nt_alignment, real
from attnlab.lab.common import LabProgress, read_split
from attnlab.models.build import build_model
from attnlab.translate import Translator
from attnlab.word_alignment import aer, read_pharaoh


def test_diagonal_alignment_by_hand() -> None:
    # S = 3, T = 4: j S / T = 0, 0.75, 1.5, 2.25 -> 0, 1, 2, 2 (halves round up)
    assert alignment.diagonal_alignment(3, 4) == {(0, 0), (1, 1), (2, 2), (2, 3)}
    # S = 4, T = 2: 0, 2
    assert alignment.diagonal_alignment(4, 2) == {(0, 0), (2, 1)}
    assert alignment.diagonal_alignment(0, 3) == set()
    assert len(alignment.every_link(3, 4)) == 12


def test_diagonal_is_perfect_on_a_monotonic_one_to_one_corpus() -> None:
    split = alignment.Split(["a b c", "a b"], ["x y z", "x y"])
    gold = [({(0, 0), (1, 1), (2, 2)}, set()), ({(0, 0), (1, 1)}, set())]
    baselines = alignment.baseline_aer(split, gold)
    assert baselines["diagonal_aer"] == 0.0
    # every link: |A| = 9 + 4, |S| = 5, |A & S| = |A & P| = 5 -> 1 - 10 / 18
    assert baselines["uniform_aer"] == pytest.approx(1 - 10 / 18)


def test_row_entropy_uniform_one_hot_and_empty() -> None:
    uniform = torch.full((2, 4), 0.25)
    one_hot = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    entropy, reference = alignment.row_entropy([uniform])
    assert entropy == pytest.approx(math.log(4)) and reference == pytest.approx(math.log(4))
    entropy, reference = alignment.row_entropy([one_hot, torch.zeros(0, 0)])
    assert entropy == pytest.approx(0.0) and reference == pytest.approx(math.log(2))
    # rows are pooled: (log 4 + log 4 + 0 + 0) / 4
    entropy, _ = alignment.row_entropy([uniform, one_hot])
    assert entropy == pytest.approx(math.log(4) / 2)


def test_uniform_attention_weights_and_context_are_the_mean_of_real_states() -> None:
    values = torch.arange(2 * 3 * 2, dtype=torch.float).view(2, 3, 2)  # (B, S, H)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    query = torch.zeros(2, 4, 5)  # (B, T, Hq)
    context, weights = alignment.UniformAttention()(query, values, values, mask, None)
    assert weights.shape == (2, 4, 3)
    assert torch.allclose(weights[0], torch.full((4, 3), 1 / 3))
    assert torch.allclose(weights[1], torch.tensor([[0.5, 0.5, 0.0]] * 4))
    assert torch.allclose(context[0], values[0].mean(dim=0).expand(4, 2))
    assert torch.allclose(context[1], values[1, :2].mean(dim=0).expand(4, 2))


def _translator(context: str) -> Translator:
    config = load_config(
        None, [f"model.context={context}", "model.hidden_size=8", "model.embedding_size=8"]
    )
    vocab = Vocab.build([["a", "b", "c"]])
    model = build_model(config.model, len(vocab), len(vocab)).eval()
    tokenizer = WordTokenizer(lowercase=False)
    return Translator(model, tokenizer, tokenizer, vocab, vocab, DecodingConfig(), None)


def test_uniform_variant_shares_the_trained_parts_and_attends_uniformly() -> None:
    translator = _translator("bahdanau")
    uniform = alignment.with_uniform_attention(translator)
    assert uniform is not None
    original, swapped = translator.model, uniform.model
    assert swapped.encoder is original.encoder
    assert swapped.decoder.rnn is original.decoder.rnn
    assert swapped.decoder.output is original.decoder.output
    [t] = uniform.translate(["a b c"], beam_size=1)
    assert torch.allclose(t.attention, torch.full_like(t.attention, 1 / 3))
    [learned] = translator.translate(["a b c"], beam_size=1)
    assert not torch.allclose(learned.attention, torch.full_like(learned.attention, 1 / 3))
    assert alignment.with_uniform_attention(_translator("fixed")) is None
    assert alignment.with_uniform_attention(_translator("luong")) is None


def test_run_on_the_test_preset_writes_figures_and_documented_keys(tmp_path: Path) -> None:
    result = alignment.run("test", tmp_path, LabProgress(None))
    assert {"figures", "tables", "metrics", "expected", "reading", "config"} <= set(result)
    json.dumps(result)  # results.json must be able to hold all of it
    files = [f["file"] for f in result["figures"]]
    assert {
        "aer_translation.png",
        "aer_nt-grc-en.png",
        "heatmap_translation_1.png",
        "heatmap_nt-grc-en_1.png",
    } <= set(files)
    for file in files:
        assert (tmp_path / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = alignment.PRESETS["test"]
    synthetic, nt = result["metrics"]["translation"], result["metrics"]["nt-grc-en"]
    assert set(synthetic["models"]) == set(p.models)
    assert set(nt["models"]) == set(p.nt.models)
    assert nt["n_test"] == p.nt.test and nt["n_dev"] == p.nt.dev
    assert synthetic["n_test"] == p.sizes[2]
    for corpus in (synthetic, nt):
        for m in corpus["models"].values():
            assert 0.0 <= m["aer"] <= 1.0
            assert 0.0 <= m["entropy"] <= m["uniform_entropy"] + 1e-6
    for m in synthetic["models"].values():
        assert m["aer"] == m["aer_per_layer"][-1]
    readings = nt["models"]["GRU+Bahdanau"]["readings"]
    assert set(readings) == {
        "grc-en plain",
        "grc-en shift",
        "en-grc plain",
        "en-grc shift",
        "symmetrised",
    }
    best = nt["models"]["GRU+Bahdanau"]["best"]
    assert readings[best]["dev_aer"] == min(r["dev_aer"] for r in readings.values())
    assert nt["models"]["GRU+Bahdanau"]["aer"] == readings[best]["aer"]
    # two training steps: below the floor, greyed, and no evidence in the verdicts
    assert not nt["models"]["GRU+Bahdanau"]["evidence"]
    nt_table = result["tables"][1]
    assert nt_table["greyed"] and all(
        nt_table["rows"][k][0].startswith("GRU+Bahdanau") for k in nt_table["greyed"]
    )
    real_verdicts = [v for v in result["verdicts"] if v["corpus"] == "nt-grc-en"]
    assert real_verdicts and not any(v["evidence"] for v in real_verdicts)
    for key in ("ibm1_gdfa_aer", "fast_align_aer", "fast_align_gdfa_aer"):
        assert 0.0 <= nt[key] <= 1.0
    assert len(synthetic["models"]["Transformer"]["aer_per_layer"]) == 2
    assert 0.0 <= nt["ibm1_aer"] <= 1.0 and 0.0 <= nt["ibm1_transductive_aer"] <= 1.0
    # the diagonal baseline recomputed from the files the experiment wrote
    data = tmp_path / "data" / "translation"
    test, gold = read_split(data, "test"), read_pharaoh(data / "test.align")
    diagonal = [
        alignment.diagonal_alignment(len(s.split()), len(t.split()))
        for s, t in zip(test.src, test.ref, strict=True)
    ]
    assert synthetic["diagonal_aer"] == pytest.approx(aer(diagonal, gold))
    uniform = result["metrics"]["uniform_attention"]
    assert uniform["model"] == "GRU+Bahdanau" and uniform["bleu_uniform"] >= 0.0
    # one verdict a model and corpus, against IBM Model 1 on the NT; one for uniform weights
    cited = sorted((v["question"], v["corpus"]) for v in result["verdicts"])
    assert cited == sorted(
        [("attention", "translation")] * len(p.models)
        + [("attention", "nt-grc-en")] * len(p.nt.models)
        + [("uniform", "translation")]
    )
    nt_verdict = next(v for v in result["verdicts"] if v["corpus"] == "nt-grc-en")
    assert nt_verdict["holds"] == (
        "yes" if nt["models"]["GRU+Bahdanau"]["aer"] <= nt["ibm1_aer"] else "no"
    )
    assert [t["columns"][0] for t in result["tables"]] == ["aligner", "aligner"]


@pytest.mark.slow
def test_ibm1_on_the_real_greek_english_data_beats_the_diagonal(tmp_path: Path) -> None:
    from attnlab.analysis.ibm1 import train_ibm1, viterbi_alignment
    from attnlab.data.builtin import write_builtin

    write_builtin("nt-grc-en", tmp_path)
    train, test = read_split(tmp_path, "train"), read_split(tmp_path, "test")
    gold = read_pharaoh(tmp_path / "test.align")
    model = train_ibm1(
        [s.lower().split() for s in train.src], [t.lower().split() for t in train.ref], iterations=5
    )
    predicted = [
        viterbi_alignment(model, s.lower().split(), t.lower().split())
        for s, t in zip(test.src, test.ref, strict=True)
    ]
    assert aer(predicted, gold) < alignment.baseline_aer(test, gold)["diagonal_aer"] - 0.05


def test_nt_models_without_steps_come_only_from_reuse(tmp_path: Path, monkeypatch) -> None:
    trained = alignment.run("test", tmp_path / "first", LabProgress(None))["metrics"]["nt-grc-en"]
    reuse = tmp_path / "models"
    for direction in (nt_alignment.FORWARD, nt_alignment.REVERSE):
        (reuse / direction / "gru-bahdanau").mkdir(parents=True)
        shutil.copy(
            tmp_path / "first" / "runs" / f"{direction}-gru-bahdanau" / "best.pt",
            reuse / direction / "gru-bahdanau" / "best.pt",
        )
    p = alignment.PRESETS["test"]
    monkeypatch.setitem(
        alignment.PRESETS, "test", replace(p, nt=replace(p.nt, budget=real.TrainingBudget(0)))
    )

    untrained = alignment.run("test", tmp_path / "second", LabProgress(None))
    nt = untrained["metrics"]["nt-grc-en"]
    assert nt["models"] == {} and "not_trained" in nt
    assert not (tmp_path / "second" / "runs" / "nt-grc-en-gru-bahdanau").exists()
    assert not [v for v in untrained["verdicts"] if v["corpus"] == "nt-grc-en"]
    assert 0.0 <= nt["ibm1_aer"] <= 1.0  # the baselines still run

    reused = alignment.run("test", tmp_path / "third", LabProgress(None), reuse=reuse)
    model = reused["metrics"]["nt-grc-en"]["models"]["GRU+Bahdanau"]
    assert model["sources"][nt_alignment.FORWARD] == str(
        reuse / nt_alignment.FORWARD / "gru-bahdanau" / "best.pt"
    )
    assert model["aer"] == pytest.approx(trained["models"]["GRU+Bahdanau"]["aer"])
    assert "not_trained" not in reused["metrics"]["nt-grc-en"]


def _aligned(aer_value: float, bleu: float, evidence: bool = True) -> dict:
    return {"aer": aer_value, "bleu": bleu, "evidence": evidence, "best": "symmetrised"}


def test_the_ibm1_gap_is_explained_from_the_runs_own_numbers() -> None:
    synthetic = {
        "models": {"GRU+Bahdanau": _aligned(0.12, 99.1), "Transformer": _aligned(0.2, 91.6)}
    }
    real_corpus = {
        "ibm1_aer": 0.59,
        "models": {"GRU+Bahdanau": _aligned(0.77, 5.4), "Transformer": _aligned(0.742, 6.1)},
    }
    reading = alignment.ibm1_gap_reading(real_corpus, synthetic)
    assert "Transformer's (symmetrised), has AER 0.742 against IBM Model 1's 0.590" in reading
    assert "at BLEU 6.1" in reading
    assert "(BLEU 91.6-99.1)" in reading and "AER 0.120-0.200" in reading
    # a reading below IBM Model 1 needs no explanation, counted or not
    for evidence in (True, False):
        real_corpus["models"]["GRU+Bahdanau"] = _aligned(0.5, 5.4, evidence)
        assert alignment.ibm1_gap_reading(real_corpus, synthetic) == ""
    # no models (nothing trained or reused): nothing to explain
    assert alignment.ibm1_gap_reading({"ibm1_aer": 0.59, "models": {}}, synthetic) == ""


def _nt_readings(dev: dict[str, float]) -> dict[str, dict]:
    found = {k: {"layer": 0, "dev_aer": v, "aer": v + 0.01} for k, v in dev.items()}
    found["symmetrised"]["of"] = ["grc-en plain", "en-grc shift"]
    found["symmetrised"]["layer"] = None
    return found


def test_a_reading_counts_when_the_models_it_reads_pass_the_floor() -> None:
    dev = {"grc-en plain": 0.70, "grc-en shift": 0.75, "en-grc plain": 0.72}
    found = _nt_readings({**dev, "en-grc shift": 0.74, "symmetrised": 0.65})
    trained = {nt_alignment.FORWARD: True, nt_alignment.REVERSE: False}
    nt_alignment.mark_evidence(found, trained)
    assert {k: r["evidence"] for k, r in found.items()} == {
        "grc-en plain": True,
        "grc-en shift": True,
        "en-grc plain": False,
        "en-grc shift": False,
        "symmetrised": False,  # it reads the English->Greek model too
    }
    # lowest on dev among the counted readings, though "symmetrised" is lower still
    assert nt_alignment.best_reading(found) == "grc-en plain"
    nt_alignment.mark_evidence(found, dict.fromkeys(trained, False))
    assert nt_alignment.best_reading(found) == "symmetrised"  # none counts: the lowest of all
    nt_alignment.mark_evidence(found, dict.fromkeys(trained, True))
    assert all(r["evidence"] for r in found.values())


def test_readings_of_a_model_below_the_floor_are_greyed_and_named() -> None:
    found = _nt_readings(
        {
            "grc-en plain": 0.70,
            "grc-en shift": 0.75,
            "en-grc plain": 0.72,
            "en-grc shift": 0.74,
            "symmetrised": 0.65,
        }
    )
    nt_alignment.mark_evidence(found, {nt_alignment.FORWARD: True, nt_alignment.REVERSE: False})
    model = {
        "params": 10,
        "bleu": 5.1,
        "bleu_reverse": 1.7,
        "readings": found,
        "best": "grc-en plain",
        "aer": 0.71,
        "evidence": True,
        "entropy": 1.0,
        "uniform_entropy": 2.0,
        "aer_per_layer": [0.71],
    }
    result = {
        "n_test": 3,
        "n_dev": 2,
        "diagonal_aer": 0.74,
        "uniform_aer": 0.9,
        "ibm1_aer": 0.59,
        "ibm1_gdfa_aer": 0.53,
        "fast_align_aer": 0.5,
        "fast_align_gdfa_aer": 0.45,
        "models": {"Transformer": model},
    }
    table = alignment._table("nt-grc-en", result)
    greyed = {table["rows"][k][0] for k in table["greyed"]}
    names = {"Transformer en-grc plain", "Transformer en-grc shift", "Transformer symmetrised"}
    assert greyed == names
    reading = alignment._corpus_reading("nt-grc-en", result)
    assert "Transformer: AER 0.710 (reading chosen on dev: grc-en plain), below the diagonal" in (
        reading
    )
    assert "NOT below IBM Model 1; BLEU 5.1 Greek->English, 1.7 English->Greek" in reading
    assert "not counted, a model below 5: en-grc plain, en-grc shift, symmetrised." in reading
    # neither direction counted: the model is named with both BLEUs, no AER claimed
    nt_alignment.mark_evidence(found, {nt_alignment.FORWARD: False, nt_alignment.REVERSE: False})
    model.update(evidence=False, bleu=4.3)
    reading = alignment._corpus_reading("nt-grc-en", result)
    assert "Transformer: not counted, BLEU 4.3 Greek->English, 1.7 English->Greek, below 5" in (
        reading
    )
    assert "Transformer: AER" not in reading
