"""Config -> model. The dict literals below are the registry of architectures: one line each.

Parts are built here and handed in (encoder, attention, decoder); model classes never read the
config. `model.kernels` picks the classes (`KERNELS`): `reference`, the readable implementation
of the equations in models/, or `fast`, their speed twins in models/fast/ (the same parameters,
the numbers up to rounding, other dropout draws), where a part has one.
`describe_model` prints the architecture and parameter counts (`attnlab model summary`).
Initialisation: torch's defaults, but the output bias, which training sets to the log unigram
prior (`init_output_bias`), and tied embeddings (see `_decoder_parts`). Left out: pretrained
embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.config import Config, ModelConfig
from attnlab.data.vocab import PAD_ID
from attnlab.errors import UserError
from attnlab.models.attention import (
    AdditiveScore,
    Attention,
    DotScore,
    GeneralScore,
    GlobalAttention,
    LocalAttention,
    MonotonicPosition,
    MultiHeadAttention,
    PredictivePosition,
    Score,
)
from attnlab.models.fast.attention import FastAdditiveScore, FastMultiHeadAttention
from attnlab.models.fast.bahdanau_gru import FusedBahdanauDecoder
from attnlab.models.fast.dropout import use_fast_dropout
from attnlab.models.fast.gru import PackedGRUEncoder
from attnlab.models.fast.linear import AlignedOutputLinear
from attnlab.models.fast.lstm import PackedLSTMEncoder
from attnlab.models.fast.luong_lstm import FusedLuongDecoder
from attnlab.models.fast.readout import (
    RealTokenBahdanauDecoder,
    RealTokenFixedDecoder,
    RealTokenLuongDecoder,
)
from attnlab.models.fast.transformer import RealTokenTransformer
from attnlab.models.rnn import RNNEncoder, make_rnn
from attnlab.models.seq2seq import (
    BahdanauDecoder,
    Bridge,
    Decoder,
    FixedDecoder,
    LuongDecoder,
    RNNSeq2Seq,
)
from attnlab.models.transformer import (
    DecoderLayer,
    Embeddings,
    EncoderLayer,
    FeedForward,
    LearnedPositions,
    SinusoidalPositions,
    Transformer,
    TransformerDecoder,
    TransformerEncoder,
)


class Kernels(NamedTuple):
    """The classes that `model.kernels` picks; a fast one subclasses the reference one."""

    additive_score: type[AdditiveScore]  # Bahdanau's score and Luong's concat
    gru_encoder: type[RNNEncoder]  # the encoder of a GRU
    lstm_encoder: type[RNNEncoder]  # the encoder of an LSTM
    fixed_decoder: type[FixedDecoder]
    gru_bahdanau: type[BahdanauDecoder]  # the Bahdanau decoder of a one-layer GRU
    bahdanau_decoder: type[BahdanauDecoder]  # of the other cells and depths
    luong_decoder: type[LuongDecoder]
    lstm_luong: type[LuongDecoder]  # one-layer LSTM, input feeding, global dot/general score
    multi_head_attention: type[MultiHeadAttention]
    transformer: type[Transformer]
    output_linear: type[nn.Linear]  # the output layer x W_o^T + b of every decoder


KERNELS: dict[str, Kernels] = {
    "reference": Kernels(
        additive_score=AdditiveScore,
        gru_encoder=RNNEncoder,
        lstm_encoder=RNNEncoder,
        fixed_decoder=FixedDecoder,
        gru_bahdanau=BahdanauDecoder,
        bahdanau_decoder=BahdanauDecoder,
        luong_decoder=LuongDecoder,
        lstm_luong=LuongDecoder,
        multi_head_attention=MultiHeadAttention,
        transformer=Transformer,
        output_linear=nn.Linear,
    ),
    "fast": Kernels(
        additive_score=FastAdditiveScore,
        gru_encoder=PackedGRUEncoder,
        lstm_encoder=PackedLSTMEncoder,
        fixed_decoder=RealTokenFixedDecoder,
        gru_bahdanau=FusedBahdanauDecoder,
        bahdanau_decoder=RealTokenBahdanauDecoder,
        luong_decoder=RealTokenLuongDecoder,
        lstm_luong=FusedLuongDecoder,
        multi_head_attention=FastMultiHeadAttention,
        transformer=RealTokenTransformer,
        output_linear=AlignedOutputLinear,
    ),
}


def build_model(
    cfg: ModelConfig, src_vocab_size: int, trg_vocab_size: int, shared_vocab: bool = False
) -> nn.Module:
    """The model that `cfg` describes, for the given vocabulary sizes.

    `shared_vocab` (data.joint_vocab: one vocabulary for both sides) with `cfg.tie_embeddings`
    ties three ways: source embeddings = target embeddings = output weights. With
    `cfg.kernels` fast, every nn.Dropout is the fast one (models/fast/dropout.py).
    """
    if shared_vocab and src_vocab_size != trg_vocab_size:
        raise ValueError("a shared vocabulary has one size on both sides")
    builders: dict[str, Callable[[ModelConfig, int, int], nn.Module]] = {
        "rnn": _build_rnn,
        "transformer": _build_transformer,
    }
    model = builders[cfg.type](cfg, src_vocab_size, trg_vocab_size)
    if shared_vocab and cfg.tie_embeddings:
        source, target = _embedding_tables(model)
        source.weight = target.weight
    if cfg.kernels == "fast":
        use_fast_dropout(model)
    return model


def output_projection(model: nn.Module) -> nn.Linear:
    """The layer that gives the logits, W_o x + b (behind the readout tanh(W_t x) of a tied RNN
    decoder)."""
    if isinstance(model, Transformer):
        return model.generator
    output = model.decoder.output
    return output[-1] if isinstance(output, nn.Sequential) else output


def init_output_bias(model: nn.Module, log_prior: Tensor) -> None:
    """b = log p(y): at the start, logits = W_o x + log p(y), the unigram model plus what the
    layers below add. Without it Adam meets the frequencies first through the widest layer below:
    with Luong's h~ = tanh(W_c [c; h]) each weight of W_c moves about lr a step in one
    direction for every position, so that h~ saturates within 30-60 steps and the decoder stops
    learning (docs/STATUS.md, session 12)."""
    with torch.no_grad():
        output_projection(model).bias.copy_(log_prior)


def _embedding_tables(model: nn.Module) -> tuple[nn.Embedding, nn.Embedding]:
    """The source and target embedding tables of a built model."""
    if isinstance(model, Transformer):
        return model.src_embed.tokens, model.trg_embed.tokens
    return model.encoder.embedding, model.decoder.embedding


def embedding_dropout(cfg: ModelConfig) -> float:
    """Dropout on embeddings: `embedding_dropout`, or `dropout` where that is not set."""
    return cfg.dropout if cfg.embedding_dropout is None else cfg.embedding_dropout


# --- recurrent models -----------------------------------------------------------------------------


def _check_rnn(cfg: ModelConfig) -> None:
    if cfg.context == "luong" and cfg.luong_score == "dot" and cfg.bidirectional:
        raise UserError(
            "model.luong_score",
            "'dot' needs encoder and decoder states of one size, but a bidirectional encoder "
            "doubles them; set model.bidirectional: false or use 'general' or 'concat'",
        )


def _build_rnn(cfg: ModelConfig, src_vocab_size: int, trg_vocab_size: int) -> RNNSeq2Seq:
    _check_rnn(cfg)
    kernels = KERNELS[cfg.kernels]
    encoders = {"gru": kernels.gru_encoder, "lstm": kernels.lstm_encoder}
    encoder_class = encoders.get(cfg.cell, RNNEncoder)
    encoder = encoder_class(
        embedding=nn.Embedding(src_vocab_size, cfg.embedding_size, padding_idx=PAD_ID),
        rnn=make_rnn(
            cell=cfg.cell,
            input_size=cfg.embedding_size,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout,
            elman_activation=cfg.elman_activation,
        ),
        dropout=embedding_dropout(cfg),
        reverse_source=cfg.reverse_source,
    )
    decoders: dict[str, Callable[[ModelConfig, int, int], Decoder]] = {
        "fixed": _fixed_decoder,
        "bahdanau": _bahdanau_decoder,
        "luong": _luong_decoder,
    }
    decoder = decoders[cfg.context](cfg, encoder.output_size, trg_vocab_size)
    return RNNSeq2Seq(encoder, decoder, cfg.word_dropout)


def _decoder_parts(
    cfg: ModelConfig, input_size: int, context_size: int, trg_vocab_size: int
) -> tuple[nn.Embedding, nn.RNNBase, Bridge]:
    """Target embedding, the decoder RNN (unidirectional) and the bridge s_0 = tanh(W_s c)."""
    embedding = nn.Embedding(trg_vocab_size, cfg.embedding_size, padding_idx=PAD_ID)
    if cfg.tie_embeddings:  # its rows are output weights too: logits start near 0
        nn.init.normal_(embedding.weight, std=cfg.embedding_size**-0.5)
        with torch.no_grad():
            embedding.weight[PAD_ID].zero_()
    rnn = make_rnn(
        cell=cfg.cell,
        input_size=input_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        bidirectional=False,
        dropout=cfg.dropout,
        elman_activation=cfg.elman_activation,
    )
    bridge = Bridge(context_size, cfg.hidden_size, cfg.num_layers, lstm=cfg.cell == "lstm")
    return embedding, rnn, bridge


def _output_layer(cfg: ModelConfig, input_size: int, embedding: nn.Embedding) -> nn.Module:
    """p(y_i) = softmax(W_o x_i + b) over the target vocabulary, from the features x_i.

    With `tie_embeddings` W_o is the target embedding matrix E (Press & Wolf 2017), read out
    through t_i = tanh(W_t x_i) of the embedding size where x_i has another size:
    softmax(E t_i + b).
    """
    vocab_size, size = embedding.num_embeddings, embedding.embedding_dim
    linear = KERNELS[cfg.kernels].output_linear
    if not cfg.tie_embeddings:
        return linear(input_size, vocab_size)
    tied = linear(size, vocab_size)
    tied.weight = embedding.weight
    if input_size == size:
        return tied
    return nn.Sequential(nn.Linear(input_size, size), nn.Tanh(), tied)


def _fixed_decoder(cfg: ModelConfig, context_size: int, trg_vocab_size: int) -> FixedDecoder:
    extra = context_size if cfg.feed_context else 0
    embedding, rnn, bridge = _decoder_parts(
        cfg, cfg.embedding_size + extra, context_size, trg_vocab_size
    )
    output_size = cfg.hidden_size + (extra + cfg.embedding_size if cfg.feed_context else 0)
    return KERNELS[cfg.kernels].fixed_decoder(
        embedding=embedding,
        rnn=rnn,
        bridge=bridge,
        output=_output_layer(cfg, output_size, embedding),
        dropout=cfg.dropout,
        embedding_dropout=embedding_dropout(cfg),
        feed_context=cfg.feed_context,
    )


def _bahdanau_decoder(cfg: ModelConfig, context_size: int, trg_vocab_size: int) -> BahdanauDecoder:
    embedding, rnn, bridge = _decoder_parts(
        cfg, cfg.embedding_size + context_size, context_size, trg_vocab_size
    )
    kernels = KERNELS[cfg.kernels]
    score = kernels.additive_score(
        cfg.hidden_size, context_size, cfg.attention_size or cfg.hidden_size
    )
    output_size = cfg.hidden_size + context_size + cfg.embedding_size
    one_layer_gru = cfg.cell == "gru" and cfg.num_layers == 1
    decoder_class = kernels.gru_bahdanau if one_layer_gru else kernels.bahdanau_decoder
    return decoder_class(
        embedding=embedding,
        rnn=rnn,
        bridge=bridge,
        attention=GlobalAttention(score),
        output=_output_layer(cfg, output_size, embedding),
        dropout=cfg.dropout,
        embedding_dropout=embedding_dropout(cfg),
    )


def _luong_attention(cfg: ModelConfig, context_size: int) -> Attention:
    scores: dict[str, Callable[[], Score]] = {
        "dot": DotScore,
        "general": lambda: GeneralScore(cfg.hidden_size, context_size),
        "concat": lambda: KERNELS[cfg.kernels].additive_score(
            cfg.hidden_size, context_size, cfg.attention_size or cfg.hidden_size
        ),
    }
    score = scores[cfg.luong_score]()
    modes: dict[str, Callable[[], Attention]] = {
        "global": lambda: GlobalAttention(score),
        "local-m": lambda: LocalAttention(
            score, MonotonicPosition(), cfg.luong_window, gaussian=False
        ),
        "local-p": lambda: LocalAttention(
            score, PredictivePosition(cfg.hidden_size), cfg.luong_window, gaussian=True
        ),
    }
    return modes[cfg.luong_mode]()


def _luong_decoder(cfg: ModelConfig, context_size: int, trg_vocab_size: int) -> LuongDecoder:
    extra = cfg.hidden_size if cfg.input_feeding else 0
    embedding, rnn, bridge = _decoder_parts(
        cfg, cfg.embedding_size + extra, context_size, trg_vocab_size
    )
    kernels = KERNELS[cfg.kernels]
    fused = (
        cfg.cell == "lstm"
        and cfg.num_layers == 1
        and cfg.input_feeding
        and cfg.luong_mode == "global"
        and cfg.luong_score in ("dot", "general")
    )
    return (kernels.lstm_luong if fused else kernels.luong_decoder)(
        embedding=embedding,
        rnn=rnn,
        bridge=bridge,
        attention=_luong_attention(cfg, context_size),
        combine=nn.Linear(context_size + cfg.hidden_size, cfg.hidden_size, bias=False),
        output=_output_layer(cfg, cfg.hidden_size, embedding),
        dropout=cfg.dropout,
        embedding_dropout=embedding_dropout(cfg),
        input_feeding=cfg.input_feeding,
    )


# --- Transformer ---------------------------------------------------------------------------------


def _build_transformer(cfg: ModelConfig, src_vocab_size: int, trg_vocab_size: int) -> Transformer:
    """The Transformer of `cfg` (type: transformer); hidden_size is d_model."""
    size, pre_norm = cfg.hidden_size, cfg.norm == "pre"
    positions = {"sinusoidal": SinusoidalPositions, "learned": LearnedPositions}[cfg.positional]

    def embeddings(vocab_size: int) -> Embeddings:
        pos = positions(cfg.max_positions, size)
        return Embeddings(vocab_size, size, pos, cfg.max_positions, embedding_dropout(cfg))

    def final_norm() -> nn.Module:
        return nn.LayerNorm(size) if pre_norm else nn.Identity()

    kernels = KERNELS[cfg.kernels]

    def attention(causal: bool) -> MultiHeadAttention:
        return kernels.multi_head_attention(size, cfg.heads, causal=causal)

    def encoder_layer() -> EncoderLayer:
        return EncoderLayer(
            attention(causal=False), FeedForward(size, cfg.ff_size), size, cfg.dropout, pre_norm
        )

    def decoder_layer() -> DecoderLayer:
        return DecoderLayer(
            attention(causal=True),
            attention(causal=False),
            FeedForward(size, cfg.ff_size),
            size,
            cfg.dropout,
            pre_norm,
        )

    encoder = TransformerEncoder([encoder_layer() for _ in range(cfg.num_layers)], final_norm())
    decoder = TransformerDecoder([decoder_layer() for _ in range(cfg.num_layers)], final_norm())
    trg_embed = embeddings(trg_vocab_size)
    generator = kernels.output_linear(size, trg_vocab_size)
    if cfg.tie_embeddings:
        generator.weight = trg_embed.tokens.weight  # Press & Wolf (2017)
    return kernels.transformer(
        embeddings(src_vocab_size), trg_embed, encoder, decoder, generator, cfg.word_dropout
    )


# --- description ----------------------------------------------------------------------------------


def describe_model(model: nn.Module) -> str:
    """The architecture as a table: every part two levels deep and its parameter count."""
    rows = []
    for name, module in model.named_modules():
        if name.count(".") != 1:
            continue
        count = sum(p.numel() for p in module.parameters())
        kind = repr(module) if not list(module.children()) else type(module).__name__
        rows.append((name, kind, count))
    total = sum(p.numel() for p in model.parameters())
    width = max([len(name) for name, _, _ in rows] + [len("total")])
    kind_width = max([len(kind) for _, kind, _ in rows] + [len("part")])
    header = f"{'part':<{width}}  {'module':<{kind_width}}  {'parameters':>11}"
    lines = [type(model).__name__, header]
    lines += [f"{name:<{width}}  {kind:<{kind_width}}  {n:>11,}" for name, kind, n in rows]
    lines.append(f"{'total':<{width}}  {'':<{kind_width}}  {total:>11,}")
    return "\n".join(lines)


def summarize(cfg: Config) -> str:
    """`describe_model` for the model of a config, with vocabularies fitted on its training data."""
    from attnlab.data.corpus import read_split  # data reading only for this command
    from attnlab.data.dataset import fit_encoders, split_path

    encoders = fit_encoders(cfg.data, read_split(split_path(cfg.data, "train")))
    sizes = f"source vocabulary {len(encoders.src_vocab)}, target {len(encoders.trg_vocab)}"
    model = build_model(
        cfg.model,
        len(encoders.src_vocab),
        len(encoders.trg_vocab),
        shared_vocab=cfg.data.joint_vocab,
    )
    return f"{describe_model(model)}\n({sizes})"
