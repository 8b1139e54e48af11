"""Attention: each maps (query, keys, values, mask) -> (context, weights).

Papers: Vaswani et al. (2017), "Attention Is All You Need" (scaled dot-product, multi-head).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --- Scaled dot-product multi-head attention (Vaswani et al. 2017) --------------------------------
# Vaswani et al. (2017), "Attention Is All You Need", sec. 3.2. Shapes: heads attention heads,
# D = H / heads the head size (d_k = d_v). Masks are boolean, True where a key may be attended.
# Left out: attention dropout (the Transformer applies dropout to sub-layer outputs only).


def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None) -> Tensor:
    """Scaled dot-product weights (Vaswani et al. 2017, eq. 1), real keys only.

        alpha = softmax(Q K^T / sqrt(d_k))   with alpha_ij = 0 where mask_ij is False

    q (..., T, D), k (..., S, D), mask broadcastable to (..., T, S) or None -> alpha (..., T, S)
    Every query must see at least one key, otherwise its row is NaN.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


def attention_context(alpha: Tensor, v: Tensor) -> Tensor:
    """c_i = sum_j alpha_ij v_j.   alpha (..., T, S), v (..., S, D) -> context (..., T, D)"""
    return alpha @ v


def causal_mask(t_query: int, t_key: int, device: torch.device) -> Tensor:
    """Bool (T, S) mask: the T queries are the last T of the S positions; query i sees keys
    0 .. S - T + i (itself and its past). (T, S)"""
    return torch.ones(t_query, t_key, dtype=torch.bool, device=device).tril(t_key - t_query)


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, need_weights: bool
) -> tuple[Tensor, Tensor | None]:
    """softmax(Q K^T / sqrt(d_k)) V, optionally restricted to the past (`causal`).

    With `need_weights` the weights are computed explicitly (attention_weights); otherwise
    torch's fused kernel runs and no weights come back. Both paths give the same context.
    q (B, heads, T, D), k and v (B, heads, S, D), mask broadcastable to (B, heads, T, S) or None
    -> context (B, heads, T, D), weights (B, heads, T, S) | None
    """
    t_query, t_key = q.size(-2), k.size(-2)
    causal = causal and t_query > 1  # a single query placed last sees every key
    if causal and (need_weights or mask is not None or t_query != t_key):
        past = causal_mask(t_query, t_key, q.device)  # (T, S)
        mask = past if mask is None else mask & past
        causal = False
    if need_weights:
        alpha = attention_weights(q, k, mask)  # (B, heads, T, S)
        return attention_context(alpha, v), alpha
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal), None


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (Vaswani et al. 2017, sec. 3.2.2).

        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   MultiHead = Concat(head_1..head_h) W^O

    `causal` (decoder self-attention): the T queries are the last T of the S key positions and
    each attends only to itself and earlier keys. Keys and values can be projected once with
    `project_kv` and reused (the cross-attention memory and the decoder's key/value cache).

    forward(query (B, T, H), keys (B, S, H), values (B, S, H), mask (B, 1, S) | (B, T, S) | None,
            need_weights) -> context (B, T, H), weights (B, heads, T, S) | None
    """

    def __init__(self, size: int, heads: int, causal: bool) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.q_proj = nn.Linear(size, size)
        self.kv_proj = nn.Linear(size, 2 * size)  # W^K and W^V in one matmul
        self.out_proj = nn.Linear(size, size)
        for layer in (self.q_proj, self.kv_proj, self.out_proj):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, H) -> (B, heads, T, D)"""
        batch, length, size = x.shape
        return x.view(batch, length, self.heads, size // self.heads).transpose(1, 2)

    def project_kv(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """K W^K and V W^V split into heads.  keys, values (B, S, H) -> k, v (B, heads, S, D)"""
        if keys is values:
            k, v = self.kv_proj(keys).chunk(2, dim=-1)  # (B, S, H) each
        else:
            w_k, w_v = self.kv_proj.weight.chunk(2, dim=0)  # (H, H) each
            b_k, b_v = self.kv_proj.bias.chunk(2, dim=0)  # (H,) each
            k, v = F.linear(keys, w_k, b_k), F.linear(values, w_v, b_v)  # (B, S, H) each
        return self.split_heads(k), self.split_heads(v)

    def attend(
        self, query: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Attention over keys/values already projected by `project_kv`.

        query (B, T, H), k and v (B, heads, S, D), mask (B, 1, S) | (B, T, S) | None
        -> context (B, T, H), weights (B, heads, T, S) | None
        """
        q = self.split_heads(self.q_proj(query))  # (B, heads, T, D)
        if mask is not None:
            mask = mask.unsqueeze(1)  # (B, 1, 1|T, S), broadcast over heads
        context, alpha = scaled_dot_product_attention(
            q, k, v, mask, causal=self.causal, need_weights=need_weights
        )  # (B, heads, T, D)
        batch, _, length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, length, -1)  # (B, T, H)
        return self.out_proj(context), alpha

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        k, v = self.project_kv(keys, values)  # (B, heads, S, D) each
        return self.attend(query, k, v, mask, need_weights)
