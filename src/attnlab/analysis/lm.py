"""A small LSTM language model over one token stream, and how far back it really reads.

Papers: Zaremba, Sutskever & Vinyals (2014), "Recurrent Neural Network Regularization" (the
LSTM language model, truncated backpropagation through time over a stream cut into B parallel
rows, the state carried from one chunk to the next); Khandelwal, He, Qi & Jurafsky (2018),
"Sharp Nearby, Fuzzy Far Away: How Neural Language Models Use Context", sec. 3-4: evaluate each
target word w_t with a window of L context words, perturb the words farther than k tokens back,
and read the increase in loss against k.

    p(w_t | w_<t) = softmax(W_o h_t + b_o),   h_t, c_t = LSTM(E w_{t-1}, (h_{t-1}, c_{t-1}))

Perturbations of the window w_{t-L} .. w_{t-1} (the nearest k words are kept intact):
  shuffle  the L - k farther words are permuted at random (order lost, words kept)
  drop     the L - k farther words are removed (the model starts reading at w_{t-k})

Letters: B batch, T time steps, L window length, N evaluated positions, H hidden, V vocabulary.
Left out: the replace and permute-nearby perturbations of Khandelwal et al., dropout variants
(variational, weight-drop), tied input/output embeddings, cache models.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.models.fast.dropout import Dropout
from attnlab.train import descend

LSTMState = tuple[Tensor, Tensor]  # h, c, each (layers, B, H): torch's layout for nn.LSTM


class LSTMLanguageModel(nn.Module):
    """Embedding, a multi-layer LSTM, dropout, the output layer W_o (equation in the docstring).

    states(ids (B, T), state | None) -> h (B, T, H) top layer, state
    forward(ids (B, T), state | None) -> logits (B, T, V), state
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.lstm = nn.LSTM(
            embedding_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)

    def states(self, ids: Tensor, state: LSTMState | None) -> tuple[Tensor, LSTMState]:
        h, state = self.lstm(self.dropout(self.embedding(ids)), state)  # (B, T, H)
        return self.dropout(h), state

    def forward(self, ids: Tensor, state: LSTMState | None) -> tuple[Tensor, LSTMState]:
        h, state = self.states(ids, state)
        return self.output(h), state  # (B, T, V)


# --- training on a stream -----------------------------------------------------------------------


def batchify(stream: Tensor, batch_size: int) -> Tensor:
    """Cut a stream (N,) into B rows read in parallel; the tail that does not fill a row is dropped.

    -> (B, N // B), row b = stream[b * N // B : (b + 1) * N // B]
    """
    width = stream.numel() // batch_size
    return stream[: batch_size * width].view(batch_size, width)  # (B, N // B)


def train_language_model(
    model: LSTMLanguageModel,
    rows: Tensor,
    bptt: int,
    steps: int,
    lr: float,
    advance: Callable[[int], object],
) -> list[float]:
    """Truncated BPTT: chunks of `bptt` steps along `rows` (B, W), the state carried (detached)
    from one chunk to the next and reset when the rows are read to the end. Adam, clip 0.25
    (Zaremba et al. clip at 5 with SGD; Adam wants less). Returns the loss (nats/token) per step.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses: list[float] = []
    state: LSTMState | None = None
    start = 0
    while len(losses) < steps:
        if start + bptt + 1 > rows.size(1):
            start, state = 0, None  # a new pass over the stream
        inputs = rows[:, start : start + bptt]  # (B, T)
        targets = rows[:, start + 1 : start + bptt + 1]  # (B, T)
        logits, state = model(inputs, state)
        state = (state[0].detach(), state[1].detach())
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        descend(model, optimizer, loss, clip_norm=0.25)
        losses.append(float(loss.detach()))
        advance(1)
        start += bptt
    return losses


# --- context perturbations (Khandelwal et al. 2018) ---------------------------------------------


def context_windows(stream: Tensor, positions: Tensor, length: int) -> tuple[Tensor, Tensor]:
    """The L words before each target position, and the target words.

    stream (N_stream,), positions (N,) each >= L -> contexts (N, L) = stream[t-L : t], targets (N,)
    """
    offsets = torch.arange(-length, 0, device=stream.device)  # (L,)
    return stream[positions.unsqueeze(1) + offsets], stream[positions]  # (N, L), (N,)


def shuffle_far(contexts: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Permute, independently in each row, the words farther than k back; keep the nearest k.

    contexts (N, L) -> (N, L), contexts[:, L-k:] unchanged
    """
    far = contexts.size(1) - k
    if far <= 1:
        return contexts
    keys = torch.rand(contexts.size(0), far, generator=generator).to(contexts.device)  # (N, L-k)
    shuffled = contexts[:, :far].gather(1, keys.argsort(dim=1))  # (N, L-k)
    return torch.cat([shuffled, contexts[:, far:]], dim=1)  # (N, L)


def drop_far(contexts: Tensor, k: int) -> Tensor:
    """Keep only the nearest k words.  contexts (N, L) -> (N, min(k, L))"""
    return contexts[:, max(0, contexts.size(1) - k) :]


@torch.no_grad()
def next_word_loss(
    model: LSTMLanguageModel, contexts: Tensor, targets: Tensor, batch_size: int
) -> float:
    """Mean -log p(target | context) over the N rows, each read from a zero state (eval mode).

    contexts (N, L), targets (N,) -> nats per word
    """
    was_training = model.training
    model.eval()
    total = 0.0
    for start in range(0, contexts.size(0), batch_size):
        h, _ = model.states(contexts[start : start + batch_size], None)  # (B, L, H)
        logits = model.output(h[:, -1])  # (B, V), only the last position is scored
        total += float(
            F.cross_entropy(logits, targets[start : start + batch_size], reduction="sum")
        )
    model.train(was_training)
    return total / contexts.size(0)
