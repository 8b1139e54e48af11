"""`attnlab export CKPT --to ctranslate2 --out DIR`: a trained Transformer for CTranslate2.

CTranslate2 (Klein et al., 2020, the OpenNMT inference engine) runs Transformer encoder-decoders
in C++. Our layout maps onto its `TransformerSpec`: self-attention Q and [K; V] fused into one
[Q; K; V] projection, cross-attention Q and [K; V] kept apart, the sub-layer norms (pre- or
post-LN), the final norms (pre-LN only), sqrt(d_model)-scaled embeddings plus our position table
(sinusoidal or learned), and the output projection (tied or not) with its bias.

The folder holds everything needed to translate without attnlab: CTranslate2's model.bin,
config.json and vocabularies, the SentencePiece models of both sides (where the run used
SentencePiece), `attnlab.json` (tokenizers and decoding limits) and `translate.py` (a copy of
`export_standalone.py`, which needs only ctranslate2 and sentencepiece). Greedy search there gives
`attnlab translate --beam 1`'s output; beam search differs in its length normalisation (ours
GNMT's, CTranslate2's |Y|^alpha).

Left out: RNN models (CTranslate2 has no RNN decoder), quantisation (float32 is written; the
engine can quantise on load with `compute_type`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from attnlab.checkpoint import load_checkpoint
from attnlab.config import Config
from attnlab.errors import UserError
from attnlab.models.transformer import sinusoidal_positions

TARGETS = ("ctranslate2",)
STANDALONE = Path(__file__).with_name("export_standalone.py")

README = """\
An attnlab Transformer exported for CTranslate2 (`attnlab export`).

DIR is this folder. Translate with only ctranslate2 and sentencepiece installed (no attnlab, no
torch):

    pip install ctranslate2 sentencepiece
    python DIR/translate.py < input.txt > output.txt        # greedy
    python DIR/translate.py --beam 5 < input.txt              # beam search

One line out per line in. Greedy output equals `attnlab translate CKPT --beam 1`; beam search
normalises length as CTranslate2 does (|Y|^alpha), not as attnlab does (GNMT), so it may differ.

Files: model.bin, config.json and the vocabularies (CTranslate2's: source_vocabulary.json and
target_vocabulary.json, or one shared_vocabulary.json when both are the same); source.spm /
target.spm (SentencePiece models, when the run used SentencePiece); attnlab.json
(tokenizers, lowercasing, decoding length limits); translate.py (tokenize, translate, detokenize).
From Python:

    import ctranslate2
    translator = ctranslate2.Translator("DIR")
    translator.translate_batch([["tokens", "of", "one", "sentence"]], beam_size=1)
"""


def export_checkpoint(ckpt_path: Path, target: str, out: Path) -> Path:
    """Write the checkpoint's Transformer to `out` for `target`; returns `out`.

    `out` must not exist or be empty. The folder is built beside it and renamed into place, so a
    failure leaves nothing half-written.
    """
    if target not in TARGETS:
        raise UserError("--to", f"unknown target {target!r}; choose from: {', '.join(TARGETS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(str(out), "exists and is not an empty folder; not overwriting it")
    ckpt = load_checkpoint(ckpt_path)
    config = Config.model_validate(ckpt["config"])
    require_transformer(config, str(ckpt_path))
    try:
        from ctranslate2.specs import transformer_spec  # noqa: F401  (checks the extra)
    except ImportError:
        raise UserError("export", "needs ctranslate2: pip install 'attnlab[export]'") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        write_ctranslate2(ckpt, folder)
        write_standalone_files(ckpt, config, folder)
        if out.exists():
            out.rmdir()  # empty, checked above
        folder.rename(out)
    return out


def require_transformer(config: Config, where: str) -> None:
    """Only a Transformer can be exported; anything else is a one-line UserError."""
    if config.model.type != "transformer":
        raise UserError(
            where,
            f"an RNN model ({config.model.cell}): CTranslate2 has no RNN decoder; only "
            "Transformer checkpoints can be exported",
        )


def write_ctranslate2(ckpt: dict[str, Any], out: Path) -> None:
    """Write a checkpoint's Transformer into the folder `out` as a CTranslate2 model (model.bin,
    config.json, vocabularies). Float32 weights, no quantisation."""
    from ctranslate2.specs import common_spec, transformer_spec

    full_config = Config.model_validate(ckpt["config"])
    require_transformer(full_config, "checkpoint")
    config = full_config.model
    pre_norm = config.norm == "pre"
    w = {k: v.float().numpy() for k, v in ckpt["model"].items()}
    spec = transformer_spec.TransformerSpec.from_config(
        (config.num_layers, config.num_layers), config.heads, pre_norm=pre_norm
    )
    spec.config.layer_norm_epsilon = 1e-5  # torch's nn.LayerNorm

    def linear(target: common_spec.LinearSpec, name: str) -> None:
        target.weight, target.bias = w[f"{name}.weight"], w[f"{name}.bias"]

    def norm(target: common_spec.LayerNormSpec, name: str) -> None:
        target.gamma, target.beta = w[f"{name}.weight"], w[f"{name}.bias"]

    def attention(target: Any, name: str, self_attention: bool) -> None:
        if self_attention:  # [Q; K; V] in one projection
            for part in ("weight", "bias"):
                fused = np.concatenate([w[f"{name}.q_proj.{part}"], w[f"{name}.kv_proj.{part}"]])
                setattr(target.linear[0], part, fused)
        else:
            linear(target.linear[0], f"{name}.q_proj")
            linear(target.linear[1], f"{name}.kv_proj")
        linear(target.linear[-1], f"{name}.out_proj")

    def feed_forward(target: Any, name: str, norm_name: str) -> None:
        linear(target.linear_0, f"{name}.w_1")
        linear(target.linear_1, f"{name}.w_2")
        norm(target.layer_norm, norm_name)

    for side, embed in (("encoder", "src_embed"), ("decoder", "trg_embed")):
        stack = getattr(spec, side)
        embeddings = stack.embeddings  # the encoder's is a list (one per source feature)
        embeddings = embeddings[0] if isinstance(embeddings, list) else embeddings
        embeddings.weight = w[f"{embed}.tokens.weight"]
        stack.scale_embeddings = True
        if config.positional == "learned":
            stack.position_encodings.encodings = w[f"{embed}.positions.table"]
        else:
            table = sinusoidal_positions(config.max_positions, config.hidden_size)
            stack.position_encodings.encodings = table.numpy()
        if pre_norm:
            norm(stack.layer_norm, f"{side}.final_norm")
    for i, layer in enumerate(spec.encoder.layer):
        name = f"encoder.layers.{i}"
        attention(layer.self_attention, f"{name}.self_attn", self_attention=True)
        norm(layer.self_attention.layer_norm, f"{name}.attn_res.norm")
        feed_forward(layer.ffn, f"{name}.feed_forward", f"{name}.ff_res.norm")
    for i, layer in enumerate(spec.decoder.layer):
        name = f"decoder.layers.{i}"
        attention(layer.self_attention, f"{name}.self_attn", self_attention=True)
        norm(layer.self_attention.layer_norm, f"{name}.self_res.norm")
        attention(layer.attention, f"{name}.cross_attn", self_attention=False)
        norm(layer.attention.layer_norm, f"{name}.cross_res.norm")
        feed_forward(layer.ffn, f"{name}.feed_forward", f"{name}.ff_res.norm")
    linear(spec.decoder.projection, "generator")
    spec.register_source_vocabulary(ckpt["src_vocab"])
    spec.register_target_vocabulary(ckpt["trg_vocab"])
    spec.validate()
    spec.save(str(out))


def write_standalone_files(ckpt: dict[str, Any], config: Config, out: Path) -> None:
    """The SentencePiece models, attnlab.json, translate.py and README.txt beside the model."""
    sides = {}
    for side, key in (("source", "src_tokenizer"), ("target", "trg_tokenizer")):
        state = ckpt[key]
        model_file = None
        if state["kind"] == "sentencepiece":
            model_file = f"{side}.spm"
            (out / model_file).write_bytes(state["model_proto"])
        sides[side] = {"kind": state["kind"], "lowercase": state["lowercase"], "model": model_file}
    d = config.decoding
    settings = {
        **sides,
        "max_positions": config.model.max_positions,
        "decoding": {
            "beam_size": d.beam_size,
            "length_penalty": d.length_penalty,
            "max_len_ratio": d.max_len_ratio,
            "max_len_offset": d.max_len_offset,
            "batch_size": d.batch_size,
        },
    }
    (out / "attnlab.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(STANDALONE, out / "translate.py")
    (out / "README.txt").write_text(README, encoding="utf-8")
