"""`attnlab evaluate` end to end on tiny models trained for a few steps on a reverse task.

The models are barely trained, so the tests check what holds for any weights: the scores are
sacreBLEU's on the model's own translations, the buckets partition the test set, and AER against
gold files built so that its value follows from the sentence lengths alone.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import sacrebleu

from attnlab.config import load_config
from attnlab.data.corpus import read_lines
from attnlab.train import run_training
from attnlab.translate import Translator
from tests.conftest import CliResult

TINY = [
    "model.type=rnn",
    "model.cell=gru",
    "model.embedding_size=16",
    "model.hidden_size=16",
    "training.max_steps=3",
    "training.eval_every=3",
    "training.eval_bleu=false",
    "training.batch_tokens=160",
    "training.num_threads=1",
    "decoding.beam_size=1",
]


def _write_task(folder: Path) -> Path:
    rng = random.Random(0)
    folder.mkdir(parents=True)
    for split, n in [("train", 60), ("dev", 10), ("test", 12)]:
        src = [[f"w{rng.randrange(9)}" for _ in range(rng.randint(1, 7))] for _ in range(n)]
        (folder / f"{split}.src").write_text("".join(" ".join(s) + "\n" for s in src))
        (folder / f"{split}.trg").write_text("".join(" ".join(s[::-1]) + "\n" for s in src))
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Checkpoints of a Bahdanau and a fixed-context GRU, and the test split."""
    root = tmp_path_factory.mktemp("evaluate")
    data = _write_task(root / "data")
    (root / "tiny.yaml").write_text(f"data:\n  dir: {data}\n", encoding="utf-8")
    paths = {"src": data / "test.src", "ref": data / "test.trg", "root": root}
    for context in ("bahdanau", "fixed"):
        config = load_config(root / "tiny.yaml", [*TINY, f"model.context={context}"])
        run_training(config, root / context)
        paths[context] = root / context / "last.pt"
    return paths


def _gold_file(path: Path, src: list[str], ref: list[str], mark: str) -> Path:
    """Every (source word, reference word) pair linked with `mark` ("-" sure, "?" possible)."""
    lines = [
        " ".join(f"{i}{mark}{j}" for i in range(len(s.split())) for j in range(len(r.split())))
        for s, r in zip(src, ref, strict=True)
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_json_scores_buckets_and_aer(runs: dict[str, Path], cli: Callable[..., CliResult]) -> None:
    src, ref = read_lines(runs["src"]), read_lines(runs["ref"])
    all_sure = _gold_file(runs["root"] / "sure.align", src, ref, "-")
    args = ["evaluate", runs["bahdanau"], "--src", runs["src"], "--ref", runs["ref"]]
    result = cli(*args, "--align", all_sure, "--buckets", "2,4", "--json")
    assert result.code == 0, result.err
    out = json.loads(result.out)

    hyps = [t.text for t in Translator.from_checkpoint(runs["bahdanau"]).translate(src)]
    assert out["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [ref]).score)
    assert out["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [ref]).score)
    assert out["signature"]["bleu"].startswith("BLEU: nrefs:1")

    lengths = [len(line.split()) for line in src]
    assert [b["range"] for b in out["buckets"]] == ["1-2", "3-4", "5+"]
    assert [b["n"] for b in out["buckets"]] == [
        sum(n <= 2 for n in lengths),
        sum(3 <= n <= 4 for n in lengths),
        sum(n >= 5 for n in lengths),
    ]
    # Argmax gives exactly one link per reference word (the </s> row dropped), all of them sure:
    # |A| = |A∩S| = |A∩P| = reference words, |S| = sum of n_src * n_ref.
    n_a = sum(len(r.split()) for r in ref)
    n_s = sum(len(s.split()) * len(r.split()) for s, r in zip(src, ref, strict=True))
    assert out["aer"] == pytest.approx(1 - 2 * n_a / (n_a + n_s))


def test_all_possible_gold_gives_zero_aer(
    runs: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    src, ref = read_lines(runs["src"]), read_lines(runs["ref"])
    all_possible = _gold_file(runs["root"] / "possible.align", src, ref, "?")
    result = cli(
        "evaluate",
        runs["bahdanau"],
        "--src",
        runs["src"],
        "--ref",
        runs["ref"],
        "--align",
        all_possible,
        "--json",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out)["aer"] == 0.0  # every link is possible and none is sure


def test_fixed_context_has_no_aer_and_renders(
    runs: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    src, ref = read_lines(runs["src"]), read_lines(runs["ref"])
    gold = _gold_file(runs["root"] / "fixed.align", src, ref, "-")
    args = ["evaluate", runs["fixed"], "--src", runs["src"], "--ref", runs["ref"], "--align", gold]
    as_json = cli(*args, "--json")
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out)["aer"] is None
    shown = cli(*args)
    assert shown.code == 0, shown.err
    assert "BLEU" in shown.out and "51+" in shown.out and "n/a" in shown.out


def test_beam_and_decoding_flags_reach_the_search(
    runs: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    src, ref = read_lines(runs["src"]), read_lines(runs["ref"])
    args = ["evaluate", runs["bahdanau"], "--src", runs["src"], "--ref", runs["ref"], "--json"]
    result = cli(*args, "--beam", "3", "--length-penalty", "2", "--stopping", "exact")
    assert result.code == 0, result.err
    decoding = {"length_penalty": 2.0, "stopping": "exact"}
    translator = Translator.from_checkpoint(runs["bahdanau"], decoding=decoding)
    assert (translator.decoding.length_penalty, translator.decoding.stopping) == (2.0, "exact")
    hyps = [t.text for t in translator.translate(src, beam_size=3)]
    assert json.loads(result.out)["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [ref]).score)
