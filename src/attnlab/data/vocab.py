"""Vocabulary: the four specials, then tokens by frequency (min frequency, max size).

Saved and loaded with a run as a plain list of strings (index = id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from attnlab.errors import UserError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class Vocab:
    """Token strings to ids and back. `itos[i]` is the token of id i; the specials are ids 0-3.

    Build order: the specials, then every other token seen at least `min_freq` times, most frequent
    first, ties broken by the token string (so the same data always gives the same ids), cut to at
    most `max_size` tokens besides the specials. Tokens spelt like a special are not added twice.
    """

    def __init__(self, itos: list[str]) -> None:
        """Wrap a complete id-to-token list; use `build` or `from_list` to make one."""
        self.itos = itos
        self.stoi = {token: i for i, token in enumerate(itos)}

    @classmethod
    def build(
        cls, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Count the tokens of `token_lists`; keep the frequent ones (see the class docstring)."""
        if min_freq < 1:
            raise UserError("data.min_freq", f"must be >= 1 (got {min_freq})")
        if max_size is not None and max_size < 1:
            raise UserError("data.max_vocab", f"must be > 0 (got {max_size})")
        counts = Counter(token for tokens in token_lists for token in tokens)
        for special in SPECIALS:
            counts.pop(special, None)
        ranked = sorted(
            (token for token, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t)
        )
        return cls([*SPECIALS, *ranked[:max_size]])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        """Ids of `tokens`; a token outside the vocabulary is UNK_ID. No BOS/EOS is added."""
        return [self.stoi.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids` up to the first EOS (excluded); PAD and BOS are dropped, UNK stays."""
        tokens = []
        for i in ids:
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                tokens.append(self.itos[i])
        return tokens

    def to_list(self) -> list[str]:
        """The id-to-token list (a copy), as saved in checkpoints."""
        return list(self.itos)

    @classmethod
    def from_list(cls, itos: list[str]) -> Vocab:
        """A vocabulary from `to_list()`; checks the specials and that no token repeats."""
        if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
            raise UserError("vocabulary", "must be a list of token strings")
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise UserError(
                "vocabulary",
                f"must start with the specials {list(SPECIALS)} (got {itos[: len(SPECIALS)]})",
            )
        repeated = sorted(t for t, n in Counter(itos).items() if n > 1)
        if repeated:
            raise UserError("vocabulary", f"tokens listed more than once: {repeated[:5]}")
        return cls(list(itos))
