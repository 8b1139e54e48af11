"""Transformer decoding side by side with CTranslate2, on the same trained weights, any checkpoint.

    pip install 'attnlab[export]'      # ctranslate2
    python benchmarks/ctranslate2_side.py CKPT [--data data/reverse] [--sentences 500]
                                              [--threads 2] [--repeat 3] [--rounds 2] [--json F]

CKPT is a trained Transformer checkpoint (e.g. `attnlab train configs/transformer-small.yaml`
on the reverse task: the toy size, d_model 128 and a vocabulary of about 100, where per-call
overheads dominate; benchmarks/realistic.py trains and measures the sizes people train). Its
weights are written for CTranslate2 with attnlab's exporter (float32), and both engines decode
the first `--sentences` test sentences exactly as realistic.py does: the same length-sorted
batches of 64 read from one file, one length limit per batch, greedy and beam 5 with length
penalty 0 and 1, each engine in its own process, CTranslate2 int8 as a reference row
(realistic_decode.py states the limit and the stopping rules of each engine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from common import load_average, openmp_settings
from realistic import (
    DecodeSettings,
    decode_engines,
    decoding_table,
    summarise_decoding,
    write_batches,
)
from rich.console import Console

from attnlab.checkpoint import load_checkpoint
from attnlab.data.dataset import Encoders
from attnlab.export import export_checkpoint


def compare(args: argparse.Namespace) -> dict:
    refs = (args.data / "test.trg").read_text(encoding="utf-8").splitlines()
    detok = Encoders.from_state(load_checkpoint(args.checkpoint)).trg_tokenizer.decode
    results = {"load_before": load_average(), "openmp": openmp_settings(), "threads": args.threads}
    results["ct2_env"] = {k: v for k, v in os.environ.items() if k.startswith("CT2_")}
    with tempfile.TemporaryDirectory() as tmp:
        ct2_dir, batches = Path(tmp) / "ct2", Path(tmp) / "batches.json"
        export_checkpoint(args.checkpoint, "ctranslate2", ct2_dir)
        order = write_batches(args.checkpoint, args.data, args.sentences, 64, batches)
        settings = DecodeSettings(args.threads, args.repeat, args.rounds, profile_batches=0)
        best = decode_engines(args.checkpoint, ct2_dir, batches, settings)
    results["load_after"] = load_average()
    results["decoding"] = summarise_decoding(best, order, refs, detok)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/reverse"))
    parser.add_argument("--sentences", type=int, default=500, help="test sentences decoded")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs in each process")
    parser.add_argument("--rounds", type=int, default=2, help="processes of each engine")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import ctranslate2

    results = compare(args) | {"checkpoint": str(args.checkpoint)}
    results["versions"] = {"ctranslate2": ctranslate2.__version__}
    Console(width=160).print(decoding_table({args.checkpoint.parent.name: results}, args.threads))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
