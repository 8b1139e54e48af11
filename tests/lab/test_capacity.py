"""capacity: probe data by hand, h_S read from the encoder, and run() on the "test" preset."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from attnlab.config import DecodingConfig, load_config
from attnlab.data.tokenize import WordTokenizer
from attnlab.data.vocab import Vocab
from attnlab.lab import capacity
from attnlab.lab.common import LabProgress
from attnlab.models.build import build_model
from attnlab.translate import Translator


def test_probe_labels_count_back_from_the_end() -> None:
    labels = capacity.probe_labels(["s00 s01 s02", "s02 s02 s01"], alphabet=3)
    assert labels.tolist() == [[2, 1, 0], [1, 2, 2]]  # column k - 1: the token k from the end


def test_random_sources_use_the_alphabet_and_lengths() -> None:
    lines = capacity.random_sources(random.Random(0), 50, 4, (2, 5))
    assert all(2 <= len(line.split()) <= 5 for line in lines)
    assert {w for line in lines for w in line.split()} <= set(capacity.symbols(4))


def test_half_distance() -> None:
    # chance 0.2: half way to 1 is 0.6
    assert capacity.half_distance([1.0, 0.7, 0.59, 0.9], 0.2) == 3
    assert capacity.half_distance([1.0, 0.7], 0.2) is None


def test_final_states_are_the_encoders_last_state() -> None:
    config = load_config(
        None,
        [
            "model.context=fixed",
            "model.bidirectional=false",
            "model.hidden_size=6",
            "model.embedding_size=4",
        ],
    )
    vocab = Vocab.build([capacity.symbols(3)])
    model = build_model(config.model, len(vocab), len(vocab)).eval()
    tokenizer = WordTokenizer(lowercase=False)
    translator = Translator(model, tokenizer, tokenizer, vocab, vocab, DecodingConfig(), None)
    lines = ["s00 s01 s02", "s02 s02 s01", "s01 s00 s00"]
    states = capacity.final_states(translator, lines, batch_size=2)
    assert states.shape == (3, 6)
    src = torch.tensor([vocab.encode(line.split()) for line in lines])
    with torch.no_grad():
        embedded = model.encoder.embedding(src)  # (N, S, E)
        outputs, _ = model.encoder.rnn(embedded)  # (N, S, H), the GRU read left to right
    assert torch.allclose(states, outputs[:, -1], atol=1e-6)


def test_run_on_the_test_preset_writes_figures_and_documented_keys(tmp_path: Path) -> None:
    result = capacity.run("test", tmp_path, LabProgress(None))
    assert {"figures", "tables", "metrics", "expected", "reading", "config"} <= set(result)
    json.dumps(result)
    p = capacity.PRESETS["test"]
    files = [f["file"] for f in result["figures"]]
    assert files == [*(f"probe_{c}.png" for c in p.cells), "probe_by_size.png"]
    for file in files:
        assert (tmp_path / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = result["metrics"]
    assert metrics["distances"] == list(range(1, p.max_len + 1))
    assert metrics["chance"] == pytest.approx(1 / p.alphabet)
    expected = {f"{c}-{d}" for c in p.cells for d in p.sizes}
    expected |= {f"{c}-{p.sizes[-1]}-untrained" for c in p.cells}
    assert set(metrics["runs"]) == expected
    for run in metrics["runs"].values():
        assert len(run["accuracy"]) == p.max_len
        assert all(0.0 <= a <= 1.0 for a in run["accuracy"])
        assert run["mean_accuracy"] == pytest.approx(sum(run["accuracy"]) / p.max_len)
        assert (run["dev_ppl"] is None) == (not run["trained"])
    # the last token is in plain view of h_S even after 3 steps of training
    assert all(r["accuracy"][0] > 2 * metrics["chance"] for r in metrics["runs"].values())
    assert len(result["tables"][0]["rows"]) == len(expected)
    assert metrics["findings"] == capacity.findings(metrics["runs"], p)


def _run(cell: str, d_h: int, accuracy: list[float], trained: bool = True) -> dict:
    return {
        "cell": cell,
        "d_h": d_h,
        "trained": trained,
        "params": 1,
        "dev_ppl": 2.0 if trained else None,
        "accuracy": accuracy,
        "mean_accuracy": sum(accuracy) / len(accuracy),
        "half_distance": capacity.half_distance(accuracy, 0.25),
    }


def test_findings_name_what_holds_and_what_does_not() -> None:
    p = capacity.Preset(("gru",), (8, 16), 4, 3, 10, 1, 10, 10, 10, 1, True)
    runs = {
        "gru-8": _run("gru", 8, [0.9, 0.5, 0.3]),  # recency
        "gru-16": _run("gru", 16, [0.6, 0.5, 0.95]),  # primacy: the first token kept best
        "gru-16-untrained": _run("gru", 16, [1.0, 0.4, 0.3], trained=False),
    }
    # means 0.57 -> 0.68: wider keeps more; gru-16 does not fall with k
    assert capacity.findings(runs, p) == {
        "falls_with_k": {"gru-8": True, "gru-16": False},
        "grows_with_width": {"gru": True},
        "primacy": ["gru-16"],
        "untrained_recency": {"gru-16-untrained": True},
    }
    runs["gru-16"] = _run("gru", 16, [0.55, 0.45, 0.4])  # mean 0.47 < 0.57: narrower keeps more
    found = capacity.findings(runs, p)
    assert found["falls_with_k"] == {"gru-8": True, "gru-16": True} and found["primacy"] == []
    assert found["grows_with_width"] == {"gru": False}


def test_verdict_is_structured_and_counts_only_trained_encoders() -> None:
    runs = {
        "gru-16": {"trained": True, "half_distance": 3},
        "gru-128": {"trained": True, "half_distance": None},
        "gru-16-untrained": {"trained": False, "half_distance": 1},
    }
    [v] = capacity.verdicts(runs)
    assert (v["question"], v["corpus"], v["real"], v["holds"]) == (
        "bottleneck",
        "copy",
        False,
        "yes",
    )
    assert "untrained" not in v["measured"]
    runs["gru-16"]["half_distance"] = None
    assert capacity.verdicts(runs)[0]["holds"] == "unclear"
    assert capacity.verdicts({}) == []
