"""Transformer decoding side by side with CTranslate2, on the same trained weights.

    pip install ctranslate2            # in this environment: the weights are read with attnlab
    python benchmarks/ctranslate2_side.py CKPT [--data data/reverse] [--threads 2] [--repeat 3]
                                              [--json out.json]

CKPT is a trained Transformer checkpoint (e.g. `attnlab train configs/transformer-small.yaml`
on the reverse task). Its weights are written as a CTranslate2 model (float32, no quantisation:
`attnlab.export.write_ctranslate2`, the code of `attnlab export`), and both engines translate
the 500 test sentences in batches of 64, greedy and beam 5, on `--threads` threads, each engine
in its own process (`--rounds` of each, alternately; in each a warm-up batch, then best of
`--repeat`). Ours goes through
`Translator.translate` (tokenize, search with the KV cache, detokenize), CTranslate2 through
`Translator.translate_batch` on the same tokens.

The conversion is checked by the outputs: greedy search must give the same sentences (same
weights, same argmax; a float tie could break differently, so the agreement is reported, not
assumed). Beam search differs in its length normalisation: ours is GNMT's ((5 + |Y|) / 6)^alpha,
CTranslate2's |Y|^alpha; both use alpha = decoding.length_penalty.

CTranslate2 picks its kernels by CPU vendor: on AMD it selects AVX2 and oneDNN rather than
AVX-512 and MKL. `CT2_FORCE_CPU_ISA=AVX512` and `CT2_USE_MKL=1` reach the children; the JSON
records every CT2_* variable (on an AMD EPYC Zen 4 none of the four settings was faster).

Left out: int8 and other CTranslate2 quantisations (ours is float32 only), GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import load_average, openmp_settings
from rich.console import Console
from rich.table import Table

from attnlab.checkpoint import load_checkpoint
from attnlab.export import write_ctranslate2
from attnlab.metrics import corpus_bleu
from attnlab.translate import Translator

SEARCHES = (("greedy", 1), ("beam5", 5))


def decode_ours(translator: Translator, sources: list[str], beam: int) -> list[str]:
    return [t.text for t in translator.translate(sources, beam_size=beam, batch_size=64)]


def decode_ctranslate2(model, translator: Translator, sources: list[str], beam: int) -> list[str]:
    """CTranslate2 on our tokens, with our length limit (ratio x source + offset), detokenized
    by our tokenizer."""
    d = translator.decoding
    tokens = [translator.src_tokenizer.encode(line) for line in sources]
    longest = max(len(t) for t in tokens)
    results = model.translate_batch(
        tokens,
        max_batch_size=64,
        beam_size=beam,
        length_penalty=d.length_penalty,
        max_decoding_length=int(d.max_len_ratio * longest) + d.max_len_offset,
    )
    return [translator.trg_tokenizer.decode(r.hypotheses[0]) for r in results]


def child(args: argparse.Namespace) -> dict:
    """One engine in its own process (two OpenMP runtimes in one process, torch's and the one
    CTranslate2 bundles, spin against each other: ours ran 2x slower beside it). A warm-up
    batch, then best of `--repeat` for each search; returns times and the last outputs."""
    torch.set_num_threads(args.threads)
    sources = (args.data / "test.src").read_text(encoding="utf-8").splitlines()
    ours = Translator.from_checkpoint(args.checkpoint, device="cpu")
    if args.child == "ctranslate2":
        import ctranslate2

        model = ctranslate2.Translator(
            str(args.model_dir), device="cpu", inter_threads=1, intra_threads=args.threads
        )

        def decode(lines: list[str], beam: int) -> list[str]:
            return decode_ctranslate2(model, ours, lines, beam)
    else:

        def decode(lines: list[str], beam: int) -> list[str]:
            return decode_ours(ours, lines, beam)

    out = {}
    for name, beam in SEARCHES:
        decode(sources[:64], beam)  # first-call costs (thread pools, kernel selection)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            hyps = decode(sources, beam)
            times.append(time.perf_counter() - start)
        out[name] = {"s": min(times), "hyps": hyps}
    return out


def run_child(engine: str, args: argparse.Namespace, model_dir: Path) -> dict:
    command = [sys.executable, __file__, str(args.checkpoint), "--child", engine]
    command += ["--data", str(args.data), "--threads", str(args.threads)]
    command += ["--repeat", str(args.repeat), "--model-dir", str(model_dir)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def compare(args: argparse.Namespace) -> dict:
    """Convert, then `--rounds` rounds of both engines alternately; best time of each."""
    refs = (args.data / "test.trg").read_text(encoding="utf-8").splitlines()
    results = {"load_before": load_average(), "openmp": openmp_settings(), "searches": {}}
    results["ct2_env"] = {k: v for k, v in os.environ.items() if k.startswith("CT2_")}
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as model_dir:
        write_ctranslate2(load_checkpoint(args.checkpoint), Path(model_dir))
        for _ in range(args.rounds):  # alternately: this machine's speed drifts
            for engine in ("attnlab", "ctranslate2"):
                for name, r in run_child(engine, args, Path(model_dir)).items():
                    kept = best.setdefault(f"{engine}/{name}", r)
                    kept["s"] = min(kept["s"], r["s"])
    results["load_after"] = load_average()
    for name, _ in SEARCHES:
        ours, theirs = best[f"attnlab/{name}"], best[f"ctranslate2/{name}"]
        same = sum(a == b for a, b in zip(ours["hyps"], theirs["hyps"], strict=True))
        results["searches"][name] = {
            "attnlab_s": ours["s"],
            "ctranslate2_s": theirs["s"],
            "attnlab_bleu": corpus_bleu(ours["hyps"], refs),
            "ctranslate2_bleu": corpus_bleu(theirs["hyps"], refs),
            "same_output": same / len(refs),
        }
    return results


def table(results: dict) -> Table:
    title = f"500 test sentences, batches of 64, {results['threads']} threads, same weights"
    out = Table(title=title)
    for column in ("search", "attnlab s", "CTranslate2 s", "ratio", "BLEU ours / CT2", "same"):
        out.add_column(column, justify="left" if column == "search" else "right")
    for name, r in results["searches"].items():
        out.add_row(
            name,
            f"{r['attnlab_s']:.3f}",
            f"{r['ctranslate2_s']:.3f}",
            f"{r['attnlab_s'] / r['ctranslate2_s']:.2f}x",
            f"{r['attnlab_bleu']:.2f} / {r['ctranslate2_bleu']:.2f}",
            f"{r['same_output']:.1%}",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/reverse"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs in each process")
    parser.add_argument("--rounds", type=int, default=2, help="processes of each engine")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", choices=["attnlab", "ctranslate2"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    import ctranslate2

    results = compare(args)
    results |= {"checkpoint": str(args.checkpoint), "threads": args.threads}
    results["versions"] = {"torch": torch.__version__, "ctranslate2": ctranslate2.__version__}
    Console().print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
