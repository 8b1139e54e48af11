"""The output projection logits = x W_out^T + b: at decoding time through oneDNN on CPUs, and
in training with its rows aligned (`AlignedOutputLinear`).

A decoding step multiplies a few rows (the hypotheses still searching) by the whole output
weight (V of thousands). There PyTorch's default CPU matmul (MKL) runs far below what the
memory allows on the CPUs we measured, and oneDNN's runs 2-4x faster (benchmarks/README.md,
"Realistic sizes"); for the square layers inside the model the two are alike, so only the output
layer takes this path. torch exposes oneDNN's linear as `torch.ops.mkldnn._linear_pointwise`
(the op torch.compile's CPU backend emits); it has no backward, so it runs only where autograd
is off (decoding under torch.inference_mode / no_grad), and everywhere else the layer's own
forward does. `decoder_logits` does the same for the recurrent decoders' output layer, which may
be the tied readout tanh(W_t x) before the linear (models/build.py, `_output_layer`).

In training, a vocabulary V that is not a multiple of 8 (SentencePiece's 2,000 pieces and
<pad> make 2,001) makes PyTorch's CPU matmul write each row of x W^T at an unaligned offset, and
the forward product takes 1.2-1.6x its time at V = 2,008 (benchmarks/README.md, "The output
layer's rows"). `AlignedOutputLinear` writes the same product into rows of V rounded up to a
multiple of ALIGNMENT floats and returns the first V columns: a (..., V) view with row stride
V'; its backward is nn.Linear's (dx = g W, dW = g^T x, db = sum of g).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

ALIGNMENT = 8  # floats: the row stride of the logits in training is a multiple of this


def _onednn_applies(x: Tensor, layer: nn.Linear) -> bool:
    return (
        not torch.is_grad_enabled()
        and torch.backends.mkldnn.is_available()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and layer.weight.dtype == torch.float32
    )


def output_logits(x: Tensor, layer: nn.Linear) -> Tensor:
    """layer(x) = x W^T + b: through oneDNN when autograd is off on a CPU in float32.

    x (..., H) -> (..., V)
    """
    if not _onednn_applies(x, layer):
        return layer(x)
    return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "none", [], "")


def decoder_logits(x: Tensor, output: nn.Module) -> Tensor:
    """output(x) for a recurrent decoder's output layer: an nn.Linear, or an nn.Sequential
    ending in one (the tied readout); that linear through `output_logits`.

    x (..., F) -> (..., V)
    """
    if isinstance(output, nn.Linear):
        return output_logits(x, output)
    if isinstance(output, nn.Sequential) and _onednn_applies(x, output[-1]):
        *readout, linear = output
        for layer in readout:
            x = layer(x)
        return output_logits(x, linear)
    return output(x)  # as it is, hooks included, where oneDNN does not apply


class AlignedLinear(torch.autograd.Function):
    """x W^T + b, written into rows of V' = V rounded up to a multiple of ALIGNMENT (module
    docstring).

    apply(x (..., F), weight (V, F), bias (V,) | None) -> (..., V), row stride V'
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None
    ) -> Tensor:
        rows, vocab = x.reshape(-1, x.size(-1)), weight.size(0)  # (N, F)
        aligned = -(-vocab // ALIGNMENT) * ALIGNMENT
        out = rows.new_empty(rows.size(0), aligned)[:, :vocab]  # (N, V), row stride V'
        if bias is None:
            torch.mm(rows, weight.t(), out=out)
        else:
            torch.addmm(bias, rows, weight.t(), out=out)
        ctx.save_for_backward(rows, weight)
        ctx.x_shape = x.shape
        return out.view(*x.shape[:-1], vocab)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        rows, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.size(-1))  # (N, V)
        grad_bias = g.sum(0) if ctx.needs_input_grad[2] else None
        return (g @ weight).view(ctx.x_shape), g.t() @ rows, grad_bias


class AlignedOutputLinear(nn.Linear):
    """nn.Linear whose forward runs as `AlignedLinear` where that pays: autograd on, a CPU
    tensor in float32 outside autocast, and out_features not a multiple of ALIGNMENT. The same
    parameters, hooks and numbers."""

    def forward(self, x: Tensor) -> Tensor:
        if (
            self.out_features % ALIGNMENT == 0
            or not torch.is_grad_enabled()
            or x.device.type != "cpu"
            or x.dtype != torch.float32
            or torch.is_autocast_enabled("cpu")
        ):
            return super().forward(x)
        return AlignedLinear.apply(x, self.weight, self.bias)
