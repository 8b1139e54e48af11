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

from attnlab.models.real_tokens import RealTokens

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


class _AdditiveScore(torch.autograd.Function):
    """e = v^T tanh(q + k) through tanh(x) = 2 sigmoid(2x) - 1, i.e.

        e = (2 v)^T sigmoid(2 q + 2 k) - sum(v),   de/dx = v (1 - tanh(x)^2) = 4 v s (1 - s)

    with s = sigmoid(2 q + 2 k) the one (B, T, S, A) tensor kept for backward. Equal to the
    tanh form up to rounding (about 1e-7 in float32). Why: on CPUs torch's tanh kernel is about
    7x slower than its sigmoid (3 against 0.4 ns a number, one AVX-512 thread), and the score
    runs over B*S*A numbers at every decoder step; folding the affine parts into the small
    tensors leaves 3 passes over (B, T, S, A) forward (add, sigmoid, matvec) instead of 6.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, query_proj: Tensor, keys: Tensor, v: Tensor
    ) -> Tensor:
        x2 = torch.add((query_proj * 2.0).unsqueeze(2), keys.unsqueeze(1), alpha=2.0)  # (B,T,S,A)
        s = x2.sigmoid_()  # (B, T, S, A)
        ctx.save_for_backward(s, v)
        return s @ (v * 2.0) - v.sum()  # (B, T, S)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        s, v = ctx.saved_tensors
        grad_x = torch.ops.aten.sigmoid_backward(grad.unsqueeze(-1) * (v * 4.0), s)  # (B,T,S,A)
        grad_v = (s.flatten(0, 2).t() @ grad.flatten()) * 2.0 - grad.sum()  # (A,)
        return grad_x.sum(2), grad_x.sum(1), grad_v  # (B, T, A), (B, S, A), (A,)


def additive_scores(query_proj: Tensor, keys: Tensor, v: Tensor) -> Tensor:
    """e_ij = v^T tanh(W s_i + U h_j), given W s_i and U h_j (Bahdanau eq. 6; Luong concat).

    Computed by `_AdditiveScore` (the same numbers, a faster route on CPUs).
    query_proj (B, T, A), keys (B, S, A), v (A,) -> scores (B, T, S)
    """
    return _AdditiveScore.apply(query_proj, keys, v)


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


def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None) -> Tensor:
    """Scaled dot-product weights (Vaswani et al. 2017, eq. 1), real keys only.

        alpha = softmax(Q K^T / sqrt(d_k) + M),   M_ij = 0 where mask_ij is True, else -inf

    so alpha_ij = 0 exactly where mask_ij is False; every row must see at least one key.
    q (..., T, D), k (..., S, D), mask broadcastable to (..., T, S) or None -> alpha (..., T, S)
    """
    scores = torch.matmul(q, k.transpose(-2, -1)).mul_(q.size(-1) ** -0.5)  # (..., T, S)
    if mask is not None:
        bias = torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device)
        scores = scores + bias.masked_fill_(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


def causal_mask(t_query: int, t_key: int, device: torch.device) -> Tensor:
    """Bool (T, S) mask: the T queries are the last T of the S positions; query i sees keys
    0 .. S - T + i (itself and its past). (T, S)"""
    return torch.ones(t_query, t_key, dtype=torch.bool, device=device).tril(t_key - t_query)


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, need_weights: bool
) -> tuple[Tensor, Tensor | None]:
    """softmax(Q K^T / sqrt(d_k)) V, optionally restricted to the past (`causal`).

    On CUDA without `need_weights` torch's fused kernel runs. Otherwise plain ops do,
    softmax(Q K^T / sqrt(d_k) + M) V with M = 0 where a key may be attended and -inf elsewhere
    (attention_weights), and the weights come at no extra cost: on a CPU torch's kernel (flash
    attention) is 1.4-2.3x slower than they are at this library's sizes (heads of 32, up to a
    few hundred positions), training and decoding (benchmarks/README.md). Every path gives the
    same context; every query row must see at least one key (sources are never empty).
    q (B, heads, T, D), k and v (B, heads, S, D), mask broadcastable to (B, heads, T, S) or None
    -> context (B, heads, T, D), weights (B, heads, T, S) | None
    """
    t_query, t_key = q.size(-2), k.size(-2)
    fused = not need_weights and q.device.type != "cpu"
    causal = causal and t_query > 1  # a single query placed last sees every key
    if causal and (not fused or mask is not None or t_query != t_key):
        past = causal_mask(t_query, t_key, q.device)  # (T, S)
        mask = past if mask is None else mask & past
        causal = False
    if fused:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal), None
    alpha = attention_weights(q, k, mask)  # (B, heads, T, S)
    return context(alpha, v), alpha if need_weights else None  # c_i = sum_j alpha_ij v_j


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (Vaswani et al. 2017, sec. 3.2.2).

        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   MultiHead = Concat(head_1..head_h) W^O

    `causal` (decoder self-attention): the T queries are the last T of the S key positions and
    each attends only to itself and earlier keys. Keys and values can be projected once with
    `project_kv` and reused (the cross-attention memory and the decoder's key/value cache).

    Inputs come padded (B, T, H), or as the real tokens only (N, H) with their `RealTokens`
    (`tokens`), which the projections then run on: only the attention itself sees padding.

    forward(query (B, T, H), keys (B, S, H), values (B, S, H), mask (B, 1, S) | (B, T, S) | None,
            need_weights, tokens) -> context (B, T, H), weights (B, heads, T, S) | None
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

    def unpack_heads(self, x: Tensor, tokens: RealTokens) -> Tensor:
        """(N, H) real tokens -> (B, heads, L, D), zeros at the padding"""
        return tokens.unpack_heads(x.view(x.size(0), self.heads, -1))

    def project_kv(
        self, keys: Tensor, values: Tensor, tokens: RealTokens | None = None
    ) -> tuple[Tensor, Tensor]:
        """K W^K and V W^V split into heads.

        keys, values (B, S, H), or (N, H) with their `tokens` -> k, v (B, heads, S, D)
        """
        if keys is values:
            kv = self.kv_proj(keys)  # (B, S, 2H) | (N, 2H)
            if tokens is not None:  # k, v straight into (B, heads, S, D)
                k, v = tokens.unpack_heads(kv.view(kv.size(0), 2, self.heads, -1))
                return k, v  # (B, heads, S, D) each
            k, v = kv.chunk(2, dim=-1)  # (B, S, H) each
        else:
            w_k, w_v = self.kv_proj.weight.chunk(2, dim=0)  # (H, H) each
            b_k, b_v = self.kv_proj.bias.chunk(2, dim=0)  # (H,) each
            k, v = F.linear(keys, w_k, b_k), F.linear(values, w_v, b_v)  # (B, S, H) | (N, H)
            if tokens is not None:
                return self.unpack_heads(k, tokens), self.unpack_heads(v, tokens)
        return self.split_heads(k), self.split_heads(v)

    def attend(
        self,
        query: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None,
        need_weights: bool,
        tokens: RealTokens | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attention over keys/values already projected by `project_kv`.

        query (B, T, H), or (N, H) with its `tokens`; k and v (B, heads, S, D),
        mask (B, 1, S) | (B, T, S) | None
        -> context shaped like `query`, weights (B, heads, T, S) | None
        """
        q = self.q_proj(query)  # (B, T, H) | (N, H)
        q = self.split_heads(q) if tokens is None else self.unpack_heads(q, tokens)
        if mask is not None:
            mask = mask.unsqueeze(1)  # (B, 1, 1|T, S), broadcast over heads
        context, alpha = scaled_dot_product_attention(
            q, k, v, mask, causal=self.causal, need_weights=need_weights
        )  # (B, heads, T, D)
        if tokens is not None:
            return self.out_proj(tokens.pack_heads(context)), alpha  # (N, H)
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
        tokens: RealTokens | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        k, v = self.project_kv(keys, values, tokens)  # (B, heads, S, D) each
        return self.attend(query, k, v, mask, need_weights, tokens)
