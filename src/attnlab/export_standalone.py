"""Translate with an attnlab Transformer exported for CTranslate2; needs only ctranslate2 and
sentencepiece (`attnlab export` copies this file into the folder as translate.py).

    python translate.py [--beam K] [--device cpu|cuda] < input.txt > output.txt

One line out per line in; an empty line gives an empty line. As in attnlab: a source is cut to
the model's position table, a sentence's output is at most int(ratio * source length) + offset
tokens (and fits the table), <pad> and <s> are never generated. Sentences of one source length
are translated together, so each batch shares one length limit.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import ctranslate2

HERE = Path(__file__).resolve().parent


class Tokenizer:
    """Whitespace words or a SentencePiece model, optionally lowercased (as attnlab's)."""

    def __init__(self, folder: Path, spec: dict[str, Any]) -> None:
        self.lowercase = spec["lowercase"]
        self.processor = None
        if spec["kind"] == "sentencepiece":
            import sentencepiece

            self.processor = sentencepiece.SentencePieceProcessor(
                model_file=str(folder / spec["model"])
            )

    def encode(self, line: str) -> list[str]:
        line = line.lower() if self.lowercase else line
        return line.split() if self.processor is None else self.processor.encode(line, out_type=str)

    def decode(self, pieces: list[str]) -> str:
        return " ".join(pieces) if self.processor is None else self.processor.decode_pieces(pieces)


def translate(
    lines: list[str], folder: Path = HERE, beam: int = 1, device: str = "cpu"
) -> list[str]:
    """Translations of `lines`, in order."""
    settings = json.loads((folder / "attnlab.json").read_text(encoding="utf-8"))
    source, target = Tokenizer(folder, settings["source"]), Tokenizer(folder, settings["target"])
    decoding, limit = settings["decoding"], settings["max_positions"]
    model = ctranslate2.Translator(str(folder), device=device)
    tokens = [source.encode(line)[:limit] for line in lines]
    out = [""] * len(lines)
    for length in sorted({len(t) for t in tokens if t}):
        chunk = [i for i, t in enumerate(tokens) if len(t) == length]
        max_length = int(length * decoding["max_len_ratio"]) + decoding["max_len_offset"]
        results = model.translate_batch(
            [tokens[i] for i in chunk],
            beam_size=beam,
            length_penalty=decoding["length_penalty"],
            max_decoding_length=min(max_length, limit - 1),
            suppress_sequences=[["<pad>"], ["<s>"]],
        )
        for i, result in zip(chunk, results, strict=True):
            out[i] = target.decode(result.hypotheses[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beam", type=int, default=1, help="beam size; 1 = greedy")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    args = parser.parse_args()
    lines = sys.stdin.read().splitlines()
    for line in translate(lines, HERE, args.beam, args.device):
        print(line)


if __name__ == "__main__":
    main()
