"""`attnlab translate` end to end: streaming line by line, empty lines, n-best, JSON with
attention, truncation of over-long sources, and one-line errors for bad checkpoints and input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from attnlab.config import load_config
from attnlab.train import run_training
from attnlab.translate import Translator
from tests.conftest import CliResult, assert_one_line_error, write_reverse_task

TINY = [
    "model.embedding_size=16",
    "model.hidden_size=16",
    "model.heads=2",
    "model.ff_size=32",
    "model.max_positions=12",
    "training.max_steps=4",
    "training.eval_every=4",
    "training.eval_bleu=false",
    "training.batch_tokens=160",
    "training.num_threads=1",
]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("translate")
    data = write_reverse_task(root / "data", n_train=60, n_eval=10)
    (root / "tiny.yaml").write_text(f"data:\n  dir: {data}\n", encoding="utf-8")
    paths = {"root": root}
    for kind in ("rnn", "transformer"):
        run_training(load_config(root / "tiny.yaml", [*TINY, f"model.type={kind}"]), root / kind)
        paths[kind] = root / kind / "last.pt"
    return paths


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["rnn", "transformer"])
def test_one_line_out_per_line_in_with_empty_lines_kept(
    ckpts: dict[str, Path], cli: Callable[..., CliResult], kind: str
) -> None:
    source = write(ckpts["root"] / "in.txt", "w1 w2 w3\n\nw4 w5\n   \nw6\n")
    result = cli("translate", ckpts[kind], "--input", source, "--beam", "2")
    assert result.code == 0, result.err
    lines = result.out.split("\n")[:-1]
    assert len(lines) == 5 and lines[1] == "" and lines[3] == ""
    expected = Translator.from_checkpoint(ckpts[kind]).translate(["w1 w2 w3"], beam_size=2)[0].text
    assert lines[0] == expected


def test_batch_composition_does_not_change_a_translation(ckpts: dict[str, Path]) -> None:
    translator = Translator.from_checkpoint(ckpts["transformer"])
    lines = [" ".join(f"w{(i * 7 + k) % 12}" for k in range(1 + i % 9)) for i in range(40)]
    together = [t.text for t in translator.translate(lines, beam_size=3, batch_size=64)]
    alone = [translator.translate([line], beam_size=3)[0].text for line in lines[:8]]
    assert together[:8] == alone


def test_n_best_is_tab_separated_on_one_line(
    ckpts: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    source = write(ckpts["root"] / "nbest.txt", "w1 w2\nw3 w4 w5\n")
    result = cli("translate", ckpts["rnn"], "--input", source, "--beam", "3", "--n-best", "3")
    assert result.code == 0, result.err
    assert [len(line.split("\t")) for line in result.out.splitlines()] == [3, 3]


def test_n_best_defaults_to_the_configs_decoding_n_best(ckpts: dict[str, Path]) -> None:
    translator = Translator.from_checkpoint(ckpts["rnn"])
    assert translator.search_sizes(None, None) == (translator.decoding.beam_size, 1)
    translator.decoding = translator.decoding.model_copy(update={"beam_size": 3, "n_best": 2})
    assert translator.search_sizes(None, None) == (3, 2)
    assert translator.search_sizes(1, None) == (1, 1)  # greedy search: one hypothesis
    assert translator.search_sizes(4, 4) == (4, 4)
    assert [len(t.nbest) for t in translator.translate(["w1 w2", "w3"])] == [2, 2]
    assert [len(t.nbest) for t in translator.translate(["w1 w2"], beam_size=1)] == [1]


def test_json_has_scores_tokens_and_attention_of_the_right_shape(
    ckpts: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    source = write(ckpts["root"] / "json.txt", "w1 w2 w3\n")
    result = cli("translate", ckpts["rnn"], "--input", source, "--json", "--beam", "2")
    record = json.loads(result.out)
    assert record["src"] == "w1 w2 w3" and record["src_tokens"] == ["w1", "w2", "w3"]
    attention = record["attention"]
    assert len(attention) == len(record["trg_tokens"]) + 1
    assert all(len(row) == 3 and abs(sum(row) - 1) < 1e-5 for row in attention)
    assert record["nbest"][0]["translation"] == record["translation"]


def test_over_long_source_is_truncated_with_a_warning(
    ckpts: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    source = write(ckpts["root"] / "long.txt", "w1\n" + " ".join(["w2"] * 30) + "\n")
    result = cli("translate", ckpts["transformer"], "--input", source)
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 2
    assert "long.txt:2: source truncated to 12 tokens" in result.err


def test_stdin_streams_and_invalid_utf8_names_the_line(ckpts: dict[str, Path]) -> None:
    cmd = [sys.executable, "-m", "attnlab", "translate", str(ckpts["rnn"]), "--beam", "1"]
    ok = subprocess.run(cmd, input=b"w1 w2\n\nw3\n", capture_output=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.count(b"\n") == 3
    bad = subprocess.run(cmd, input=b"w1 w2\nw3 \xff\n", capture_output=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.decode().strip() == "attnlab: error: <stdin>:2: invalid UTF-8 (byte 3)"


def test_bad_checkpoints_and_flags(ckpts: dict[str, Path], cli: Callable[..., CliResult]) -> None:
    root = ckpts["root"]
    source = write(root / "in2.txt", "w1\n")
    (root / "corrupt.pt").write_bytes(ckpts["rnn"].read_bytes()[:2000])
    cases = [
        (["translate", root / "missing.pt", "--input", source], "no such checkpoint"),
        (["translate", root, "--input", source], "is a directory"),
        (["translate", root / "corrupt.pt", "--input", source], "truncated or corrupt"),
        (["translate", ckpts["rnn"], "--input", root / "nope.txt"], "nope.txt"),
        (
            ["translate", ckpts["rnn"], "--input", source, "--beam", "2", "--n-best", "3"],
            "--n-best",
        ),
    ]
    for args, fragment in cases:
        assert_one_line_error(cli(*args), fragment)


def test_length_penalty_flag_reaches_beam_search(
    ckpts: dict[str, Path], cli: Callable[..., CliResult]
) -> None:
    """score = log P(Y) / ((5 + |Y|) / 6) ** alpha, |Y| = words + </s>: a hypothesis in the
    n-best lists of alpha 0 and alpha 2 has scores that differ by exactly that factor."""
    lines = [" ".join(f"w{(3 * i + k) % 12}" for k in range(2 + i % 5)) for i in range(8)]
    source = write(ckpts["root"] / "alpha.txt", "\n".join(lines) + "\n")
    nbest = {}
    for alpha in ("0", "2"):
        args = ["translate", ckpts["rnn"], "--input", source, "--beam", "4", "--n-best", "4"]
        result = cli(*args, "--json", "--length-penalty", alpha)
        assert result.code == 0, result.err
        records = [json.loads(line)["nbest"] for line in result.out.splitlines()]
        nbest[alpha] = [{h["translation"]: h["score"] for h in hyps} for hyps in records]
    compared = 0
    for plain, penalised in zip(nbest["0"], nbest["2"], strict=True):
        for text in plain.keys() & penalised.keys():
            lp = ((5 + len(text.split()) + 1) / 6) ** 2
            assert penalised[text] == pytest.approx(plain[text] / lp, rel=1e-5)
            compared += bool(text)
    assert compared > 0, "no non-empty hypothesis in both lists: choose other lines"
    translator = Translator.from_checkpoint(ckpts["rnn"], decoding={"length_penalty": 2.0})
    api = translator.translate(lines, beam_size=4, n_best=4)
    assert [dict(t.nbest) for t in api] == nbest["2"]


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--length-penalty", "-0.5"], "decoding.length_penalty: must be >= 0.0 (got -0.5)"),
        (["--length-penalty", "nan"], "decoding.length_penalty: input should be a finite number"),
        (["--length-penalty", "inf"], "decoding.length_penalty: input should be a finite number"),
        (["--stopping", "early"], "decoding.stopping: must be one of 'heuristic' or 'exact'"),
    ],
)
def test_bad_decoding_options_are_one_line_errors(
    ckpts: dict[str, Path], cli: Callable[..., CliResult], option: list[str], fragment: str
) -> None:
    source = write(ckpts["root"] / "in3.txt", "w1\n")
    assert_one_line_error(cli("translate", ckpts["rnn"], "--input", source, *option), fragment)
