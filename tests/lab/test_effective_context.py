"""effective-context: the language model's pieces by hand, and the experiment on its test preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attnlab.analysis.lm import (
    LSTMLanguageModel,
    batchify,
    context_windows,
    drop_far,
    next_word_loss,
    shuffle_far,
    train_language_model,
)
from attnlab.data.vocab import EOS_ID, UNK_ID, Vocab
from attnlab.lab import effective_context
from attnlab.lab.common import LabProgress


def test_batchify_cuts_rows_and_drops_the_tail() -> None:
    rows = batchify(torch.arange(11), 3)
    assert torch.equal(rows, torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]]))


def test_context_windows_are_the_words_before_each_target() -> None:
    stream = torch.arange(100, 110)
    contexts, targets = context_windows(stream, torch.tensor([3, 9]), 3)
    assert torch.equal(contexts, torch.tensor([[100, 101, 102], [106, 107, 108]]))
    assert torch.equal(targets, torch.tensor([103, 109]))


def test_shuffle_far_keeps_the_nearest_k_and_the_far_words() -> None:
    contexts = torch.arange(40).view(2, 20)
    shuffled = shuffle_far(contexts, 5, torch.Generator().manual_seed(0))
    assert torch.equal(shuffled[:, -5:], contexts[:, -5:])
    for row, original in zip(shuffled, contexts, strict=True):
        assert sorted(row[:15].tolist()) == original[:15].tolist()  # same words ...
    assert not torch.equal(shuffled[:, :15], contexts[:, :15])  # ... in another order
    assert torch.equal(shuffle_far(contexts, 20, torch.Generator()), contexts)


def test_drop_far_keeps_only_the_nearest_k() -> None:
    contexts = torch.arange(10).view(2, 5)
    assert torch.equal(drop_far(contexts, 2), torch.tensor([[3, 4], [8, 9]]))
    assert torch.equal(drop_far(contexts, 9), contexts)


def test_next_word_loss_equals_the_full_forward_at_the_last_position() -> None:
    torch.manual_seed(0)
    model = LSTMLanguageModel(12, 4, 6, 2, dropout=0.5)
    contexts, targets = torch.randint(0, 12, (5, 7)), torch.randint(0, 12, (5,))
    model.eval()
    logits, _ = model(contexts, None)
    expected = torch.nn.functional.cross_entropy(logits[:, -1], targets).item()
    model.train()
    assert next_word_loss(model, contexts, targets, batch_size=2) == pytest.approx(expected)
    assert model.training  # mode restored


def test_a_language_model_learns_a_periodic_stream() -> None:
    torch.manual_seed(0)
    model = LSTMLanguageModel(8, 8, 16, 1, dropout=0.0)
    rows = batchify(torch.arange(4, 8).repeat(100), 4)  # 4 5 6 7 4 5 6 7 ...
    losses = train_language_model(model, rows, bptt=8, steps=120, lr=1e-2, advance=lambda n: None)
    assert losses[-1] < 0.1 < losses[0]


def test_effective_context_is_the_first_k_that_stays_below_the_threshold() -> None:
    ks = (1, 2, 5, 10)
    assert effective_context.effective_context(ks, [0.5, 0.004, 0.2, 0.001], 1.0) == 10
    assert effective_context.effective_context(ks, [0.5, 0.2, 0.009, 0.0], 1.0) == 5
    assert effective_context.effective_context(ks, [0.5, 0.2, 0.1, 0.05], 1.0) is None


def test_words_and_stream() -> None:
    assert effective_context.words("L'abîme, dit-il.") == [
        "l",
        "'",
        "abîme",
        ",",
        "dit",
        "-",
        "il",
        ".",
    ]
    vocab = Vocab.build([["a", "b", "a"]])
    stream = effective_context.token_stream(["A b", "c"], vocab)
    assert stream.tolist() == [vocab.stoi["a"], vocab.stoi["b"], EOS_ID, UNK_ID, EOS_ID]


def test_run_on_the_test_preset_writes_figures_and_documented_keys(tmp_path: Path) -> None:
    result = effective_context.run("test", tmp_path, LabProgress(None))
    assert {"figures", "tables", "metrics", "expected", "reading", "config"} <= set(result)
    for figure in result["figures"]:
        assert (tmp_path / figure["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ks = effective_context.BUDGETS["test"].ks
    for perturbation in ("shuffle", "drop"):
        increase = result["metrics"]["increase"][perturbation]
        assert list(increase) == list(ks)
        assert increase[ks[-1]] == pytest.approx(0.0, abs=1e-9)  # k = L changes nothing
    assert len(result["tables"][0]["rows"]) == len(ks)
    assert set(result["metrics"]["findings"]) == {"bounded", "order_matters_at"}
    json.dumps(result)


def test_findings_name_what_disagrees_with_the_expectation() -> None:
    s = effective_context.BUDGETS["quick"]._replace(ks=(1, 10, 100))
    good = effective_context.findings(
        {"shuffle": [0.4, 0.01, 0.0], "drop": [2.0, 0.0, 0.0]},
        {"shuffle": 10, "drop": 10},
        4.0,
        s,
    )
    assert good == {"bounded": True, "order_matters_at": []}  # 0.01 < 1% of 4.0
    bad = effective_context.findings(
        {"shuffle": [0.4, 0.3, 0.0], "drop": [2.0, 0.1, 0.0]},
        {"shuffle": None, "drop": None},
        4.0,
        s,
    )
    assert bad == {"bounded": False, "order_matters_at": [10]}  # 0.3 > 0.1 + 0.04


def test_verdict_is_structured() -> None:
    [v] = effective_context.verdicts({"drop": 40, "shuffle": None})
    assert (v["question"], v["corpus"], v["real"], v["holds"]) == (
        "bottleneck",
        "bible-en-fr",
        True,
        "yes",
    )
    assert effective_context.verdicts({"drop": None, "shuffle": None})[0]["holds"] == "unclear"
