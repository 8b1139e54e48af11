"""The Transformer of models/transformer.py run on the real tokens of a padded batch.

A batch of mixed lengths is mostly padding at its tail. The projections, feed-forward networks,
layer norms and the output projection act on each position alone, so here they run on the real
tokens gathered into one (R, H) matrix (models/fast/real_tokens.py); only attention, which mixes
positions, sees the (B, heads, L, D) layout, padding included. The layers are the reference
layers with `FastMultiHeadAttention` inside (models/fast/attention.py): the functions below
apply the sub-layers of an `EncoderLayer` / `DecoderLayer` in the order their `forward` does.
Logits at the target padding are 0 (the model interface leaves them unspecified). In `encode`
and `decode`, a batch without padding takes the reference path.

`step` (decoding) feeds one position a row as (B, H) rows, not (B, 1, H) sequences
(`decoder_layer_step`), and attends with the heads folded into the batch of 3-D matmuls
(`one_query_attention`), which leaves out most of the reshapes of the sequence layout. It keeps
the key/value cache in buffers with room for CACHE_CHUNK more positions (`GrowingCache`): a step
writes one position where the reference concatenates the whole prefix anew. The source mask
enters cross-attention as its bias M (`TransformerMemory.cross_bias`, made once by `encode`),
added inside the scores' matmul; the output projection runs through oneDNN
(models/fast/linear.py).

Letters beyond models/transformer.py's: R >= N packed rows (N real tokens), C >= t the
positions a cache buffer has room for.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from attnlab.models.fast.attention import FastMultiHeadAttention, mask_bias
from attnlab.models.fast.linear import output_logits
from attnlab.models.fast.real_tokens import RealTokens
from attnlab.models.transformer import DecoderLayer, EncoderLayer, Transformer, TransformerMemory

# The real tokens are packed into a multiple of this many rows: a few matmul shapes recur from
# batch to batch, and oneDNN (bf16 on CPU) builds a kernel per new shape.
ROWS_MULTIPLE = 64
# A cache buffer grows by this many positions when full; reordering it (beam search) copies at
# most this many positions more than the prefix.
CACHE_CHUNK = 16


class GrowingCache(NamedTuple):
    """The decoder's key/value cache after `position` steps, in buffers with room to grow.

    A step writes its keys/values at `position` in place. Two states made from one state share
    its buffers, so the buffers count the positions written into them (`written`, one shared
    number, the same for every state on these buffers): a state whose position is behind that
    count was stepped already, and stepping it again first copies its prefix into new buffers.
    `select_batch` copies the buffers, and `written` with them.
    """

    keys: tuple[Tensor, ...]  # L x (B, heads, C, D), valid before `position`
    values: tuple[Tensor, ...]  # L x (B, heads, C, D)
    position: int
    written: list[int]  # [positions written into these buffers]


def _room_to_write(cache: GrowingCache) -> GrowingCache:
    """`cache` itself when position `cache.position` may be written in its buffers, else a copy
    of its prefix in new buffers with room for CACHE_CHUNK more positions."""
    t, capacity = cache.position, cache.keys[0].size(2)
    if cache.written[0] == t and t < capacity:
        return cache

    def grown(buffer: Tensor) -> Tensor:
        batch, heads, _, size = buffer.shape
        new = buffer.new_empty(batch, heads, t + CACHE_CHUNK, size)  # (B, heads, C, D)
        new[:, :, :t] = buffer[:, :, :t]
        return new

    keys, values = tuple(map(grown, cache.keys)), tuple(map(grown, cache.values))
    return GrowingCache(keys, values, t, [t])


def _fast(attention: object) -> FastMultiHeadAttention:
    """The layer's attention, which build.py makes a FastMultiHeadAttention."""
    if not isinstance(attention, FastMultiHeadAttention):
        raise TypeError("RealTokenTransformer needs FastMultiHeadAttention in its layers")
    return attention


def encoder_layer(layer: EncoderLayer, x: Tensor, src_mask: Tensor, tokens: RealTokens) -> Tensor:
    """EncoderLayer.forward on the real source tokens.  x (R, H), src_mask (B, 1, S) -> (R, H)"""
    attention = _fast(layer.self_attn)
    h = layer.attn_res.inner(x)
    k, v = attention.project_kv_tokens(h, tokens)  # (B, heads, S, D) each
    x = layer.attn_res.outer(x, attention.attend_tokens(h, k, v, src_mask, False, tokens)[0])
    return layer.ff_res.outer(x, layer.feed_forward(layer.ff_res.inner(x)))


def decoder_layer(
    layer: DecoderLayer,
    x: Tensor,
    cross_k: Tensor,
    cross_v: Tensor,
    src_mask: Tensor,
    need_weights: bool,
    tokens: RealTokens,
) -> tuple[Tensor, Tensor | None]:
    """DecoderLayer.forward without a cache, on the real target tokens.

    x (R, H), cross_k, cross_v (B, heads, S, D), src_mask (B, 1, S)
    -> x (R, H), cross weights (B, heads, T, S) | None
    """
    self_attn, cross_attn = _fast(layer.self_attn), _fast(layer.cross_attn)
    h = layer.self_res.inner(x)
    k, v = self_attn.project_kv_tokens(h, tokens)  # (B, heads, T, D) each
    x = layer.self_res.outer(x, self_attn.attend_tokens(h, k, v, None, False, tokens)[0])
    h = layer.cross_res.inner(x)
    context, alpha = cross_attn.attend_tokens(h, cross_k, cross_v, src_mask, need_weights, tokens)
    x = layer.cross_res.outer(x, context)
    return layer.ff_res.outer(x, layer.feed_forward(layer.ff_res.inner(x))), alpha


def decoder_layer_step(
    layer: DecoderLayer,
    x: Tensor,
    cache: GrowingCache,
    i: int,
    cross_k: Tensor,
    cross_v: Tensor,
    cross_bias: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """DecoderLayer.forward for one new position a row, at `cache.position` t: its keys and
    values are written into layer i's cache buffers, then it attends to positions 0..t, and
    to the memory (R = B*K rows: K a memory row, as `DecoderLayer.cross_attend`).

    x (R, H), cross_k, cross_v (B, heads, S, D), cross_bias (B, heads, 1, S) | None
    -> x (R, H), cross weights (R, heads, 1, S)
    """
    self_attn, cross_attn = _fast(layer.self_attn), _fast(layer.cross_attn)
    t = cache.position
    h = layer.self_res.inner(x)
    k, v = self_attn.kv_rows(h).unbind(1)  # (B, heads, D) each
    cache.keys[i][:, :, t] = k
    cache.values[i][:, :, t] = v
    keys, values = cache.keys[i][:, :, : t + 1], cache.values[i][:, :, : t + 1]  # views
    x = layer.self_res.outer(x, self_attn.attend_one(h, keys, values, None)[0])
    h = layer.cross_res.inner(x)
    context, alpha = cross_attn.attend_one(h, cross_k, cross_v, cross_bias)
    x = layer.cross_res.outer(x, context)
    return layer.ff_res.outer(x, layer.feed_forward(layer.ff_res.inner(x))), alpha


class RealTokenTransformer(Transformer):
    """Transformer whose `encode` and teacher-forced `decode` run on the real tokens only; the
    same parameters, interface and numbers (up to rounding)."""

    def encode(self, src: Tensor, src_mask: Tensor) -> TransformerMemory:
        tokens = RealTokens.of(src_mask, self.heads, ROWS_MULTIPLE)
        if tokens is None:
            return super().encode(src, src_mask)
        x = tokens.pack(self.src_embed(src, 0))  # (R, H)
        key_mask = src_mask[:, None, :]  # (B, 1, S)
        for layer in self.encoder.layers:
            x = encoder_layer(layer, x, key_mask, tokens)
        h = self.encoder.final_norm(x)  # (R, H)
        layers = self.decoder.layers
        kvs = [_fast(layer.cross_attn).project_kv_tokens(h, tokens) for layer in layers]
        keys = tuple(k for k, _ in kvs)  # L x (B, heads, S, D), contiguous
        values = tuple(v for _, v in kvs)  # L x (B, heads, S, D), contiguous
        # for `step`; training's forward does not read it (B * heads * S numbers, made anyway)
        bias = mask_bias(src_mask, h.dtype)[:, None, None, :]  # M (B, 1, 1, S)
        cross_bias = bias.expand(-1, self.heads, -1, -1).contiguous()  # (B, heads, 1, S)
        return TransformerMemory(tokens.unpack(h), src_mask, keys, values, cross_bias)

    def decode(
        self, memory: TransformerMemory, trg_in: Tensor, trg_mask: Tensor, all_weights: bool
    ) -> tuple[Tensor, list[Tensor | None]]:
        tokens = RealTokens.of(trg_mask, self.heads, ROWS_MULTIPLE)
        if tokens is None:
            return super().decode(memory, trg_in, trg_mask, all_weights)
        x = tokens.pack(self.trg_embed(trg_in, 0))  # (R, H)
        src_mask, last = memory.src_mask[:, None, :], len(self.decoder.layers) - 1  # (B, 1, S)
        weights = []
        for i, layer in enumerate(self.decoder.layers):
            x, alpha = decoder_layer(
                layer,
                x,
                memory.cross_keys[i],
                memory.cross_values[i],
                src_mask,
                all_weights or i == last,
                tokens,
            )
            weights.append(alpha)
        logits = self.generator(self.decoder.final_norm(x))  # (R, V)
        return tokens.unpack(logits), weights  # (B, T, V), 0 at the padding

    def step(
        self, memory: TransformerMemory, state: GrowingCache | None, y_prev: Tensor
    ) -> tuple[Tensor, GrowingCache, Tensor]:
        """Transformer.step on (R, H) rows, the cache in growing buffers, the source mask read
        as `memory.cross_bias` (from this model's `encode`); the same numbers."""
        if state is None:
            if memory.cross_bias is None and not bool(memory.src_mask.all()):
                raise ValueError("a padded memory without cross_bias: not from this encode")
            k = memory.cross_keys[0]  # (B, heads, S, D)
            layers = range(len(self.decoder.layers))
            empty = tuple(k.new_empty(y_prev.size(0), k.size(1), 0, k.size(3)) for _ in layers)
            state = GrowingCache(empty, empty, 0, [0])
        cache = _room_to_write(state)
        x = self.trg_embed(y_prev[:, None], cache.position)[:, 0]  # (R, H)
        for i, layer in enumerate(self.decoder.layers):
            x, alpha = decoder_layer_step(
                layer, x, cache, i, memory.cross_keys[i], memory.cross_values[i], memory.cross_bias
            )
        cache.written[0] = cache.position + 1
        logits = output_logits(self.decoder.final_norm(x), self.generator)  # (B, V)
        return logits, cache._replace(position=cache.position + 1), alpha.mean(dim=1)[:, 0]
