"""Fast twins of the attention modules of models/attention.py, with the same interfaces.

`FastAdditiveScore` (Bahdanau's score, Luong concat) computes

    e = v^T tanh(q + k)   through   tanh(x) = 2 sigmoid(2x) - 1:
    e = (2 v)^T sigmoid(2 q + 2 k) - sum(v),   de/dx = v (1 - tanh(x)^2) = 4 v s (1 - s)

with s = sigmoid(2 q + 2 k) the one (B, T, S, A) tensor kept for backward, written out as an
autograd Function. Equal to the tanh form up to rounding (about 1e-7 in float32). Why: on CPUs
torch's tanh kernel is several times slower than its sigmoid, and the score runs over B*S*A
numbers at every decoder step; folding the affine parts into the small tensors leaves 3 passes
over (B, T, S, A) forward (add, sigmoid, matvec) instead of 6.

`FastMultiHeadAttention` projects keys and values with one matmul when they are one tensor
(self-attention, the cross-attention memory), runs torch's fused kernel on CUDA when no weights
are asked for (on a CPU plain ops are faster at this library's sizes, and give the weights for
free), and takes the real tokens of a padded batch, (N, H) with their `RealTokens`
(`project_kv_tokens`, `attend_tokens`; models/fast/transformer.py uses them). Its plain ops,
`biased_attention`, add the mask as a bias of the mask's own shape,

    softmax(Q K^T / sqrt(d_k) + M) V,   M = 0 where the mask is True, -inf elsewhere,

where the reference fills the (B, heads, T, S) scores, and scales the scores in place: the
same numbers, and neither pass copies or fills a tensor of that size (masked_fill copies the
scores and fills the copy, and its backward fills the gradient; the gradient of `+ M` is the
incoming one).

Letters: A attention size, heads attention heads, D = H / heads, R >= N packed rows
(models/fast/real_tokens.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from attnlab.models.attention import AdditiveScore, MultiHeadAttention, causal_mask
from attnlab.models.fast.real_tokens import RealTokens


class _AdditiveScore(torch.autograd.Function):
    """e = (2 v)^T sigmoid(2 q + 2 k) - sum(v) = v^T tanh(q + k), backward written out.

    apply(query_proj (B, T, A), keys (B, S, A), v (A,)) -> scores (B, T, S)
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


def fast_additive_scores(query_proj: Tensor, keys: Tensor, v: Tensor) -> Tensor:
    """`attention.additive_scores` through `_AdditiveScore`.

    query_proj (B, T, A), keys (B, S, A), v (A,) -> scores (B, T, S)
    """
    return _AdditiveScore.apply(query_proj, keys, v)


class FastAdditiveScore(AdditiveScore):
    """AdditiveScore with the score computed by `fast_additive_scores`."""

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        return fast_additive_scores(self.w_a(query), keys, self.v_a.weight[0])


def mask_bias(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """The bias M of a boolean mask: 0 where `mask` is True, -inf elsewhere.  Same shape."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(
        ~mask, float("-inf")
    )


def biased_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """`attention.scaled_dot_product_attention` with the mask added as a bias M of its own shape:

        softmax(Q K^T / sqrt(d_k) + M) V,   M = 0 where `mask` is True, -inf elsewhere

    q (..., T, D), k and v (..., S, D), mask broadcastable to (..., T, S) or None
    -> context (..., T, D), weights alpha (..., T, S)
    """
    scores = torch.matmul(q, k.transpose(-2, -1)).mul_(q.size(-1) ** -0.5)  # (..., T, S)
    if mask is not None:
        scores = scores + mask_bias(mask, scores.dtype)  # (..., T, S)
    alpha = torch.softmax(scores, dim=-1)  # (..., T, S)
    return alpha @ v, alpha


def one_query_attention(
    q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V (Vaswani et al. 2017, eq. 1) for
    one query a row (a decoding step), the heads folded into the batch of three-dimensional
    matmuls, M added inside the scores' matmul. On every device: torch's fused kernel gains
    little with one query (not measured on a GPU).

    The R = B*K query rows may be K to each of the B memory rows (beam search's hypotheses of
    one sentence, rows b*K .. b*K + K - 1): the K queries of a memory row then read its keys
    and values in one matmul, where K copies of them would each be read once.

    q (R, H), k and v (B, heads, S, D) (views into longer cache buffers allowed), bias M
    (B, heads, 1, S) | None -> context (R, H), weights alpha (R, heads, 1, S)
    """
    batch, heads, length, size = k.shape
    per_row = q.size(0) // batch  # K
    q = q.view(batch, per_row, heads, size).transpose(1, 2).reshape(batch * heads, per_row, size)
    keys, values = k.flatten(0, 1), v.flatten(0, 1)  # (B*heads, S, D), views
    scale = size**-0.5
    if bias is None:
        scores = torch.bmm(q, keys.transpose(1, 2)).mul_(scale)  # (B*heads, K, S)
    else:
        bias = bias.view(batch * heads, 1, length)
        scores = torch.baddbmm(bias, q, keys.transpose(1, 2), alpha=scale)  # (B*heads, K, S)
    alpha = torch.softmax(scores, dim=-1)  # (B*heads, K, S)
    context = torch.bmm(alpha, values).view(batch, heads, per_row, size)  # (B, heads, K, D)
    rows = batch * per_row
    context = context.transpose(1, 2).reshape(rows, heads * size)  # (R, H)
    alpha = alpha.view(batch, heads, per_row, length).transpose(1, 2)  # (B, K, heads, S)
    return context, alpha.reshape(rows, heads, 1, length)


def heads_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool, need_weights: bool
) -> tuple[Tensor, Tensor | None]:
    """`attention.scaled_dot_product_attention`, restricted to the past when `causal`:
    `biased_attention`, or torch's fused kernel on CUDA when the weights are not needed.

    q (B, heads, T, D), k and v (B, heads, S, D), mask broadcastable to (B, heads, T, S) | None
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
    context, alpha = biased_attention(q, k, v, mask)
    return context, alpha if need_weights else None


class FastMultiHeadAttention(MultiHeadAttention):
    """MultiHeadAttention with one matmul for K and V of one tensor, torch's fused kernel on
    CUDA, and a path for the real tokens of a padded batch (`project_kv_tokens`,
    `attend_tokens`). The same parameters."""

    def project_kv(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        if keys is not values:
            return super().project_kv(keys, values)
        k, v = self.kv_proj(keys).chunk(2, dim=-1)  # (B, S, H) each
        return self.split_heads(k), self.split_heads(v)

    def attend(
        self, query: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, Tensor | None]:
        q = self.split_heads(self.q_proj(query))  # (B, heads, T, D)
        if mask is not None:
            mask = mask.unsqueeze(1)  # (B, 1, 1 | T, S)
        context, alpha = heads_attention(q, k, v, mask, self.causal, need_weights)
        batch, _, length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, length, -1)  # (B, T, H)
        return self.out_proj(context), alpha

    def attend_one(
        self, query: Tensor, k: Tensor, v: Tensor, bias: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """`attend` for one query a row, the mask given as its bias M (`one_query_attention`).

        query (R, H), R = B*K, k and v (B, heads, S, D), bias (B, heads, 1, S) | None
        -> output (R, H), weights (R, heads, 1, S)
        """
        context, alpha = one_query_attention(self.q_proj(query), k, v, bias)
        return self.out_proj(context), alpha

    def kv_rows(self, x: Tensor) -> Tensor:
        """The keys and values of rows x (N, H), split into heads: (N, 2, heads, D)."""
        return self.kv_proj(x).view(x.size(0), 2, self.heads, -1)

    def project_kv_tokens(self, x: Tensor, tokens: RealTokens) -> tuple[Tensor, Tensor]:
        """`project_kv(x, x)` for the real tokens x (R, H) of a (B, S) batch.

        -> k, v (B, heads, S, D), zeros at the padding
        """
        k, v = tokens.unpack_heads(self.kv_rows(x))  # (B, heads, S, D) each
        return k, v

    def attend_tokens(
        self,
        query: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None,
        need_weights: bool,
        tokens: RealTokens,
    ) -> tuple[Tensor, Tensor | None]:
        """`attend` for the real tokens query (R, H) of a (B, T) batch.

        -> context (R, H), weights (B, heads, T, S) | None
        """
        q = self.q_proj(query)  # (R, H)
        q = tokens.unpack_heads(q.view(q.size(0), self.heads, -1))  # (B, heads, T, D)
        if mask is not None:
            mask = mask.unsqueeze(1)  # (B, 1, 1 | T, S)
        context, alpha = heads_attention(q, k, v, mask, self.causal, need_weights)
        return self.out_proj(tokens.pack_heads(context)), alpha  # (R, H)
