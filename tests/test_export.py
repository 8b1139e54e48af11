"""`attnlab export --to ctranslate2`: the exported folder translates on its own (its translate.py
needs only ctranslate2 and sentencepiece) with greedy output equal to `attnlab translate --beam 1`;
RNNs and existing folders get one-line errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, assert_one_line_error
from tests.tiny_models import train_tiny

# pre-LN, sinusoidal positions, words; post-LN, learned positions, tied output, SentencePiece
VARIANTS = {
    "pre-sinusoidal-word": ["model.type=transformer"],
    "post-learned-tied-spm": [
        "model.type=transformer",
        "model.norm=post",
        "model.positional=learned",
        "model.tie_embeddings=true",
        "data.tokenizer=sentencepiece",
        "data.sp_vocab_size=20",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_ctranslate2_greedy_equals_attnlab_greedy_on_every_test_sentence(
    tmp_path: Path, cli: Callable[..., CliResult], variant: str
) -> None:
    pytest.importorskip("ctranslate2")
    ckpt = train_tiny(tmp_path, variant, 200, VARIANTS[variant])
    test_src = tmp_path / "data" / "test.src"
    # an empty line and a source longer than the position table (24) take the special paths
    lines = [*test_src.read_text(encoding="utf-8").splitlines(), "", " ".join(["w3 w1"] * 15)]
    source = tmp_path / "input.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ct2"
    result = cli("export", ckpt, "--to", "ctranslate2", "--out", out)
    assert result.code == 0, result.err
    assert {"model.bin", "config.json", "attnlab.json", "translate.py", "README.txt"} <= {
        p.name for p in out.iterdir()
    }
    if "spm" in variant:
        assert (out / "source.spm").is_file() and (out / "target.spm").is_file()
    assert "attnlab" not in (out / "translate.py").read_text(encoding="utf-8").split('"""')[2]

    ours = cli("translate", ckpt, "--beam", "1", "--input", source)
    assert ours.code == 0, ours.err
    with source.open("rb") as stdin:  # from another folder: the script finds its files itself
        theirs = subprocess.run(
            [sys.executable, str(out / "translate.py")],
            stdin=stdin,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path / "data",
        )
    assert theirs.stdout.splitlines() == ours.out.splitlines()
    assert len(ours.out.splitlines()) == len(lines)
    # the outputs are varied sentences, so the comparison tests more than a degenerate model
    assert len(set(ours.out.splitlines())) > len(lines) // 2


def test_rnn_checkpoint_is_refused_in_one_line(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    ckpt = train_tiny(tmp_path, "rnn", 2, ["model.type=rnn"])
    result = cli("export", ckpt, "--to", "ctranslate2", "--out", tmp_path / "out")
    assert_one_line_error(result, "CTranslate2 has no RNN decoder")
    assert not (tmp_path / "out").exists()


def test_a_non_empty_out_folder_is_never_overwritten(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    result = cli("export", tmp_path / "any.pt", "--to", "ctranslate2", "--out", out)
    assert_one_line_error(result, str(out), "not overwriting")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_unknown_target_is_a_one_line_error(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    result = cli("export", tmp_path / "any.pt", "--to", "onnx", "--out", tmp_path / "out")
    assert_one_line_error(result, "--to", "ctranslate2")
