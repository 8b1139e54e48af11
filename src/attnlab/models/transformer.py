"""The Transformer encoder-decoder with a key/value cache for incremental decoding.

Papers: Vaswani et al. (2017), "Attention Is All You Need" (the model, post-LN, sinusoidal
positions); Xiong et al. (2020), "On Layer Normalization in the Transformer Architecture"
(pre-LN); Press & Wolf (2017), "Using the Output Embedding to Improve Language Models" (tying the
decoder's input embedding to its output projection).

Shapes: B batch, S source length, T target length, t decoded prefix length, H = d_model,
V vocabulary, L decoder layers, heads attention heads, D = H / heads head size.

`encode` projects the cross-attention keys and values of every decoder layer once; `step` feeds
one token, whose self-attention reads the cached keys/values of the prefix (O(t) per step, no
recomputation of the prefix). Memory and state are NamedTuples with the batch on dim 0.
models/fast/transformer.py runs the same layers on the real tokens of a padded batch only.

Left out: attention dropout, label smoothing (the loss's business), relative positions, sharing
the source and target embeddings.
"""

from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.data.batching import Batch
from attnlab.errors import UserError
from attnlab.models.attention import MultiHeadAttention
from attnlab.models.dropout import WordDropout


def sinusoidal_positions(length: int, size: int) -> Tensor:
    """Vaswani et al. (2017), sec. 3.5:

        PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
        PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))

    -> (length, size)
    """
    pos = torch.arange(length, dtype=torch.float32)[:, None]  # (length, 1)
    inv_freq = torch.exp(torch.arange(0, size, 2, dtype=torch.float32) * (-math.log(1e4) / size))
    angles = pos * inv_freq  # (length, ceil(size / 2))
    pe = torch.zeros(length, size)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : size // 2])
    return pe


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position encodings.  forward(start, length) -> (length, H)"""

    def __init__(self, max_positions: int, size: int) -> None:
        super().__init__()
        # a constant, not state: rebuilt from the config, so not saved in checkpoints
        self.register_buffer("table", sinusoidal_positions(max_positions, size), persistent=False)

    def forward(self, start: int, length: int) -> Tensor:
        return self.table[start : start + length]


class LearnedPositions(nn.Module):
    """One learned vector per position (Gehring et al. 2017).

    forward(start, length) -> (length, H)
    """

    def __init__(self, max_positions: int, size: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(max_positions, size) * size**-0.5)

    def forward(self, start: int, length: int) -> Tensor:
        return self.table[start : start + length]


class Embeddings(nn.Module):
    """x_pos = Dropout(sqrt(d_model) E[y_pos] + P[pos])   (Vaswani et al. 2017, sec. 3.4-3.5).

    forward(ids (B, T), start) -> (B, T, H), positions start .. start + T - 1
    """

    def __init__(
        self, vocab_size: int, size: int, positions: nn.Module, max_positions: int, dropout: float
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, size)
        nn.init.normal_(self.tokens.weight, std=size**-0.5)
        self.positions, self.max_positions = positions, max_positions
        self.scale = math.sqrt(size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: Tensor, start: int) -> Tensor:
        end = start + ids.size(1)
        if end > self.max_positions:
            raise UserError(
                "model.max_positions",
                f"a sequence of {end} tokens is longer than max_positions ({self.max_positions})",
            )
        x = self.tokens(ids) * self.scale + self.positions(start, ids.size(1))  # (B, T, H)
        return self.dropout(x)


class Residual(nn.Module):
    """The residual connection around a sub-layer F, with layer norm before or after it.

        pre-LN  (Xiong et al. 2020):   x + Dropout(F(LN(x)))
        post-LN (Vaswani et al. 2017): LN(x + Dropout(F(x)))

    `inner(x)` is what F reads; `outer(x, F(inner(x)))` is the sub-layer's output. (B, T, H)
    """

    def __init__(self, size: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(size)
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def inner(self, x: Tensor) -> Tensor:
        return self.norm(x) if self.pre_norm else x

    def outer(self, x: Tensor, f_x: Tensor) -> Tensor:
        y = x + self.dropout(f_x)
        return y if self.pre_norm else self.norm(y)


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2   (Vaswani et al. 2017, eq. 2).  (B, T, H) -> same"""

    def __init__(self, size: int, ff_size: int) -> None:
        super().__init__()
        self.w_1, self.w_2 = nn.Linear(size, ff_size), nn.Linear(ff_size, size)
        for layer in (self.w_1, self.w_2):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.w_2(torch.relu(self.w_1(x)))


class EncoderLayer(nn.Module):
    """Self-attention over the source, then the feed-forward network, each inside a Residual.

    forward(x (B, S, H), src_mask (B, 1, S)) -> (B, S, H)
    """

    def __init__(
        self,
        self_attn: MultiHeadAttention,
        feed_forward: FeedForward,
        size: int,
        dropout: float,
        pre_norm: bool,
    ) -> None:
        super().__init__()
        self.self_attn, self.feed_forward = self_attn, feed_forward
        self.attn_res = Residual(size, dropout, pre_norm)
        self.ff_res = Residual(size, dropout, pre_norm)

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        h = self.attn_res.inner(x)
        x = self.attn_res.outer(x, self.self_attn(h, h, h, src_mask)[0])
        return self.ff_res.outer(x, self.feed_forward(self.ff_res.inner(x)))


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the encoder output, feed-forward network.

    forward(x (B, T, H), cache (k, v) (B, heads, t, D) | None, cross_k, cross_v (B, heads, S, D),
            src_mask (B, 1, S), need_weights)
        -> x (B, T, H), cache (k, v) (B, heads, t + T, D), cross weights (B, heads, T, S) | None

    The T new positions follow the t cached ones and attend to the cache and to their own past.
    """

    def __init__(
        self,
        self_attn: MultiHeadAttention,
        cross_attn: MultiHeadAttention,
        feed_forward: FeedForward,
        size: int,
        dropout: float,
        pre_norm: bool,
    ) -> None:
        super().__init__()
        self.self_attn, self.cross_attn, self.feed_forward = self_attn, cross_attn, feed_forward
        self.self_res = Residual(size, dropout, pre_norm)
        self.cross_res = Residual(size, dropout, pre_norm)
        self.ff_res = Residual(size, dropout, pre_norm)

    def forward(
        self,
        x: Tensor,
        cache: tuple[Tensor, Tensor] | None,
        cross_k: Tensor,
        cross_v: Tensor,
        src_mask: Tensor,
        need_weights: bool,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor | None]:
        h = self.self_res.inner(x)
        k, v = self.self_attn.project_kv(h, h)  # (B, heads, T, D) each
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)  # (B, heads, t + T, D)
            v = torch.cat([cache[1], v], dim=2)  # (B, heads, t + T, D)
        x = self.self_res.outer(x, self.self_attn.attend(h, k, v, None, need_weights=False)[0])
        h = self.cross_res.inner(x)
        context, alpha = self.cross_attend(h, cross_k, cross_v, src_mask, need_weights)
        x = self.cross_res.outer(x, context)
        x = self.ff_res.outer(x, self.feed_forward(self.ff_res.inner(x)))
        return x, (k, v), alpha

    def cross_attend(
        self, h: Tensor, cross_k: Tensor, cross_v: Tensor, src_mask: Tensor, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Cross-attention of h (R, T, H) over a memory of B rows: R = B, or, at a decoding
        step (T = 1), R = B*K with K hypotheses a memory row (rows b*K .. b*K + K - 1), read as
        K queries of it.

        cross_k, cross_v (B, heads, S, D), src_mask (B, 1, S)
        -> context (R, T, H), weights (R, heads, T, S) | None
        """
        rows, batch = h.size(0), cross_k.size(0)
        if rows == batch:
            return self.cross_attn.attend(h, cross_k, cross_v, src_mask, need_weights)
        queries = h.view(batch, rows // batch, h.size(2))  # (B, K, H)
        context, alpha = self.cross_attn.attend(queries, cross_k, cross_v, src_mask, need_weights)
        if alpha is not None:  # (B, heads, K, S) -> (R, heads, 1, S)
            alpha = alpha.transpose(1, 2).reshape(rows, alpha.size(1), 1, alpha.size(3))
        return context.view(rows, 1, h.size(2)), alpha


class TransformerEncoder(nn.Module):
    """A stack of EncoderLayers; pre-LN ends with a final layer norm (`final_norm`).

    forward(x (B, S, H), src_mask (B, 1, S)) -> encoder output h (B, S, H)
    """

    def __init__(self, layers: list[EncoderLayer], final_norm: nn.Module) -> None:
        super().__init__()
        self.layers, self.final_norm = nn.ModuleList(layers), final_norm

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, src_mask)
        return self.final_norm(x)


class TransformerDecoder(nn.Module):
    """A stack of DecoderLayers; pre-LN ends with a final layer norm (`final_norm`).

    forward(x (B, T, H), caches L x (k, v) | None, cross_keys, cross_values L x (B, heads, S, D),
            src_mask (B, 1, S), all_weights)
        -> output (B, T, H), caches L x (k, v) (B, heads, t + T, D),
           cross weights L x (B, heads, T, S) (only the last layer's unless `all_weights`)
    """

    def __init__(self, layers: list[DecoderLayer], final_norm: nn.Module) -> None:
        super().__init__()
        self.layers, self.final_norm = nn.ModuleList(layers), final_norm

    def forward(
        self,
        x: Tensor,
        caches: tuple[tuple[Tensor, Tensor], ...] | None,
        cross_keys: tuple[Tensor, ...],
        cross_values: tuple[Tensor, ...],
        src_mask: Tensor,
        all_weights: bool,
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]], list[Tensor | None]]:
        last = len(self.layers) - 1
        new_caches, weights = [], []
        for i, layer in enumerate(self.layers):
            cache = None if caches is None else caches[i]
            x, kv, alpha = layer(
                x, cache, cross_keys[i], cross_values[i], src_mask, all_weights or i == last
            )
            new_caches.append(kv)
            weights.append(alpha)
        return self.final_norm(x), new_caches, weights


class TransformerMemory(NamedTuple):
    """What `encode` returns: the encoder output and every decoder layer's cross keys/values."""

    encoder_output: Tensor  # h (B, S, H)
    src_mask: Tensor  # (B, S), True on real tokens
    cross_keys: tuple[Tensor, ...]  # L x (B, heads, S, D)
    cross_values: tuple[Tensor, ...]  # L x (B, heads, S, D)
    # M of softmax(Q K^T / sqrt(D) + M): 0 on real source tokens, -inf at the padding; made
    # once by the fast model's encode for its decoding step (models/fast/transformer.py),
    # None where the batch has no padding or the model reads src_mask instead
    cross_bias: Tensor | None = None  # (B, heads, 1, S)


class TransformerState(NamedTuple):
    """The decoder's key/value cache after t steps, and t (the next position)."""

    self_keys: tuple[Tensor, ...]  # L x (B, heads, t, D)
    self_values: tuple[Tensor, ...]  # L x (B, heads, t, D)
    position: int


class Transformer(nn.Module):
    """Encoder-decoder Transformer; logits = decoder output W_out^T + b (W_out tied or not).

    forward(batch) -> logits (B, T, V), attention (B, T, S): the last decoder layer's
        cross-attention averaged over heads; in training mode with `word_dropout` p > 0, source
        and target input tokens are replaced by <unk> at rate p
    cross_attention(batch) -> (B, L, heads, T, S): every layer and head
    encode(src (B, S), src_mask (B, S)) -> TransformerMemory
    step(memory, state | None, y_prev (R,)) -> logits (R, V), TransformerState, attention (R, S)
        R = B, or B*K with the memory kept once for K hypotheses (`memory_per_sentence`)
    """

    memory_per_sentence: ClassVar[bool] = True  # see models/interface.py

    def __init__(
        self,
        src_embed: Embeddings,
        trg_embed: Embeddings,
        encoder: TransformerEncoder,
        decoder: TransformerDecoder,
        generator: nn.Linear,
        word_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.src_embed, self.trg_embed = src_embed, trg_embed
        self.encoder, self.decoder, self.generator = encoder, decoder, generator
        self.heads = decoder.layers[0].self_attn.heads
        self.word_dropout = WordDropout(word_dropout)

    def encode(self, src: Tensor, src_mask: Tensor) -> TransformerMemory:
        h = self.encoder(self.src_embed(src, 0), src_mask[:, None, :])  # (B, S, H)
        kvs = [layer.cross_attn.project_kv(h, h) for layer in self.decoder.layers]
        # contiguous once here, so that no step copies them again for its matmuls
        keys = tuple(k.contiguous() for k, _ in kvs)  # L x (B, heads, S, D)
        values = tuple(v.contiguous() for _, v in kvs)  # L x (B, heads, S, D)
        return TransformerMemory(h, src_mask, keys, values)

    def decode(
        self, memory: TransformerMemory, trg_in: Tensor, trg_mask: Tensor, all_weights: bool
    ) -> tuple[Tensor, list[Tensor | None]]:
        """The teacher-forced decoder.

        trg_in, trg_mask (B, T) -> logits (B, T, V), cross weights L x (B, heads, T, S) | None
        """
        x, _, weights = self.decoder(
            self.trg_embed(trg_in, 0),  # (B, T, H)
            None,
            memory.cross_keys,
            memory.cross_values,
            memory.src_mask[:, None, :],  # (B, 1, S)
            all_weights,
        )
        return self.generator(x), weights  # (B, T, V)

    def forward(self, batch: Batch) -> tuple[Tensor, Tensor]:
        memory = self.encode(self.word_dropout(batch.src), batch.src_mask)
        trg_in = self.word_dropout(batch.trg_in)
        logits, weights = self.decode(memory, trg_in, batch.trg_mask, all_weights=False)
        return logits, weights[-1].mean(dim=1)  # (B, T, V), (B, T, S)

    def cross_attention(self, batch: Batch) -> Tensor:
        memory = self.encode(batch.src, batch.src_mask)
        _, weights = self.decode(memory, batch.trg_in, batch.trg_mask, all_weights=True)
        return torch.stack(weights, dim=1)  # (B, L, heads, T, S)

    def step(
        self, memory: TransformerMemory, state: TransformerState | None, y_prev: Tensor
    ) -> tuple[Tensor, TransformerState, Tensor]:
        if state is None:
            k = memory.cross_keys[0]
            empty = k.new_zeros(y_prev.size(0), k.size(1), 0, k.size(3))  # (R, heads, 0, D)
            n_layers = len(self.decoder.layers)
            state = TransformerState((empty,) * n_layers, (empty,) * n_layers, 0)
        x, caches, weights = self.decoder(
            self.trg_embed(y_prev[:, None], state.position),  # (B, 1, H)
            tuple(zip(state.self_keys, state.self_values, strict=True)),
            memory.cross_keys,
            memory.cross_values,
            memory.src_mask[:, None, :],  # (B, 1, S)
            False,
        )
        new_state = TransformerState(
            tuple(k for k, _ in caches), tuple(v for _, v in caches), state.position + 1
        )
        logits = self.generator(x[:, 0])  # (B, V)
        return logits, new_state, weights[-1].mean(dim=1)[:, 0]  # (B, S)
