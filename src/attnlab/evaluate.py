"""`attnlab evaluate`: translate a test set, score it overall and per source-length bucket
(`attnlab.metrics`) and, with gold alignments, the AER of the attention (`attnlab.word_alignment`);
print the result with Rich or as the CLI contract's JSON object.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from attnlab.data.corpus import read_lines
from attnlab.errors import UserError
from attnlab.metrics import Bucket, bucket_scores, corpus_scores
from attnlab.word_alignment import Gold, attention_aer, read_pharaoh

if TYPE_CHECKING:  # the translator pulls in every model; evaluate_checkpoint imports it late
    from attnlab.translate import Translator


def _translate(translator: Translator, lines: list[str], beam: int | None) -> list[str]:
    """Hypotheses in order, with a progress bar on an interactive terminal."""
    console = Console(stderr=True)
    size = 16 * translator.decoding.batch_size  # the translator sorts by length within a chunk
    hyps: list[str] = []
    columns = (TextColumn("translating"), BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as progress:
        task = progress.add_task("translate", total=len(lines))
        for start in range(0, len(lines), size):
            chunk = lines[start : start + size]
            hyps.extend(t.text for t in translator.translate(chunk, beam_size=beam))
            progress.advance(task, len(chunk))
    return hyps


def _check_gold_in_range(
    gold: list[Gold], src_lines: list[str], ref_lines: list[str], align: Path
) -> None:
    """Every gold link must point at a whitespace word of its source and reference line."""
    lines = zip(gold, src_lines, ref_lines, strict=True)
    for number, ((_, possible), src_line, ref_line) in enumerate(lines, start=1):
        n_src, n_ref = len(src_line.split()), len(ref_line.split())
        for i, j in sorted(possible):
            if i >= n_src or j >= n_ref:
                raise UserError(
                    f"{align}:{number}",
                    f"link {i}-{j} is outside the sentence pair "
                    f"({n_src} source words, {n_ref} reference words)",
                )


def evaluate_checkpoint(
    ckpt: Path,
    src: Path,
    ref: Path,
    align: Path | None,
    buckets: list[Bucket],
    beam: int | None,
    decoding: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`attnlab evaluate`: translate `src`, score against `ref` overall and per source-length
    bucket (length = whitespace words of the source line) and, with `align`, the AER of the
    attention read on the references. `beam` and `decoding` ({"length_penalty": 1.5, ...})
    replace the checkpoint's decoding settings where given. Returns the JSON object of the CLI
    contract."""
    src_lines, ref_lines = read_lines(src), read_lines(ref)
    if len(src_lines) != len(ref_lines):
        raise UserError(str(ref), f"{len(ref_lines)} lines, but {src} has {len(src_lines)}")
    if not src_lines:
        raise UserError(str(src), "no lines to evaluate")
    gold = None
    if align is not None:
        gold = read_pharaoh(align)
        if len(gold) != len(src_lines):
            raise UserError(str(align), f"{len(gold)} lines, but {src} has {len(src_lines)}")
        _check_gold_in_range(gold, src_lines, ref_lines, align)
    from attnlab.translate import Translator

    translator = Translator.from_checkpoint(ckpt, decoding=decoding)
    hyps = _translate(translator, src_lines, beam)
    result = corpus_scores(hyps, ref_lines)
    result["n"] = len(src_lines)
    lengths = [len(line.split()) for line in src_lines]
    result["buckets"] = bucket_scores(lengths, hyps, ref_lines, buckets)
    if gold is not None:
        result.update(attention_aer(translator, src_lines, ref_lines, gold))
    return result


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def render_evaluation(result: dict[str, Any], console: Console | None = None) -> None:
    """Print an evaluation result with Rich: scores, signatures, the bucket table, AER."""
    console = console or Console(file=sys.stdout)
    console.print(
        f"[bold]BLEU[/bold] {_fmt(result['bleu'])}   [bold]chrF[/bold] {_fmt(result['chrf'])}"
    )
    for signature in result["signature"].values():
        console.print(signature, style="dim", highlight=False, markup=False)
    table = Table(title="by source length (words)")
    for name in ("range", "n", "BLEU", "chrF"):
        table.add_column(name, justify="left" if name == "range" else "right")
    for row in result["buckets"]:
        table.add_row(row["range"], str(row["n"]), _fmt(row["bleu"]), _fmt(row["chrf"]))
    console.print(table)
    if "aer" in result:
        text = (
            "n/a (the model has no attention)" if result["aer"] is None else f"{result['aer']:.3f}"
        )
        console.print(f"[bold]AER[/bold] {text}")
    for layer, value in enumerate(result.get("aer_per_layer", []), start=1):
        console.print(f"  decoder layer {layer}: AER {value:.3f}")
