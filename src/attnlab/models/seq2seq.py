"""Recurrent encoder-decoders; the switch `context` picks how the decoder sees the source.

Papers:
  Sutskever, Vinyals & Le (2014): fixed context, the encoder's final state starts the decoder.
  Cho et al. (2014), "Learning Phrase Representations using RNN Encoder-Decoder", eqs. 5-8: the
  fixed context c also enters every decoder step and the output layer (`feed_context`).
  Bahdanau, Cho & Bengio (2015), App. A.2: s_i = RNN([y_{i-1}; c_i], s_{i-1}) with c_i attending
  from s_{i-1}.
  Luong, Pham & Manning (2015), sec. 3: h_t = RNN(x_t, h_{t-1}), c_t attending from h_t,
  h~_t = tanh(W_c [c_t; h_t]), p(y_t) = softmax(W_s h~_t), input feeding (sec. 3.3).

Every decoder starts from s_0 = tanh(W_s c) (Bahdanau eq. A.2.1's bridge), c the concatenated
final encoder states; an LSTM decoder's memory cell from the encoder's, m_0 = W_m c_T (`Bridge`).
Multi-layer decoders attend from, and feed the output layer with, their top layer.

Model interface (attnlab.models.interface): forward(batch), encode(src, src_mask) -> Memory,
step(memory, state | None, y_prev) -> logits, State, attention. `Memory` and `State` are values
with the batch on dimension 0 of every tensor (RNN states stored (B, L, H), transposed to torch's
(L, B, H) only when an RNN is called).

Decoders take forward(memory, state, y (B, T), y_mask (B, T) | None): y_mask marks the real
target positions (None: all are). Outputs at the others are unspecified (models/fast skips
them). forward is `features` (the output layer's input at every position, F wide) followed by
the output layer; models/fast/readout.py runs that layer on the real positions only.

The fixed decoder runs one RNN call over all T steps (with `feed_context` too, since c does not
change), and so does Luong without input feeding (attention then runs on all T at once).
Bahdanau and Luong with input feeding loop over steps; keys (U_a h_j), embeddings and the output
layer are computed outside the loop. models/fast/bahdanau_gru.py holds the Bahdanau loop of a
one-layer GRU with its backward pass written out.

Letters beyond DESIGN's: E embedding size, L decoder layers, He encoder state size (D*H),
F the output layer's input size.
Left out: Bahdanau's maxout deep output (a linear layer over [s_i; c_i; y_{i-1}] instead), beam
search (attnlab.search), scheduled sampling.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.data.batching import Batch
from attnlab.models.attention import Attention
from attnlab.models.dropout import WordDropout
from attnlab.models.interface import repeat_rows
from attnlab.models.rnn import RNNEncoder


class Memory(NamedTuple):
    """What the decoder reads of the source, computed once per sentence by `encode`.

    values (B, S, He) encoder states h_j (original order); keys (B, S, K) the attention's
    projection of them, or None without attention; mask (B, S); final (B, He) the context c;
    final_cell (B, He) the LSTM encoder's last memory cell, None for other cells.
    """

    values: Tensor
    keys: Tensor | None
    mask: Tensor
    final: Tensor
    final_cell: Tensor | None = None


class State(NamedTuple):
    """Decoder state between steps.

    h (B, L, H) hidden states of every layer; cell (B, L, H) the LSTM memory cell, else None;
    feed (B, H) Luong's h~_{t-1} for input feeding, else None; t (B,) next target position.
    """

    h: Tensor
    cell: Tensor | None
    feed: Tensor | None
    t: Tensor


def run_rnn(
    rnn: nn.RNNBase, x: Tensor, h: Tensor, cell: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Run a batch-first torch RNN from a (B, L, H) state.

    x (B, T, I), h (B, L, H), cell (B, L, H) | None -> outputs (B, T, H), h, cell
    """
    h0 = h.transpose(0, 1).contiguous()  # (L, B, H)
    if cell is None:
        out, h_n = rnn(x, h0)
        return out, h_n.transpose(0, 1), None  # (B, L, H)
    out, (h_n, c_n) = rnn(x, (h0, cell.transpose(0, 1).contiguous()))
    return out, h_n.transpose(0, 1), c_n.transpose(0, 1)  # (B, L, H) each


class Bridge(nn.Module):
    """The decoder's first state from the encoder's last, for each of the L decoder layers:

        s_0 = tanh(W_s c)           c = h_T, the encoder's final state
        m_0 = W_m c_T               an LSTM decoder's memory cell, from the LSTM encoder's

    Sutskever et al. (2014) hand the encoder's whole LSTM state (h_T, c_T) to the decoder; an
    LSTM decoder that started from a zero cell would have to rebuild from h_T alone what its
    encoder kept in c_T (a fixed-context LSTM without `feed_context` then barely learns: dev
    perplexity 22.5 against 2.6, BLEU 0.2 against 31.4, after 2,000 steps on the synthetic
    translation task of sources up to 20 words).

    forward(final (B, He), final_cell (B, He) | None)
        -> State(h (B, L, H), cell (B, L, H) | None, feed None, t 0)
    """

    def __init__(self, context_size: int, hidden_size: int, num_layers: int, lstm: bool) -> None:
        super().__init__()
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.w_s = nn.Linear(context_size, num_layers * hidden_size)
        self.w_m = nn.Linear(context_size, num_layers * hidden_size) if lstm else None

    def forward(self, final: Tensor, final_cell: Tensor | None) -> State:
        batch = final.size(0)
        h = torch.tanh(self.w_s(final)).view(batch, self.num_layers, self.hidden_size)  # (B,L,H)
        cell = None
        if self.w_m is not None and final_cell is not None:  # encoder and decoder: both LSTMs
            cell = self.w_m(final_cell).view(batch, self.num_layers, self.hidden_size)  # (B,L,H)
        t = torch.zeros(batch, dtype=torch.long, device=final.device)
        return State(h, cell, None, t)


def target_positions(state: State, steps: int) -> Tensor:
    """t of each of the next `steps` target positions.  -> (B, T) long"""
    return state.t.unsqueeze(1) + torch.arange(steps, device=state.t.device)  # (B, T)


def attend_memory(
    attention: Attention, query: Tensor, memory: Memory, t: Tensor
) -> tuple[Tensor, Tensor]:
    """`attention` of query (R, T, Hq) at positions t (R, T) over a memory of B rows: R = B, or,
    at a decoding step (T = 1), R = B*K with K hypotheses a memory row (rows b*K .. b*K + K - 1),
    read as K queries of it (each query attends on its own, as the T of teacher forcing do).

    -> context (R, T, He), weights (R, T, S)
    """
    rows, batch = query.size(0), memory.values.size(0)
    if rows == batch:
        return attention(query, memory.keys, memory.values, memory.mask, t)
    per_row = rows // batch  # K
    c, alpha = attention(
        query.view(batch, per_row, query.size(2)),
        memory.keys,
        memory.values,
        memory.mask,
        t.view(batch, per_row),
    )  # (B, K, He), (B, K, S)
    return c.view(rows, 1, c.size(2)), alpha.view(rows, 1, alpha.size(2))


class FixedDecoder(nn.Module):
    """Fixed-context decoder (Sutskever et al. 2014; Cho et al. 2014 with `feed_context`).

        s_i = RNN(x_i, s_{i-1}),  s_0 = tanh(W_s c)
        x_i = [y_{i-1}; c] and p(y_i) = softmax(W_o [s_i; c; y_{i-1}])   with feed_context
        x_i = y_{i-1}      and p(y_i) = softmax(W_o s_i)                 without

    forward(memory, state, y (B, T), y_mask) -> logits (B, T, V), State, None
    """

    memory_per_sentence: ClassVar[bool] = False  # feed_context reads c a row

    def __init__(
        self,
        embedding: nn.Embedding,
        rnn: nn.RNNBase,
        bridge: Bridge,
        output: nn.Module,
        dropout: float,
        embedding_dropout: float,
        feed_context: bool,
    ) -> None:
        super().__init__()
        self.embedding, self.rnn, self.bridge, self.output = embedding, rnn, bridge, output
        self.dropout, self.embedding_dropout = nn.Dropout(dropout), nn.Dropout(embedding_dropout)
        self.feed_context = feed_context

    def project_keys(self, values: Tensor) -> None:
        """No attention, so no keys."""
        return None

    def start(self, memory: Memory) -> State:
        return self.bridge(memory.final, memory.final_cell)

    def features(self, memory: Memory, state: State, y: Tensor) -> tuple[Tensor, State]:
        """The output layer's input at every position: [s_i; c; y_{i-1}] with feed_context,
        else s_i.  y (B, T) -> features (B, T, F), State after the last position"""
        e = self.embedding_dropout(self.embedding(y))  # (B, T, E)
        if self.feed_context:
            c = memory.final.unsqueeze(1).expand(-1, y.size(1), -1)  # (B, T, He)
            x = torch.cat([e, c], dim=-1)  # (B, T, E + He)
            s, h, cell = run_rnn(self.rnn, x, state.h, state.cell)  # (B, T, H)
            features = torch.cat([s, c, e], dim=-1)  # (B, T, H + He + E)
        else:
            s, h, cell = run_rnn(self.rnn, e, state.h, state.cell)  # (B, T, H)
            features = s
        return features, State(h, cell, None, state.t + y.size(1))

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, None]:
        features, state = self.features(memory, state, y)  # (B, T, F)
        logits = self.output(self.dropout(features))  # (B, T, V)
        return logits, state, None


class BahdanauDecoder(nn.Module):
    """Attention decoder of Bahdanau et al. (2015), App. A.2, with a linear output layer.

        c_i, alpha_i = attention(s_{i-1}, h)
        s_i          = RNN([y_{i-1}; c_i], s_{i-1})
        p(y_i)       = softmax(W_o [s_i; c_i; y_{i-1}])

    forward(memory, state, y (B, T), y_mask) -> logits (B, T, V), State, weights (B, T, S)
    """

    memory_per_sentence: ClassVar[bool] = True  # the memory is read through `attend_memory` only

    def __init__(
        self,
        embedding: nn.Embedding,
        rnn: nn.RNNBase,
        bridge: Bridge,
        attention: Attention,
        output: nn.Module,
        dropout: float,
        embedding_dropout: float,
    ) -> None:
        super().__init__()
        self.embedding, self.rnn, self.bridge = embedding, rnn, bridge
        self.attention, self.output = attention, output
        self.dropout, self.embedding_dropout = nn.Dropout(dropout), nn.Dropout(embedding_dropout)

    def project_keys(self, values: Tensor) -> Tensor:
        return self.attention.project_keys(values)

    def start(self, memory: Memory) -> State:
        return self.bridge(memory.final, memory.final_cell)

    def features(self, memory: Memory, state: State, y: Tensor) -> tuple[Tensor, State, Tensor]:
        """The output layer's input [s_i; c_i; y_{i-1}] at every position.
        y (B, T) -> features (B, T, H + He + E), State after the last position, weights (B, T, S)"""
        e = self.embedding_dropout(self.embedding(y))  # (B, T, E)
        s, c, alpha, h, cell = self.step_by_step_loop(memory, state, e)
        features = torch.cat([s, c, e], dim=-1)  # (B, T, H + He + E)
        return features, State(h, cell, None, state.t + y.size(1)), alpha

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        features, state, alpha = self.features(memory, state, y)  # (B, T, F), (B, T, S)
        logits = self.output(self.dropout(features))  # (B, T, V)
        return logits, state, alpha

    def step_by_step_loop(
        self, memory: Memory, state: State, e: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """Any cell and depth through torch's RNN, one step at a time.

        -> states (B, T, H), contexts (B, T, He), weights (B, T, S), h (B, L, H), cell | None
        """
        t = target_positions(state, e.size(1))  # (B, T)
        h, cell = state.h, state.cell
        states, contexts, weights = [], [], []
        for i in range(e.size(1)):
            s_prev = h[:, -1:]  # (B, 1, H), top layer
            t_i = t[:, i : i + 1]  # (B, 1)
            c_i, alpha_i = attend_memory(self.attention, s_prev, memory, t_i)  # (B, 1, He|S)
            x_i = torch.cat([e[:, i : i + 1], c_i], dim=-1)  # (B, 1, E + He)
            s_i, h, cell = run_rnn(self.rnn, x_i, h, cell)  # (B, 1, H)
            states.append(s_i)
            contexts.append(c_i)
            weights.append(alpha_i)
        s, c = torch.cat(states, dim=1), torch.cat(contexts, dim=1)  # (B, T, H), (B, T, He)
        return s, c, torch.cat(weights, dim=1), h, cell


class LuongDecoder(nn.Module):
    """Attention decoder of Luong et al. (2015), sec. 3.

        h_t          = RNN(x_t, h_{t-1}),   x_t = [y_{t-1}; h~_{t-1}] (input feeding) or y_{t-1}
        c_t, alpha_t = attention(h_t, h)
        h~_t         = tanh(W_c [c_t; h_t])          (eq. 5)
        p(y_t)       = softmax(W_s h~_t)             (eq. 6)

    forward(memory, state, y (B, T), y_mask) -> logits (B, T, V), State, weights (B, T, S)
    """

    memory_per_sentence: ClassVar[bool] = True  # the memory is read through `attend_memory` only

    def __init__(
        self,
        embedding: nn.Embedding,
        rnn: nn.RNNBase,
        bridge: Bridge,
        attention: Attention,
        combine: nn.Linear,
        output: nn.Module,
        dropout: float,
        embedding_dropout: float,
        input_feeding: bool,
    ) -> None:
        super().__init__()
        self.embedding, self.rnn, self.bridge = embedding, rnn, bridge
        self.attention, self.combine, self.output = attention, combine, output
        self.dropout, self.embedding_dropout = nn.Dropout(dropout), nn.Dropout(embedding_dropout)
        self.input_feeding = input_feeding

    def project_keys(self, values: Tensor) -> Tensor:
        return self.attention.project_keys(values)

    def start(self, memory: Memory) -> State:
        state = self.bridge(memory.final, memory.final_cell)
        if self.input_feeding:
            h_tilde_0 = state.h.new_zeros(state.h.size(0), self.combine.out_features)  # (B, H)
            return state._replace(feed=h_tilde_0)
        return state

    def attend(self, memory: Memory, h_top: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """h~_t and alpha_t.  h_top (B, T, H), t (B, T) -> h~ (B, T, H), weights (B, T, S)"""
        c, alpha = attend_memory(self.attention, h_top, memory, t)  # (B, T, He), (B, T, S)
        h_tilde = torch.tanh(self.combine(torch.cat([c, h_top], dim=-1)))  # (B, T, H)
        return h_tilde, alpha

    def features(self, memory: Memory, state: State, y: Tensor) -> tuple[Tensor, State, Tensor]:
        """The output layer's input h~_t at every position.
        y (B, T) -> h~ (B, T, H), State after the last position, weights (B, T, S)"""
        e = self.embedding_dropout(self.embedding(y))  # (B, T, E)
        t = target_positions(state, y.size(1))  # (B, T)
        if not self.input_feeding:  # all T steps in one RNN call, attention on all at once
            h_top, h, cell = run_rnn(self.rnn, e, state.h, state.cell)  # (B, T, H)
            h_tilde, alpha = self.attend(memory, h_top, t)  # (B, T, H), (B, T, S)
            feed = None
        else:
            h, cell, feed = state.h, state.cell, state.feed
            tildes, weights = [], []
            for i in range(y.size(1)):
                x_i = torch.cat([e[:, i : i + 1], feed.unsqueeze(1)], dim=-1)  # (B, 1, E + H)
                h_i, h, cell = run_rnn(self.rnn, x_i, h, cell)  # (B, 1, H)
                h_tilde_i, alpha_i = self.attend(memory, h_i, t[:, i : i + 1])  # (B, 1, H|S)
                feed = h_tilde_i.squeeze(1)  # (B, H)
                tildes.append(h_tilde_i)
                weights.append(alpha_i)
            h_tilde, alpha = torch.cat(tildes, dim=1), torch.cat(weights, dim=1)  # (B, T, H|S)
        return h_tilde, State(h, cell, feed, state.t + y.size(1)), alpha

    def forward(
        self, memory: Memory, state: State, y: Tensor, y_mask: Tensor | None = None
    ) -> tuple[Tensor, State, Tensor]:
        h_tilde, state, alpha = self.features(memory, state, y)  # (B, T, H), (B, T, S)
        logits = self.output(self.dropout(h_tilde))  # (B, T, V)
        return logits, state, alpha


Decoder = FixedDecoder | BahdanauDecoder | LuongDecoder


class RNNSeq2Seq(nn.Module):
    """A recurrent encoder and one of the decoders above, behind the model interface.

    forward(batch) -> logits (B, T, V), attention (B, T, S) | None; in training mode with
        `word_dropout` p > 0, source and target input tokens are replaced by <unk> at rate p
    encode(src (B, S), src_mask (B, S)) -> Memory
    step(memory, state | None, y_prev (R,)) -> logits (R, V), State, attention (R, S) | None
        R = B, or B*K with the memory kept once for K hypotheses where the decoder allows it
        (`memory_per_sentence`: the attention decoders, through `attend_memory`)
    """

    def __init__(self, encoder: RNNEncoder, decoder: Decoder, word_dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.word_dropout = WordDropout(word_dropout)

    @property
    def memory_per_sentence(self) -> bool:
        """Whether `step` reads one memory row for K hypotheses (models/interface.py)."""
        return self.decoder.memory_per_sentence

    def encode(self, src: Tensor, src_mask: Tensor) -> Memory:
        states, final, final_cell = self.encoder(src, src_mask)  # (B, S, He), (B, He) x 2
        return Memory(states, self.decoder.project_keys(states), src_mask, final, final_cell)

    def forward(self, batch: Batch) -> tuple[Tensor, Tensor | None]:
        memory = self.encode(self.word_dropout(batch.src), batch.src_mask)
        start = self.decoder.start(memory)
        trg_in = self.word_dropout(batch.trg_in)
        logits, _, attention = self.decoder(memory, start, trg_in, batch.trg_mask)
        return logits, attention

    def step(
        self, memory: Memory, state: State | None, y_prev: Tensor
    ) -> tuple[Tensor, State, Tensor | None]:
        if state is None:
            state = self.decoder.start(memory)  # B rows
            rows = memory.values.size(0)
            if y_prev.size(0) != rows:  # K hypotheses a memory row: the state on B*K rows
                state = repeat_rows(state, rows, y_prev.size(0) // rows, y_prev.device)
        logits, state, attention = self.decoder(memory, state, y_prev.unsqueeze(1))
        return logits[:, 0], state, None if attention is None else attention[:, 0]
