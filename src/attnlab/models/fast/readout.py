"""The recurrent decoders of models/seq2seq.py with their output layer on the real target
positions only.

The output layer p(y_i) = softmax(W_o x_i + b) (with tied embeddings, a readout
t_i = tanh(W_t x_i) before it) acts on each position alone, and with a vocabulary of thousands
it is the largest matmul of a step: 2 F V multiply-adds a position forward, twice that backward.
A batch of mixed target lengths is partly padding, so here the features x_i of the N real
positions are gathered into one (N, F) matrix first (models/fast/real_tokens.py), and the logits
scattered back, 0 at the padding (the model interface leaves them unspecified); with autograd
off (decoding) the layer runs through oneDNN (models/fast/linear.py). The recurrence,
attention and `features` are the reference's; a batch without padding, and `step`, skip the
gathering. FusedBahdanauDecoder (models/fast/bahdanau_gru.py) does the same inside its
packed loop.

The loss (attnlab.train.sequence_loss) still reads all B*T rows and ignores the padding:
gathering the real rows of the logits again, and scattering their gradient back, moves about
as many bytes as the log-softmax over the padding that it would skip, unless a batch is mostly
padding; length-bucketed batches (`training.batching: length`) are about 5% padding.
"""

from __future__ import annotations

from torch import Tensor, nn

from attnlab.models.fast.linear import decoder_logits
from attnlab.models.fast.real_tokens import RealTokens
from attnlab.models.seq2seq import BahdanauDecoder, FixedDecoder, LuongDecoder, Memory, State


def real_position_logits(
    output: nn.Module, dropout: nn.Module, features: Tensor, y_mask: Tensor | None
) -> Tensor:
    """output(dropout(x)) at the real positions of `y_mask`, 0 at the others.

    features (B, T, F), y_mask (B, T) | None (every position real) -> logits (B, T, V)
    """
    tokens = None if y_mask is None else RealTokens.of(y_mask)
    if tokens is None:
        return decoder_logits(dropout(features), output)  # (B, T, V)
    return tokens.unpack(decoder_logits(dropout(tokens.pack(features)), output))  # (B, T, V)


class RealTokenFixedDecoder(FixedDecoder):
    """FixedDecoder with its output layer on the real target positions only."""

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, None]:
        features, state = self.features(memory, state, y)  # (B, T, F)
        return real_position_logits(self.output, self.dropout, features, y_mask), state, None


class RealTokenBahdanauDecoder(BahdanauDecoder):
    """BahdanauDecoder (the step-by-step loop: any cell and depth) with its output layer on the
    real target positions only."""

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        features, state, alpha = self.features(memory, state, y)  # (B, T, F), (B, T, S)
        return real_position_logits(self.output, self.dropout, features, y_mask), state, alpha


class RealTokenLuongDecoder(LuongDecoder):
    """LuongDecoder with its output layer on the real target positions only."""

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        h_tilde, state, alpha = self.features(memory, state, y)  # (B, T, H), (B, T, S)
        return real_position_logits(self.output, self.dropout, h_tilde, y_mask), state, alpha
