"""Tests for attnlab.evaluate: the rendering and the command's input errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from attnlab.evaluate import render_evaluation
from attnlab.metrics import bucket_scores, corpus_scores, parse_buckets
from tests.conftest import CliResult, assert_one_line_error

HYPS = ["The cat sat on the mat.", "A dog barks!", "It is raining today, isn't it?", "Yes."]
REFS = ["The cat sat on a mat.", "The dog barks!", "It rains today, doesn't it?", "Yes."]

# --- rendering ----------------------------------------------------------------------------------


def test_render_evaluation_shows_scores_buckets_and_aer() -> None:
    result = corpus_scores(HYPS, REFS)
    result["buckets"] = bucket_scores([1, 2, 30, 1], HYPS, REFS, parse_buckets("10,20"))
    result.update(aer=0.25, aer_per_layer=[0.5, 0.25])
    console = Console(record=True, width=120)
    render_evaluation(result, console)
    text = console.export_text()
    assert f"BLEU {result['bleu']:.2f}" in text
    assert "tok:13a" in text and "chrF2: nrefs:1" in text
    assert "1-10" in text and "21+" in text and "–" in text  # the empty 11-20 bucket
    assert "AER 0.250" in text and "decoder layer 1: AER 0.500" in text


# --- the command line: input errors found before any checkpoint is read ------------------------


def _files(tmp_path: Path, **texts: str) -> dict[str, Path]:
    paths = {}
    for name, text in texts.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text, encoding="utf-8")
    return paths


def test_cli_line_count_mismatch_names_files(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    f = _files(tmp_path, src="a b\nc\n", ref="x\n")
    result = cli("evaluate", tmp_path / "absent.pt", "--src", f["src"], "--ref", f["ref"])
    assert_one_line_error(result, str(f["ref"]), "1 lines, but", str(f["src"]))


def test_cli_alignment_errors(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    f = _files(tmp_path, src="a b\nc\n", ref="x y\nz\n", short="0-0\n", bad="0-0\n0-x\n")
    args = ("evaluate", tmp_path / "absent.pt", "--src", f["src"], "--ref", f["ref"], "--align")
    assert_one_line_error(cli(*args, f["short"]), str(f["short"]), "1 lines, but")
    assert_one_line_error(cli(*args, f["bad"]), f"{f['bad']}:2", "bad link '0-x'")
    outside = _files(tmp_path, outside="1-1\n0-1\n")["outside"]
    assert_one_line_error(
        cli(*args, outside), f"{outside}:2", "link 0-1 is outside", "1 reference words"
    )


def test_cli_bad_buckets(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    f = _files(tmp_path, src="a\n", ref="x\n")
    result = cli(
        "evaluate", tmp_path / "a.pt", "--src", f["src"], "--ref", f["ref"], "--buckets", "20,10"
    )
    assert_one_line_error(result, "--buckets", "must increase")
