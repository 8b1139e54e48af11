"""Attention: each maps (query, keys, values, mask) -> (context, weights).

Papers:
  Bahdanau, Cho & Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and
  Translate", eqs. 5-6 and App. A.1.2 (additive score).
  Luong, Pham & Manning (2015), "Effective Approaches to Attention-based Neural Machine
  Translation", eq. 7 (global), eq. 8 (dot, general, concat scores), eqs. 9-10 (local-m, local-p).
  Vaswani et al. (2017), "Attention Is All You Need" (scaled dot-product, multi-head; last section).

Recurrent attention (first section). Every module maps
    (query (B, T, Hq), keys (B, S, K), values (B, S, Hv), mask (B, S), t (B, T))
        -> context (B, T, Hv), weights (B, T, S)
query: decoder states (T = 1 when decoding step by step); values: encoder states h_j;
keys: the score's projection of the values, made ONCE per sentence by `project_keys(values)`
(the U_a h_j of Bahdanau), never per step; mask: True on real source tokens; t: the target
position of each query row, which local-m aligns to (p_t = t) and global attention ignores.
Weights sum to 1 over the real tokens (and the window) and are exactly 0 elsewhere.
Letters: K key size, A attention size, W = luong_window (the paper's D; D is a direction here).

Left out: Luong's location score a_t = softmax(W_a h_t) (it needs a fixed source length),
coverage. Local-p weights are renormalised over the window: alpha = softmax(e - (s - p_t)^2 /
(2 sigma^2)), so they sum to 1; the paper multiplies the Gaussian in after the softmax.
Local-m uses p_t = min(t, S_real - 1), so a target longer than its source keeps a window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --- Recurrent attention: Bahdanau et al. (2015), Luong et al. (2015) -----------------------------


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """alpha = softmax over the last axis of `scores`, over the positions where `mask` is True.

    Exactly 0 where `mask` is False; a row without any True position is all 0.
    scores (B, T, S), mask broadcastable to (B, T, S) -> alpha (B, T, S)
    """
    alpha = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return alpha.masked_fill(~mask, 0.0)  # also turns the NaN of an all-masked row into 0


def context(weights: Tensor, values: Tensor) -> Tensor:
    """c_i = sum_j alpha_ij h_j.   weights (B, T, S), values (B, S, Hv) -> context (B, T, Hv)"""
    return weights @ values


def dot_scores(query: Tensor, keys: Tensor) -> Tensor:
    """e_ts = h_t^T k_s (Luong eq. 8, dot; general when k_s = W_a h_s).

    query (B, T, K), keys (B, S, K) -> scores (B, T, S)
    """
    return query @ keys.transpose(1, 2)


def additive_scores(query_proj: Tensor, keys: Tensor, v: Tensor) -> Tensor:
    """e_ij = v^T tanh(W s_i + U h_j), given W s_i and U h_j (Bahdanau eq. 6; Luong concat).

    query_proj (B, T, A), keys (B, S, A), v (A,) -> scores (B, T, S)
    """
    return torch.tanh(query_proj.unsqueeze(2) + keys.unsqueeze(1)) @ v  # (B, T, S, A) @ (A,)


class DotScore(nn.Module):
    """Luong dot: score(h_t, h_s) = h_t^T h_s. Query and values must have one size.

    project_keys(values (B, S, K)) -> keys (B, S, K); forward(query (B, T, K), keys) -> (B, T, S)
    """

    def project_keys(self, values: Tensor) -> Tensor:
        return values

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        return dot_scores(query, keys)


class GeneralScore(nn.Module):
    """Luong general: score(h_t, h_s) = h_t^T W_a h_s, with W_a h_s computed once as the keys.

    project_keys(values (B, S, Hv)) -> keys (B, S, Hq); forward(query (B, T, Hq), keys) -> (B, T, S)
    """

    def __init__(self, query_size: int, value_size: int) -> None:
        super().__init__()
        self.w_a = nn.Linear(value_size, query_size, bias=False)

    def project_keys(self, values: Tensor) -> Tensor:
        return self.w_a(values)

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        return dot_scores(query, keys)


class AdditiveScore(nn.Module):
    """Additive score: Bahdanau e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j) and Luong concat
    v_a^T tanh(W_a [h_t; h_s]), which is the same with W_a split into a query and a key part.

    project_keys(values (B, S, Hv)) -> keys U_a h_j (B, S, A)
    forward(query (B, T, Hq), keys (B, S, A)) -> scores (B, T, S)
    """

    def __init__(self, query_size: int, value_size: int, attention_size: int) -> None:
        super().__init__()
        self.w_a = nn.Linear(query_size, attention_size, bias=False)
        self.u_a = nn.Linear(value_size, attention_size)
        self.v_a = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, values: Tensor) -> Tensor:
        return self.u_a(values)

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        return additive_scores(self.w_a(query), keys, self.v_a.weight[0])


Score = DotScore | GeneralScore | AdditiveScore


class GlobalAttention(nn.Module):
    """Attention over every real source word (Bahdanau eqs. 5-6; Luong eq. 7, global).

        e_ij     = score(query_i, h_j)
        alpha_ij = softmax over real j of e_ij
        c_i      = sum_j alpha_ij h_j

    forward(query (B, T, Hq), keys (B, S, K), values (B, S, Hv), mask (B, S), t (B, T) unused)
        -> context (B, T, Hv), weights (B, T, S)
    """

    def __init__(self, score: Score) -> None:
        super().__init__()
        self.score = score

    def project_keys(self, values: Tensor) -> Tensor:
        return self.score.project_keys(values)

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, t: Tensor
    ) -> tuple[Tensor, Tensor]:
        alpha = masked_softmax(self.score(query, keys), mask.unsqueeze(1))  # (B, T, S)
        return context(alpha, values), alpha


class MonotonicPosition(nn.Module):
    """Local-m (Luong sec. 3.2): p_t = t, held at the last real source word.

    forward(query (B, T, Hq), t (B, T), lengths (B,)) -> p (B, T)
    """

    def forward(self, query: Tensor, t: Tensor, lengths: Tensor) -> Tensor:
        return torch.minimum(t, lengths.unsqueeze(1) - 1).to(query.dtype)


class PredictivePosition(nn.Module):
    """Local-p (Luong eq. 9): p_t = S * sigmoid(v_p^T tanh(W_p h_t)), S = the real source length.

    forward(query (B, T, Hq), t (B, T) unused, lengths (B,)) -> p (B, T), in [0, S]
    """

    def __init__(self, query_size: int) -> None:
        super().__init__()
        self.w_p = nn.Linear(query_size, query_size, bias=False)
        self.v_p = nn.Linear(query_size, 1, bias=False)

    def forward(self, query: Tensor, t: Tensor, lengths: Tensor) -> Tensor:
        gate = torch.sigmoid(self.v_p(torch.tanh(self.w_p(query)))).squeeze(-1)  # (B, T)
        return lengths.unsqueeze(1).to(query.dtype) * gate


def local_window(p: Tensor, mask: Tensor, window: int) -> tuple[Tensor, Tensor]:
    """Real source positions s with |s - p_t| <= W, and the distances s - p_t.

    p (B, T), mask (B, S) -> in_window (B, T, S) bool, distance (B, T, S)
    """
    positions = torch.arange(mask.size(1), device=p.device, dtype=p.dtype)  # (S,)
    distance = positions - p.unsqueeze(-1)  # (B, T, S)
    return (distance.abs() <= window) & mask.unsqueeze(1), distance


class LocalAttention(nn.Module):
    """Local attention (Luong sec. 3.2, eqs. 9-10) around an aligned position p_t.

        alpha_t(s) = softmax over real s with |s - p_t| <= W of
                     score(h_t, h_s)  [ - (s - p_t)^2 / (2 sigma^2),  sigma = W / 2, if gaussian ]
        c_t        = sum_s alpha_t(s) h_s

    `position` gives p_t: MonotonicPosition (local-m) or PredictivePosition (local-p).
    forward(query (B, T, Hq), keys (B, S, K), values (B, S, Hv), mask (B, S), t (B, T))
        -> context (B, T, Hv), weights (B, T, S), exactly 0 outside the window
    """

    def __init__(
        self,
        score: Score,
        position: MonotonicPosition | PredictivePosition,
        window: int,
        gaussian: bool,
    ) -> None:
        super().__init__()
        self.score, self.position = score, position
        self.window, self.gaussian = window, gaussian

    def project_keys(self, values: Tensor) -> Tensor:
        return self.score.project_keys(values)

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor, t: Tensor
    ) -> tuple[Tensor, Tensor]:
        p = self.position(query, t, mask.sum(dim=1))  # (B, T)
        in_window, distance = local_window(p, mask, self.window)  # (B, T, S) each
        e = self.score(query, keys)  # (B, T, S)
        if self.gaussian:
            sigma = self.window / 2
            e = e - distance.square() / (2 * sigma**2)
        alpha = masked_softmax(e, in_window)  # (B, T, S)
        return context(alpha, values), alpha


Attention = GlobalAttention | LocalAttention


# --- Scaled dot-product multi-head attention (Vaswani et al. 2017) --------------------------------
# Vaswani et al. (2017), "Attention Is All You Need", sec. 3.2. Shapes: heads attention heads,
# D = H / heads the head size (d_k = d_v). Masks are boolean, True where a key may be attended.
# Left out: attention dropout (the Transformer applies dropout to sub-layer outputs only).


def causal_mask(t_query: int, t_key: int, device: torch.device) -> Tensor:
    """Bool (T, S) mask: the T queries are the last T of the S positions; query i sees keys
    0 .. S - T + i (itself and its past). (T, S)"""
    return torch.ones(t_query, t_key, dtype=torch.bool, device=device).tril(t_key - t_query)


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V   (Vaswani et al. 2017, eq. 1),

    M = 0 where `mask` is True and -inf elsewhere, so alpha is exactly 0 on masked keys; every
    query row must see at least one key.
    q (..., T, D), k and v (..., S, D), mask broadcastable to (..., T, S) or None
    -> context (..., T, D), weights alpha (..., T, S)
    """
    scores = q @ k.transpose(-2, -1) * q.size(-1) ** -0.5  # (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    alpha = torch.softmax(scores, dim=-1)  # (..., T, S)
    return alpha @ v, alpha


class MultiHeadAttention(nn.Module):
    """Multi-head attention (Vaswani et al. 2017, sec. 3.2.2).

        head_i    = Attention(Q W_i^Q, K W_i^K, V W_i^V)
        MultiHead = Concat(head_1 .. head_h) W^O

    `causal` (decoder self-attention): the T queries are the last T of the S key positions and
    each attends only to itself and earlier keys. W^K and W^V are stored as one Linear
    (`kv_proj`, W^K above W^V). `project_kv` gives the keys and values of the heads once, so
    that they can be kept (the cross-attention memory, the decoder's key/value cache), and
    `attend` uses them.

    forward(query (B, T, H), keys (B, S, H), values (B, S, H), mask (B, 1 | T, S) | None,
            need_weights) -> context (B, T, H), weights (B, heads, T, S) | None
    """

    def __init__(self, size: int, heads: int, causal: bool) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.q_proj = nn.Linear(size, size)
        self.kv_proj = nn.Linear(size, 2 * size)
        self.out_proj = nn.Linear(size, size)
        for layer in (self.q_proj, self.kv_proj, self.out_proj):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, H) -> (B, heads, T, D)"""
        batch, length, size = x.shape
        return x.view(batch, length, self.heads, size // self.heads).transpose(1, 2)

    def project_kv(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """K W^K and V W^V, split into heads.  keys, values (B, S, H) -> k, v (B, heads, S, D)"""
        w_k, w_v = self.kv_proj.weight.chunk(2, dim=0)  # (H, H) each
        b_k, b_v = self.kv_proj.bias.chunk(2, dim=0)  # (H,) each
        k, v = F.linear(keys, w_k, b_k), F.linear(values, w_v, b_v)  # (B, S, H) each
        return self.split_heads(k), self.split_heads(v)

    def attend(
        self, query: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Attention of `query` (B, T, H) over k, v (B, heads, S, D) from `project_kv`.

        -> context (B, T, H), weights (B, heads, T, S) | None
        """
        q = self.split_heads(self.q_proj(query))  # (B, heads, T, D)
        if mask is not None:
            mask = mask.unsqueeze(1)  # (B, 1, 1 | T, S), the same for every head
        if self.causal:
            past = causal_mask(q.size(2), k.size(2), q.device)  # (T, S)
            mask = past if mask is None else mask & past
        context, alpha = scaled_dot_product_attention(q, k, v, mask)  # (B, heads, T, D)
        batch, _, length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, length, -1)  # (B, T, H)
        return self.out_proj(context), alpha if need_weights else None

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
