"""The output projection logits = x W_out^T + b at decoding time, through oneDNN on CPUs.

A decoding step multiplies a few rows (the hypotheses still searching) by the whole output
weight (V of thousands). There PyTorch's default CPU matmul (MKL) runs far below what the
memory allows on the CPUs we measured, and oneDNN's runs 2-4x faster (benchmarks/README.md,
"Realistic sizes"); for the square layers inside the model the two are alike, so only the output
layer takes this path. torch exposes oneDNN's linear as `torch.ops.mkldnn._linear_pointwise`
(the op torch.compile's CPU backend emits); it has no backward, so it runs only where autograd
is off (decoding under torch.inference_mode / no_grad), and everywhere else the layer's own
forward does. `decoder_logits` does the same for the recurrent decoders' output layer, which may
be the tied readout tanh(W_t x) before the linear (models/build.py, `_output_layer`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


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
